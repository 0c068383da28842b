// What the provisioner does for a claim and for a volume it made: pure
// decisions over the cached objects. The claim side follows the
// external-provisioner contract (the binder names the provisioner on the
// claim; the volume is made pre-bound to it); the volume side decides what
// happens to the directory once the claim is gone.
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';

import {
  annBetaStorageProvisioner,
  annNfsPool,
  annProvisionedBy,
  annSelectedNode,
  annStorageProvisioner,
} from '../kube/annotations.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import { claimReference } from '../kube/refs.ts';
import { QuantityError, parseQuantity } from '../kube/quantity.ts';
import { parseMountOptions } from './mount-options.ts';
import { expandPattern } from './pattern.ts';
import {
  type ClassConfig,
  type OnDelete,
  classReclaimPolicy,
  onDeleteChoices,
  parseParameters,
  provisionerName,
} from './parameters.ts';

/** The directory below the export, relative ("ns-claim-pvc-…"); spec.nfs.path is the export's path and it. */
export const annDirectory = 'pvlifecycle.io/nfs-directory';
/** The NFS file handle of the directory made, base64: only that very directory is ever removed. */
export const annHandle = 'pvlifecycle.io/nfs-handle';
/**
 * The NFS version the directory was made over, "3" or "4": delete and
 * archive use the same, since the handle is one of that version (a v3
 * handle is not a v4 one). Volumes made before it was recorded are v4.
 */
export const annNfsVersion = 'pvlifecycle.io/nfs-version';
/** The class's onDelete when the volume was made (the class may change or go). */
export const annOnDelete = 'pvlifecycle.io/on-delete';
/**
 * Holds a provisioned volume that someone deletes by hand until its directory
 * was dealt with by the reclaim policy (external-provisioner's finalizer does
 * the same), so a `kubectl delete pv` does not leave the directory behind.
 */
export const directoryFinalizer = 'pvlifecycle.io/nfs-directory';
/** The NfsExport the volume was carved from, when the class named one. */
export const annPool = annNfsPool;

/** Where a directory is made: the server and the export's path on it. */
export interface ExportTarget {
  server: string;
  path: string;
  /** The NfsExport used as a pool, when the class named one. */
  pool?: string;
}

/** The NfsExport a class names, as the provisioner needs it; or why it cannot be used. */
export type PoolLookup = (name: string) => ExportTarget | { problem: string };

export const volumeNameFor = (claimUid: string): string => `pvc-${claimUid}`;

export type ProvisionPlan =
  | { action: 'none' }
  /** ProvisioningFailed on the claim; nothing is made until the claim or its class changes. */
  | { action: 'fail'; event: PlannedEvent }
  | {
      action: 'provision';
      volumeName: string;
      target: ExportTarget;
      components: string[];
      config: ClassConfig;
      storageClass: V1StorageClass;
    };

const failed = (note: string): ProvisionPlan => ({
  action: 'fail',
  event: { type: 'Warning', reason: 'ProvisioningFailed', note },
});

/** Whether the claim waits for this provisioner (the binder named it and no volume is bound). */
export function waitsForUs(claim: V1PersistentVolumeClaim): boolean {
  if (claim.metadata?.deletionTimestamp || claim.spec?.volumeName) return false;
  const a = claim.metadata?.annotations ?? {};
  const named = a[annStorageProvisioner] ?? a[annBetaStorageProvisioner];
  return named === provisionerName && (claim.status?.phase ?? 'Pending') === 'Pending';
}

export interface ProvisionFacts {
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass | undefined;
  /** A volume with the name this claim's would have exists. */
  volumeExists: boolean;
  pool: PoolLookup;
}

