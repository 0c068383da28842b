// The NfsExport resource and the pure rules that turn one into a
// PersistentVolume: the volume it should be, what in an existing volume
// differs, which differences may be put right while a claim uses it, and the
// status the export reports.
import { createHash } from 'node:crypto';

import type { V1ObjectMeta, V1OwnerReference, V1PersistentVolume } from '@kubernetes/client-node';

import { QuantityError, parseQuantity } from '../kube/quantity.ts';
import { annProvisionedBy, annReclaimPolicy, ourProvisioner } from '../kube/annotations.ts';
import { labelValue } from '../runtime/label-value.ts';

export const group = 'pvlifecycle.io';
export const version = 'v1alpha1';
export const plural = 'nfsexports';
export const kind = 'NfsExport';
export const apiVersion = `${group}/${version}`;

/**
 * Names the export a volume was made for, to select by: the name, or a
 * shortened form with a hash when the name is longer than a label value may
 * be. The exact name is the volume's controller ownerReference (exportOfVolume).
 */
export const exportLabel = 'pvlifecycle.io/nfs-export';
/** Holds an export while its volume is bound. */
export const exportFinalizer = 'pvlifecycle.io/volume-protection';

export type ExportPhase = 'Pending' | 'Available' | 'Bound' | 'Released' | 'Recycling' | 'Failed';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface NfsExportSpec {
  server: string;
  path: string;
  readOnly?: boolean;
  capacity: string | number;
  accessModes: string[];
  persistentVolumeReclaimPolicy?: string;
  storageClassName?: string;
  mountOptions?: string[];
}

