// Annotation keys the PersistentVolume machinery shares with kubectl, the
// scheduler, external provisioners and the upstream controller.

export const annBindCompleted = 'pv.kubernetes.io/bind-completed';
export const annBoundByController = 'pv.kubernetes.io/bound-by-controller';
export const annProvisionedBy = 'pv.kubernetes.io/provisioned-by';
/** The provisioner name this operator writes into annProvisionedBy (on its NfsExports' volumes). */
export const ourProvisioner = 'pvlifecycle.io/nfs-export';
/**
 * On volumes this operator made while it runs beside the in-tree binder
 * (--controllers=*,-binder): their real reclaim policy. Their
 * spec.persistentVolumeReclaimPolicy is then Retain, so the in-tree
 * controller (its recycler and deleter) never acts on them; the operator's
 * reclaim does (kube/reclaim-policy.ts).
 */
export const annReclaimPolicy = 'pvlifecycle.io/reclaim-policy';
/** On a volume the NFS provisioner carved from a declared NfsExport (a pool): the export's name. */
export const annNfsPool = 'pvlifecycle.io/nfs-pool';
/** Set by kube-controller-manager on volumes of in-tree plugins migrated to CSI. */
export const annMigratedTo = 'pv.kubernetes.io/migrated-to';
export const annStorageProvisioner = 'volume.kubernetes.io/storage-provisioner';
export const annBetaStorageProvisioner = 'volume.beta.kubernetes.io/storage-provisioner';
export const annSelectedNode = 'volume.kubernetes.io/selected-node';
/** Left on a volume by an expansion whose filesystem resize is pending: the claim's capacity before it. */
export const annPreResizeCapacity = 'volume.alpha.kubernetes.io/pre-resize-capacity';
export const annDefaultClass = 'storageclass.kubernetes.io/is-default-class';
export const annBetaDefaultClass = 'storageclass.beta.kubernetes.io/is-default-class';

export function hasAnnotation(
  obj: { metadata?: { annotations?: Record<string, string> } },
  key: string,
): boolean {
  return obj.metadata?.annotations?.[key] !== undefined;
}