export function planProvision(f: ProvisionFacts): ProvisionPlan {
  const { claim, storageClass: sc } = f;
  if (!waitsForUs(claim)) return { action: 'none' };
  const uid = claim.metadata?.uid;
  if (!uid) return { action: 'none' };
  if (f.volumeExists) return { action: 'none' }; // the binder binds it
  const className = claim.spec?.storageClassName ?? '';
  if (!sc) return failed(`storageclass.storage.k8s.io "${className}" not found`);
  if (sc.provisioner !== provisionerName) return { action: 'none' };
  if (sc.volumeBindingMode === 'WaitForFirstConsumer' && !claim.metadata?.annotations?.[annSelectedNode]) {
    return { action: 'none' }; // the scheduler picks a node first
  }
  const refusal = claimRefusal(claim);
  if (refusal) return failed(refusal);
  const parsed = parseParameters(sc);
  if (!parsed.ok) return failed(`StorageClass ${className}: ${parsed.problem}`);
  const { config } = parsed;
  let target: ExportTarget;
  if ('nfsExport' in config.source) {
    const found = f.pool(config.source.nfsExport);
    if ('problem' in found) return failed(`StorageClass ${className}: parameter nfsExport: ${found.problem}`);
    target = found;
  } else {
    target = { server: config.source.server, path: config.source.path };
  }
  const volumeName = volumeNameFor(uid);
  const expanded = expandPattern(config.pattern, {
    namespace: claim.metadata?.namespace ?? '',
    name: claim.metadata?.name ?? '',
    uid,
    volumeName,
    annotations: claim.metadata?.annotations ?? {},
  });
  if (!expanded.ok) return failed(`StorageClass ${className}: parameter pathPattern: ${expanded.problem}`);
  return {
    action: 'provision',
    volumeName,
    target,
    components: expanded.components,
    config,
    storageClass: sc,
  };
}

/** What in the claim this provisioner cannot honour, in the words upstream's external-provisioner uses where it has them. */
function claimRefusal(claim: V1PersistentVolumeClaim): string | undefined {
  const spec = claim.spec ?? {};
  if (spec.selector) return 'claim Selector is not supported';
  if (spec.volumeMode === 'Block')
    return 'NFS volumes are file systems: volumeMode Block cannot be provisioned';
  if (spec.dataSource || spec.dataSourceRef) return 'provisioning from a data source is not supported';
  if (!spec.accessModes?.length) return 'the claim names no access modes';
  const request = spec.resources?.requests?.storage;
  if (request === undefined) return 'the claim requests no storage (spec.resources.requests.storage)';
  try {
    parseQuantity(request);
  } catch (e) {
    if (e instanceof QuantityError) return `spec.resources.requests.storage: ${e.message}`;
    throw e;
  }
  return undefined;
}

/** The volume for a claim, pre-bound to it, after its directory was made with this handle. */
export function provisionedVolume(
  plan: Extract<ProvisionPlan, { action: 'provision' }>,
  claim: V1PersistentVolumeClaim,
  handle: Buffer,
  version: 3 | 4,
): V1PersistentVolume {
  const { target, config, storageClass: sc } = plan;
  const directory = plan.components.join('/');
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: plan.volumeName,
      finalizers: [directoryFinalizer],
      annotations: {
        [annProvisionedBy]: provisionerName,
        [annDirectory]: directory,
        [annHandle]: handle.toString('base64'),
        [annNfsVersion]: String(version),
        [annOnDelete]: config.onDelete,
        ...(target.pool ? { [annPool]: target.pool } : {}),
      },
    },
    spec: {
      capacity: { storage: String(claim.spec?.resources?.requests?.storage) },
      accessModes: claim.spec?.accessModes,
      volumeMode: 'Filesystem',
      persistentVolumeReclaimPolicy: classReclaimPolicy(sc),
      storageClassName: sc.metadata?.name,
      ...(sc.mountOptions?.length ? { mountOptions: sc.mountOptions } : {}),
      claimRef: claimReference(claim),
      nfs: { server: target.server, path: `${target.path}/${directory}` },
    },
  };
}

// ---- the volume side ---------------------------------------------------------