export interface NfsExportStatus {
  phase?: ExportPhase;
  volumeName?: string;
  claim?: string;
  accessModes?: string;
  /** Volumes the NFS provisioner made in this export, used as a pool (absent when none). */
  provisionedVolumes?: number;
  /** The file system's space at the last reading over NFSv4, and what its volumes were promised. */
  space?: { totalBytes: number; usedBytes: number; availableBytes: number; promisedBytes: number };
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface NfsExport {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
  spec: NfsExportSpec;
  status?: NfsExportStatus;
}

/** An export as the API stores it: its metadata is always there. */
export type StoredExport = NfsExport & { metadata: NonNullable<NfsExport['metadata']> };

/** The volume's name: nfsx-<export name>, shortened with a hash when too long for a name. */
export function volumeNameFor(exportName: string): string {
  const name = `nfsx-${exportName}`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(exportName).digest('hex').slice(0, 10);
  return `${name.slice(0, 242).replace(/[.-]+$/, '')}-${hash}`;
}

const shortModes: Record<string, string> = {
  ReadWriteOnce: 'RWO',
  ReadOnlyMany: 'ROX',
  ReadWriteMany: 'RWX',
  ReadWriteOncePod: 'RWOP',
};

export function shortAccessModes(modes: readonly string[]): string {
  return modes.map((m) => shortModes[m] ?? m).join(',');
}

/** The export label's value for an export name. */
export const exportLabelValue = (exportName: string): string => labelValue(exportName);

/** The name of the export a volume was made for: its controller ownerReference of our kind. */
export function exportOfVolume(volume: V1PersistentVolume | undefined): string | undefined {
  const owner = volume?.metadata?.ownerReferences?.find(
    (o) => o.controller === true && o.kind === kind && o.apiVersion.startsWith(`${group}/`),
  );
  return owner?.name || undefined;
}

function ownerOf(e: NfsExport): V1OwnerReference {
  return {
    apiVersion,
    kind,
    name: e.metadata?.name ?? '',
    uid: e.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: false,
  };
}

/** How the volumes carry their reclaim policy. */
export interface VolumeStyle {
  /**
   * Beside the in-tree binder: in annReclaimPolicy, with a spec of Retain so
   * that the in-tree controller never recycles or deletes them itself.
   */
  policyInAnnotation?: boolean;
}

/** The volume as the export declares it (no claimRef, no status: those are the binder's). */
export function desiredVolume(e: NfsExport, style: VolumeStyle = {}): V1PersistentVolume {
  const name = e.metadata?.name ?? '';
  const policy = e.spec.persistentVolumeReclaimPolicy ?? 'Retain';
  const inAnnotation = style.policyInAnnotation ?? false;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: volumeNameFor(name),
      labels: { ...e.metadata?.labels, [exportLabel]: exportLabelValue(name) },
      annotations: {
        [annProvisionedBy]: ourProvisioner,
        ...(inAnnotation ? { [annReclaimPolicy]: policy } : {}),
      },
      ownerReferences: [ownerOf(e)],
    },
    spec: {
      capacity: { storage: String(e.spec.capacity) },
      accessModes: [...e.spec.accessModes],
      nfs: { server: e.spec.server, path: e.spec.path, readOnly: e.spec.readOnly ?? false },
      persistentVolumeReclaimPolicy: inAnnotation ? 'Retain' : policy,
      storageClassName: e.spec.storageClassName ?? '',
      mountOptions: e.spec.mountOptions?.length ? [...e.spec.mountOptions] : undefined,
      volumeMode: 'Filesystem',
    },
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export interface VolumeChange {
  /** The volume with every managed field as declared, or undefined when nothing differs (and may change). */
  update?: V1PersistentVolume;
  /** The NFS source differs: a volume's source cannot change, it must be made anew. */
  recreate: boolean;
  /** Differences that must wait until no claim uses the volume, as field names. */
  refused: string[];
  /** Managed fields that differ, for events and logs. */
  drifted: string[];
}

/**
 * What to do about an existing volume. While a claim holds it (claimRef set),
 * the source, the access modes and the class stay as they are (a claim was
 * matched against them); capacity, labels, mount options and the reclaim
 * policy follow the export at any time.
 */
export function planVolumeChange(
  e: NfsExport,
  current: V1PersistentVolume,
  style: VolumeStyle = {},
): VolumeChange {
  const want = desiredVolume(e, style);
  const held = current.spec?.claimRef !== undefined;
  const drifted: string[] = [];
  const refused: string[] = [];
  const spec = { ...current.spec };
  let recreate = false;

  // Compared as the API server stores them: readOnly false may be left out, quantities may be respelled.
  const nfs = (v: V1PersistentVolume) => ({
    server: v.spec?.nfs?.server,
    path: v.spec?.nfs?.path,
    readOnly: v.spec?.nfs?.readOnly ?? false,
  });
  if (!same(nfs(current), nfs(want))) {
    drifted.push('nfs');
    if (held) refused.push('server/path/readOnly');
    else recreate = true;
  }
  for (const field of ['accessModes', 'storageClassName'] as const) {
    const have = field === 'storageClassName' ? (current.spec?.[field] ?? '') : current.spec?.[field];
    if (!same(have, want.spec?.[field])) {
      drifted.push(field);
      if (held) refused.push(field);
      else (spec as Record<string, unknown>)[field] = want.spec?.[field];
    }
  }
  const normal = {
    capacity: (v: V1PersistentVolume) => capacityValue(v.spec?.capacity?.storage),
    mountOptions: (v: V1PersistentVolume) => v.spec?.mountOptions ?? [],
    persistentVolumeReclaimPolicy: (v: V1PersistentVolume) => v.spec?.persistentVolumeReclaimPolicy,
  };
  for (const field of ['capacity', 'mountOptions', 'persistentVolumeReclaimPolicy'] as const) {
    if (!same(normal[field](current), normal[field](want))) {
      drifted.push(field);
      (spec as Record<string, unknown>)[field] = want.spec?.[field];
    }
  }
  const labels = { ...current.metadata?.labels };
  let labelsDrifted = false;
  for (const [k, v] of Object.entries(want.metadata?.labels ?? {})) {
    if (labels[k] !== v) {
      labels[k] = v;
      labelsDrifted = true;
    }
  }
  // The annotation is ours to set and to take away: a volume whose policy is in its spec again drops it.
  const annotations = Object.fromEntries(
    Object.entries({ ...current.metadata?.annotations, ...want.metadata?.annotations }).filter(
      ([k]) => style.policyInAnnotation || k !== annReclaimPolicy,
    ),
  );
  const annotationsDrifted = !same(annotations, { ...current.metadata?.annotations });
  if (labelsDrifted) drifted.push('labels');
  if (annotationsDrifted) drifted.push('annotations');

  const changed = drifted.some((f) => !refused.includes(f) && f !== 'nfs');
  return {
    recreate,
    refused,
    drifted,
    update:
      changed && !recreate
        ? { ...current, metadata: { ...current.metadata, labels, annotations }, spec }
        : undefined,
  };
}

/** A capacity as compared for drift: its value, or the text itself when it is no quantity. */
function capacityValue(text: string | undefined): string {
  if (text === undefined) return '';
  try {
    return String(parseQuantity(text));
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    return `text ${text}`;
  }
}

/** The export's phase from its volume (and whether a scrub Job is running for it). */
export function exportPhase(volume: V1PersistentVolume | undefined, scrubbing: boolean): ExportPhase {
  if (!volume) return 'Pending';
  const phase = volume.status?.phase;
  if (scrubbing && (phase === 'Released' || phase === 'Failed')) return 'Recycling';
  switch (phase) {
    case 'Available':
    case 'Bound':
    case 'Released':
    case 'Failed':
      return phase;
    default:
      return 'Pending';
  }
}

/** Sets a condition, keeping lastTransitionTime unless the status changed. Returns a new list. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date,
): Condition[] {
  const list = [...(conditions ?? [])];
  const at = list.findIndex((c) => c.type === next.type);
  const old = at >= 0 ? list[at] : undefined;
  const merged: Condition = {
    ...next,
    lastTransitionTime: old && old.status === next.status ? old.lastTransitionTime : now.toISOString(),
  };
  if (at >= 0) list[at] = merged;
  else list.push(merged);
  return list;
}
