// What the binder needs to know about StorageClasses: binding mode, the
// provisioner to wait for, and which class is the cluster default.
import type { V1StorageClass } from '@kubernetes/client-node';

import { annBetaDefaultClass, annDefaultClass } from '../kube/annotations.ts';

export interface ClassLookup {
  get(name: string): V1StorageClass | undefined;
  list(): V1StorageClass[];
}

/**
 * In-tree provisioner names whose volumes are now made by CSI drivers
 * (csi-translation-lib): upstream waits for the driver under its CSI name.
 */
const migratedToCsi = new Map<string, string>([
  ['kubernetes.io/aws-ebs', 'ebs.csi.aws.com'],
  ['kubernetes.io/gce-pd', 'pd.csi.storage.gke.io'],
  ['kubernetes.io/cinder', 'cinder.csi.openstack.org'],
  ['kubernetes.io/azure-disk', 'disk.csi.azure.com'],
  ['kubernetes.io/azure-file', 'file.csi.azure.com'],
  ['kubernetes.io/vsphere-volume', 'csi.vsphere.vmware.com'],
  ['kubernetes.io/portworx-volume', 'pxd.portworx.com'],
]);

export type Provisioning =
  /** Someone else makes the volume: annotate the claim with this name and wait. */
  | { external: string }
  /** Nobody will: upstream's ProvisioningFailed text, and the name it still annotates, if any. */
  | { failed: string; annotate?: string };

/**
 * What upstream's controller (kube-controller-manager 1.36, which keeps only
 * the hostPath and NFS plugins in-tree) does with a class's provisioner.
 * Names outside kubernetes.io/ are external. kubernetes.io/no-provisioner is
 * one of the unknown in-tree names: with Immediate binding it fails too.
 */
export function provisioningOf(provisioner: string): Provisioning {
  const csi = migratedToCsi.get(provisioner);
  if (csi !== undefined) return { external: csi };
  if (!provisioner.startsWith('kubernetes.io/')) return { external: provisioner };
  if (provisioner === 'kubernetes.io/host-path') {
    // The plugin is there, its provisioning off unless --enable-hostpath-provisioner (test clusters only).
    return {
      failed: `Failed to create provisioner: provisioning in volume plugin "${provisioner}" is disabled`,
      annotate: provisioner,
    };
  }
  // The NFS plugin recycles but cannot provision.
  if (provisioner === 'kubernetes.io/nfs') return { failed: 'no provisionable volume plugin matched' };
  return { failed: `no volume plugin matched name: ${provisioner}` };
}

export function isDefaultClass(sc: V1StorageClass): boolean {
  const a = sc.metadata?.annotations;
  return a?.[annDefaultClass] === 'true' || a?.[annBetaDefaultClass] === 'true';
}

/** The default class: the newest of those marked default, then the lowest name. */
export function defaultClassName(classes: readonly V1StorageClass[]): string | undefined {
  const created = (sc: V1StorageClass) => new Date(sc.metadata?.creationTimestamp ?? 0).getTime();
  const defaults = classes.filter(isDefaultClass).sort((a, b) => {
    const byAge = created(b) - created(a);
    if (byAge !== 0) return byAge;
    const an = a.metadata?.name ?? '';
    const bn = b.metadata?.name ?? '';
    return an < bn ? -1 : an > bn ? 1 : 0;
  });
  return defaults[0]?.metadata?.name;
}

export function waitsForFirstConsumer(className: string, classes: ClassLookup): boolean {
  if (className === '') return false;
  return classes.get(className)?.volumeBindingMode === 'WaitForFirstConsumer';
}
