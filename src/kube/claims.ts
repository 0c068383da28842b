// Whether a claim still holds a volume: the one rule the reclaimer (may the
// released data go?) and the NfsExport finalizer (may the volume object go?)
// share; and the live read of the claim a claimRef names.
import type {
  CoreV1Api,
  V1ObjectReference,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
} from '@kubernetes/client-node';

import { unlessNotFound } from './api-errors.ts';

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

/**
 * The claim a volume's claimRef names, as the API has it now: undefined when
 * it does not exist, or when the claimRef lacks a name or namespace (the API
 * server takes such a claimRef; it names no claim that can exist).
 */
export function readReferencedClaim(
  core: CoreV1Api,
  ref: V1ObjectReference | undefined,
): Promise<V1PersistentVolumeClaim | undefined> {
  if (!ref?.namespace || !ref.name) return Promise.resolve(undefined);
  return unlessNotFound(
    core.readNamespacedPersistentVolumeClaim({ name: ref.name, namespace: ref.namespace }),
  );
}
