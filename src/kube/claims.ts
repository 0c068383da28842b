// Whether a claim still holds a volume: the one rule the reclaimer (may the
// released data go?) and the NfsExport finalizer (may the volume object go?)
// share.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

/**
 * The claim (as read now; undefined when there is none) holds the volume: it
 * is the claim the volume's claimRef names, by namespace, name and uid when
 * the claimRef has one, and it is not bound to another volume. As upstream, a
 * claim bound elsewhere (its volumeName names another volume) released this
 * one. A claimRef without a uid (an administrator's pre-binding) is held by
 * any claim of that name: nothing may go while it may still bind.
 */
export function claimHoldsVolume(
  volume: V1PersistentVolume | undefined,
  claim: V1PersistentVolumeClaim | undefined,
): boolean {
  const ref = volume?.spec?.claimRef;
  if (!ref || !claim) return false;
  if (claim.metadata?.namespace !== ref.namespace || claim.metadata?.name !== ref.name) return false;
  if (ref.uid && claim.metadata?.uid !== ref.uid) return false;
  const boundTo = claim.spec?.volumeName;
  return !boundTo || boundTo === volume.metadata?.name;
}
