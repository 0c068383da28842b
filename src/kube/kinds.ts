// The core kinds the features cache, declared once so that every controller
// asking the manager for one shares the same informer (listed in pages and
// cached without managedFields, as the manager caches every kind).
import {
  CoreV1Api,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1StorageClass,
} from '@kubernetes/client-node';

import type { Kind } from '../runtime/manager.ts';

export const persistentVolumes: Kind<V1PersistentVolume> = {
  name: 'persistentvolumes',
  path: '/api/v1/persistentvolumes',
  list: (api, page) => api.make(CoreV1Api).listPersistentVolume(page),
  model: 'V1PersistentVolume',
};

export const persistentVolumeClaims: Kind<V1PersistentVolumeClaim> = {
  name: 'persistentvolumeclaims',
  path: '/api/v1/persistentvolumeclaims',
  list: (api, page) => api.make(CoreV1Api).listPersistentVolumeClaimForAllNamespaces(page),
  model: 'V1PersistentVolumeClaim',
};

export const storageClasses: Kind<V1StorageClass> = {
  name: 'storageclasses',
  path: '/apis/storage.k8s.io/v1/storageclasses',
  list: (api, page) => api.make(StorageV1Api).listStorageClass(page),
  model: 'V1StorageClass',
  // A class change re-evaluates the claims that wait for one; nothing to resync.
  resync: false,
};