/** Where a provisioned volume's directory is, as recorded on it. */
export interface RecordedDirectory {
  server: string;
  /** The export's path: spec.nfs.path without the directory. */
  exportPath: string;
  components: string[];
  handle: Buffer;
  onDelete: OnDelete;
  /** The NFS version the directory was made over. */
  version: 3 | 4;
  /** port= and mountport= of the volume's mountOptions. */
  port?: number;
  mountPort?: number;
}

export type VolumePlan =
  | { action: 'none' }
  /** The claim may still come back (read live): look again when it goes. */
  | { action: 'wait'; why: string }
  /**
   * Carry out onDelete on the directory; then delete the volume object, or,
   * when it is being deleted already, let it go (remove the finalizer).
   */
  | { action: 'reclaim'; directory: RecordedDirectory; deleting: boolean }
  /** A volume being deleted whose policy keeps the directory: let it go. */
  | { action: 'removeFinalizer' }
  /** The record cannot be trusted: say so on the volume and touch nothing. */
  | { action: 'refuse'; event: PlannedEvent };

export function madeByProvisioner(volume: V1PersistentVolume): boolean {
  return volume.metadata?.annotations?.[annProvisionedBy] === provisionerName;
}

/**
 * A Released volume of ours whose policy is Delete, once no claim holds it:
 * its directory is dealt with as recorded. Retain keeps volume and directory,
 * as upstream. A volume of ours someone deletes is held by its finalizer
 * until the same is done (Delete) or at once let go (Retain); a claim that
 * still holds it is waited for first. claimHolds: the live answer to "does
 * the claim still hold it".
 */
export function planVolume(volume: V1PersistentVolume, claimHolds: boolean): VolumePlan {
  if (!madeByProvisioner(volume)) return { action: 'none' };
  const deleting = volume.metadata?.deletionTimestamp !== undefined;
  if (deleting && !(volume.metadata?.finalizers ?? []).includes(directoryFinalizer))
    return { action: 'none' };
  if (!deleting && volume.status?.phase !== 'Released') return { action: 'none' };
  if (claimHolds) return { action: 'wait', why: 'its claim still exists' };
  if ((volume.spec?.persistentVolumeReclaimPolicy ?? 'Retain') !== 'Delete') {
    return deleting ? { action: 'removeFinalizer' } : { action: 'none' };
  }
  const recorded = recordedDirectory(volume);
  if ('problem' in recorded) {
    return {
      action: 'refuse',
      event: {
        type: 'Warning',
        reason: 'VolumeFailedDelete',
        note:
          `${recorded.problem}; nothing was deleted. Delete the directory yourself if it should go, then the volume` +
          (deleting ? ` and its finalizer ${directoryFinalizer}` : ''),
      },
    };
  }
  return { action: 'reclaim', directory: recorded, deleting };
}

