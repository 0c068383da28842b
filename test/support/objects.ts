// Compact builders of PersistentVolumes and claims for pure-logic tests.
import type { V1LabelSelector, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

export interface VolumeSpec {
  /** null leaves spec.capacity out. */
  size?: string | null;
  modes?: string[];
  storageClass?: string;
  betaClass?: string;
  phase?: string;
  volumeMode?: string;
  attributesClass?: string;
  labels?: Record<string, string>;
  claimRef?: { namespace: string; name: string; uid?: string };
  deleting?: boolean;
  reclaimPolicy?: string;
  /** A CSI source instead of hostPath: a volume no Job can scrub. */
  csi?: boolean;
}

export function pv(name: string, s: VolumeSpec = {}): V1PersistentVolume {
  return {
    metadata: {
      name,
      labels: s.labels,
      annotations:
        s.betaClass === undefined ? undefined : { 'volume.beta.kubernetes.io/storage-class': s.betaClass },
      deletionTimestamp: s.deleting ? new Date() : undefined,
    },
    spec: {
      capacity: s.size === null ? undefined : { storage: s.size ?? '1Gi' },
      accessModes: s.modes ?? ['ReadWriteOnce'],
      storageClassName: s.storageClass,
      volumeMode: s.volumeMode,
      volumeAttributesClassName: s.attributesClass,
      claimRef: s.claimRef,
      persistentVolumeReclaimPolicy: s.reclaimPolicy,
      ...(s.csi
        ? { csi: { driver: 'example.csi.k8s.io', volumeHandle: name } }
        : { hostPath: { path: `/data/${name}` } }),
    },
    status: { phase: s.phase ?? 'Available' },
  };
}

export interface ClaimSpec {
  size?: string;
  modes?: string[];
  /** null leaves spec.storageClassName unset (nil class). */
  storageClass?: string | null;
  betaClass?: string;
  volumeMode?: string;
  attributesClass?: string;
  selector?: V1LabelSelector;
  uid?: string;
  namespace?: string;
  volumeName?: string;
}

export function pvc(name: string, s: ClaimSpec = {}): V1PersistentVolumeClaim {
  return {
    metadata: {
      name,
      namespace: s.namespace ?? 'ns',
      uid: s.uid ?? `uid-${name}`,
      annotations:
        s.betaClass === undefined ? undefined : { 'volume.beta.kubernetes.io/storage-class': s.betaClass },
    },
    spec: {
      accessModes: s.modes ?? ['ReadWriteOnce'],
      resources: { requests: { storage: s.size ?? '1Gi' } },
      storageClassName: s.storageClass === null ? undefined : (s.storageClass ?? ''),
      volumeMode: s.volumeMode,
      volumeAttributesClassName: s.attributesClass,
      selector: s.selector,
      volumeName: s.volumeName,
    },
  };
}
