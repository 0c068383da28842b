// Who may still use a Released volume's data: pods that name the released
// claim. A pure decision over live reads (the claim of that name now, the pods
// of its namespace); whether the claim itself still holds the volume is
// claimHoldsVolume's (kube/claims.ts). The reclaimer waits while either says
// someone may.
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';

import { namespacedName } from '../kube/refs.ts';

function finished(pod: V1Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

function namesClaim(pod: V1Pod, claimName: string): boolean {
  return (pod.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claimName);
}

function createdAt(obj: { metadata?: { creationTimestamp?: Date | string } }): number | undefined {
  const t = obj.metadata?.creationTimestamp;
  if (t === undefined) return undefined;
  const ms = new Date(t).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The pods (namespace/name) that may still have the released claim's volume
 * mounted, from the pods of the claim's namespace and the claim of that name
 * now (undefined: none exists).
 *
 * A pod names a claim, not a uid: the kubelet mounts whatever volume the claim
 * of that name is bound to when the pod starts. So once a different claim of
 * the name exists (another uid), a pod naming it uses that claim, not the
 * released one, and does not hold the reclaim back (upstream ignores such pods
 * too); otherwise a re-created claim, Pending until the released volume is
 * recycled, and its pods would wait on each other for good. Only a pod made
 * before the new claim and placed on a node may have mounted the released
 * volume (possible where nothing held the old claim's deletion back while the
 * pod ran): such a pod still counts, until it ends. Likewise the released claim
 * itself, bound to another volume, says its pods use that volume.
 */
export function podsThatMayUse(
  volume: V1PersistentVolume,
  pods: readonly V1Pod[],
  current: V1PersistentVolumeClaim | undefined,
): string[] {
  const ref = volume.spec?.claimRef;
  const namespace = ref?.namespace;
  const claimName = ref?.name;
  if (!namespace || !claimName) return [];
  let users = pods.filter(
    (p) => (p.metadata?.namespace ?? namespace) === namespace && !finished(p) && namesClaim(p, claimName),
  );
  if (current && current.metadata?.uid === ref.uid) {
    const boundTo = current.spec?.volumeName;
    if (boundTo && boundTo !== volume.metadata?.name) users = [];
  } else if (current) {
    const since = createdAt(current);
    users = users.filter((p) => {
      if (!p.spec?.nodeName) return false;
      const at = createdAt(p);
      // Not known to be newer than the claim: it may predate it.
      return at === undefined || since === undefined || at <= since;
    });
  }
  return users.map((p) => namespacedName(namespace, p.metadata?.name));
}
