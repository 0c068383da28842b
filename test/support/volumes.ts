import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

/** A hostPath volume and a claim that it satisfies by every binding rule. */
export function matchingPair(
  name: string,
  namespace = 'default',
): { volume: V1PersistentVolume; claim: V1PersistentVolumeClaim } {
  return {
    volume: {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `${name}-pv` },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: 'manual',
        hostPath: { path: `/tmp/${name}` },
      },
    },
    claim: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: `${name}-pvc`, namespace },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'manual',
        resources: { requests: { storage: '1Gi' } },
      },
    },
  };
}
