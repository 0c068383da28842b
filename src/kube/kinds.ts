// The core kinds the features cache, declared once so that every controller
// asking the manager for one shares the same informer. Each is listed in
// pages and cached without managedFields (see withoutManagedFields).
import {
  CoreV1Api,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1StorageClass,
} from '@kubernetes/client-node';

import type { Kind } from '../runtime/manager.ts';

/**
 * Drops metadata.managedFields, in place: server-side apply's bookkeeping,
 * which no controller here reads, and most of a small object's size (one
 * entry per field manager, each listing the fields it set). Writes stay
 * correct without it: an update (PUT) whose body has no managedFields leaves
 * the server's unchanged (test/integration/informer.test.ts shows it).
 */
export function withoutManagedFields<T extends { metadata?: { managedFields?: unknown } }>(obj: T): T {
  // Set to undefined rather than deleted: a delete would make V8 keep the
  // object in the slower, larger dictionary form.
  if (obj.metadata?.managedFields !== undefined) obj.metadata.managedFields = undefined;
  return obj;
}

export const persistentVolumes: Kind<V1PersistentVolume> = {
  name: 'persistentvolumes',
  path: '/api/v1/persistentvolumes',
  list: (api, page) => api.make(CoreV1Api).listPersistentVolume(page),
  model: 'V1PersistentVolume',
  transform: withoutManagedFields,
};

export const persistentVolumeClaims: Kind<V1PersistentVolumeClaim> = {
  name: 'persistentvolumeclaims',
  path: '/api/v1/persistentvolumeclaims',
  list: (api, page) => api.make(CoreV1Api).listPersistentVolumeClaimForAllNamespaces(page),
  model: 'V1PersistentVolumeClaim',
  transform: withoutManagedFields,
};

export const storageClasses: Kind<V1StorageClass> = {
  name: 'storageclasses',
  path: '/apis/storage.k8s.io/v1/storageclasses',
  list: (api, page) => api.make(StorageV1Api).listStorageClass(page),
  model: 'V1StorageClass',
  transform: withoutManagedFields,
  // A class change re-evaluates the claims that wait for one; nothing to resync.
  resync: false,
};