/** The directory a volume records, checked against its spec; or why it cannot be trusted. */
export function recordedDirectory(volume: V1PersistentVolume): RecordedDirectory | { problem: string } {
  const a = volume.metadata?.annotations ?? {};
  const nfs = volume.spec?.nfs;
  const directory = a[annDirectory];
  const handle = a[annHandle];
  const onDelete = a[annOnDelete] ?? 'delete';
  if (!nfs?.server || !nfs.path) return { problem: 'the volume has no NFS source' };
  if (!directory) return { problem: `annotation ${annDirectory} is missing` };
  const components = directory.split('/');
  if (components.some((c) => c === '' || c === '.' || c === '..' || c.includes('\0'))) {
    return {
      problem: `annotation ${annDirectory}=${JSON.stringify(directory.slice(0, 64))} is not a relative directory`,
    };
  }
  const suffix = `/${directory}`;
  if (!nfs.path.startsWith('/') || !nfs.path.endsWith(suffix) || nfs.path.length === suffix.length) {
    return {
      problem: `annotation ${annDirectory} does not end spec.nfs.path ${JSON.stringify(nfs.path.slice(0, 128))}`,
    };
  }
  const versionText = a[annNfsVersion] ?? '4';
  if (versionText !== '3' && versionText !== '4') {
    return {
      problem: `annotation ${annNfsVersion}=${JSON.stringify(versionText.slice(0, 32))} is not 3 or 4`,
    };
  }
  const version = versionText === '3' ? 3 : 4;
  const bytes = handle ? Buffer.from(handle, 'base64') : Buffer.alloc(0);
  // NFS3_FHSIZE is 64, NFS4_FHSIZE 128.
  const most = version === 3 ? 64 : 128;
  if (!handle || bytes.length === 0 || bytes.length > most || bytes.toString('base64') !== handle) {
    return {
      problem: `annotation ${annHandle} is missing or not a file handle (NFSv${versionText}: 1 to ${String(most)} bytes)`,
    };
  }
  const mount = parseMountOptions(volume.spec?.mountOptions);
  if (!mount.ok) return { problem: `spec.mountOptions: ${mount.problem}` };
  if (!(onDeleteChoices as readonly string[]).includes(onDelete)) {
    return {
      problem: `annotation ${annOnDelete}=${JSON.stringify(onDelete.slice(0, 32))} is not one of ${onDeleteChoices.join(', ')}`,
    };
  }
  return {
    server: nfs.server,
    exportPath: nfs.path.slice(0, -suffix.length),
    components,
    handle: bytes,
    onDelete: onDelete as OnDelete,
    version,
    ...(mount.mount.port === undefined ? {} : { port: mount.mount.port }),
    ...(mount.mount.mountPort === undefined ? {} : { mountPort: mount.mount.mountPort }),
  };
}

/** The name an archived directory takes beside it (nfs-subdir's "archived-" prefix), unique by time. */
export function archiveName(leaf: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  // Names are at most 255 bytes: the stamp goes on a cut-short name when needed.
  const tail = `-${stamp}`;
  let name = `archived-${leaf}`;
  while (Buffer.byteLength(name + tail) > 255) name = name.slice(0, -1);
  return name + tail;
}

// ---- expansion ---------------------------------------------------------------

export type ExpansionPlan =
  | { action: 'none' }
  /** Grow the volume's recorded capacity to the claim's request (NFS has nothing else to resize). */
  | { action: 'expand'; volume: V1PersistentVolume; size: string }
  /** The volume has grown: the claim's status.capacity follows. */
  | { action: 'finish'; size: string };

const nanoOf = (text: string | undefined): bigint | undefined => {
  if (text === undefined) return undefined;
  try {
    return parseQuantity(text);
  } catch {
    return undefined;
  }
};

/**
 * What the resizer's part needs for a Bound claim on a volume of ours, as
 * external-resizer does for a volume whose file system needs no resize on the
 * node: the volume's capacity first, then the claim's status.
 */
export function planExpansion(
  claim: V1PersistentVolumeClaim,
  volume: V1PersistentVolume | undefined,
  sc: V1StorageClass | undefined,
): ExpansionPlan {
  if (claim.status?.phase !== 'Bound' || !volume || !madeByProvisioner(volume)) return { action: 'none' };
  if (volume.spec?.claimRef?.uid !== claim.metadata?.uid || volume.metadata?.deletionTimestamp)
    return { action: 'none' };
  const request = claim.spec?.resources?.requests?.storage;
  const wanted = nanoOf(request);
  const has = nanoOf(volume.spec?.capacity?.storage);
  const shown = nanoOf(claim.status.capacity?.storage) ?? 0n;
  if (wanted === undefined || has === undefined || request === undefined) return { action: 'none' };
  if (wanted > has) {
    // The API server refuses a larger request unless the class allows it; a class changed since is honoured.
    if (sc?.allowVolumeExpansion !== true) return { action: 'none' };
    return {
      action: 'expand',
      size: request,
      volume: {
        ...volume,
        spec: { ...volume.spec, capacity: { ...volume.spec?.capacity, storage: request } },
      },
    };
  }
  if (shown < wanted) return { action: 'finish', size: volume.spec?.capacity?.storage ?? request };
  return { action: 'none' };
}
