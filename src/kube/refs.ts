// How objects are named in keys, logs and messages, and refer to each other.
import type { V1ObjectReference, V1PersistentVolumeClaim } from '@kubernetes/client-node';

/** "namespace/name": a namespaced object's key in caches and queues, and its name in messages. */
export function namespacedName(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

/** A volume's claimRef to this claim (with its resourceVersion when asked, as the binder writes it). */
export function claimReference(
  claim: V1PersistentVolumeClaim,
  withResourceVersion = false,
): V1ObjectReference {
  return {
    kind: 'PersistentVolumeClaim',
    apiVersion: 'v1',
    namespace: claim.metadata?.namespace,
    name: claim.metadata?.name,
    uid: claim.metadata?.uid,
    ...(withResourceVersion ? { resourceVersion: claim.metadata?.resourceVersion } : {}),
  };
}
