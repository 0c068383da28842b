// The binder's four writes (and the volume and claim writes beside them) as
// plain JSON requests (ApiClients.sendJson), with the generated client's
// names and parameters, so a caller swaps one for the other. These are most of
// the operator's requests in a binding storm.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import type { ApiClients } from '../runtime/api-clients.ts';

export interface CoreWrites {
  replacePersistentVolume(p: { name: string; body: V1PersistentVolume }): Promise<V1PersistentVolume>;
  replacePersistentVolumeStatus(p: { name: string; body: V1PersistentVolume }): Promise<V1PersistentVolume>;
  replaceNamespacedPersistentVolumeClaim(p: {
    name: string;
    namespace: string;
    body: V1PersistentVolumeClaim;
  }): Promise<V1PersistentVolumeClaim>;
  replaceNamespacedPersistentVolumeClaimStatus(p: {
    name: string;
    namespace: string;
    body: V1PersistentVolumeClaim;
  }): Promise<V1PersistentVolumeClaim>;
}

/** The API path of a volume, or of a claim when namespace is given; names are escaped. */
export function corePath(
  resource: 'persistentvolumes' | 'persistentvolumeclaims',
  name: string,
  namespace?: string,
): string {
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  return `/api/v1${ns}/${resource}/${encodeURIComponent(name)}`;
}

export function coreWrites(api: Pick<ApiClients, 'sendJson'>): CoreWrites {
  return {
    replacePersistentVolume: ({ name, body }) =>
      api.sendJson('PUT', corePath('persistentvolumes', name), body),
    replacePersistentVolumeStatus: ({ name, body }) =>
      api.sendJson('PUT', `${corePath('persistentvolumes', name)}/status`, body),
    replaceNamespacedPersistentVolumeClaim: ({ name, namespace, body }) =>
      api.sendJson('PUT', corePath('persistentvolumeclaims', name, namespace), body),
    replaceNamespacedPersistentVolumeClaimStatus: ({ name, namespace, body }) =>
      api.sendJson('PUT', `${corePath('persistentvolumeclaims', name, namespace)}/status`, body),
  };
}
