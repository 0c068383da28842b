// The objects the export controller sends for the export itself: pure
// functions that return the updated copy, or undefined when nothing would
// change (so no write is made). The volume's bodies are desiredVolume and
// planVolumeChange in export.ts.
import type { V1DeleteOptions, V1PersistentVolume } from '@kubernetes/client-node';

import { namespacedName } from '../kube/refs.ts';
import {
  type Condition,
  type NfsExport,
  type NfsExportStatus,
  type StoredExport,
  apiVersion,
  exportFinalizer,
  exportPhase,
  kind,
  setCondition,
  shortAccessModes,
} from './export.ts';

export type Ready = Omit<Condition, 'lastTransitionTime'>;

export function hasFinalizer(e: NfsExport): boolean {
  return (e.metadata?.finalizers ?? []).includes(exportFinalizer);
}

/** The export with the finalizer that holds it while its volume is bound. */
export function exportWithFinalizer(e: StoredExport): StoredExport | undefined {
  if (hasFinalizer(e)) return undefined;
  return {
    ...e,
    metadata: { ...e.metadata, finalizers: [...(e.metadata.finalizers ?? []), exportFinalizer] },
  };
}

/** The export let go: its finalizer removed, the others kept. */
export function exportWithoutFinalizer(e: StoredExport): StoredExport | undefined {
  if (!hasFinalizer(e)) return undefined;
  return {
    ...e,
    metadata: {
      ...e.metadata,
      finalizers: (e.metadata.finalizers ?? []).filter((f) => f !== exportFinalizer),
    },
  };
}

/** What the status shows besides Ready, as the controller knows it when writing. */
export interface StatusFacts {
  /** The export's volume after this sync's write (undefined when it has none). */
  volume: V1PersistentVolume | undefined;
  ready: Ready;
  /** The ServerReachable condition, once the server was probed (or probes are off). */
  reachable: Ready | undefined;
  /** A scrub Job runs for the volume (its phase shows Recycling). */
  scrubbing: boolean;
  /** Volumes the NFS provisioner made in the export, used as a pool. */
  provisioned?: number;
  /** The file system's space at the last reading, and what the export's volumes were promised (bytes). */
  space?: { totalBytes: number; freeBytes: number; availBytes: number; promisedBytes: number };
  now: Date;
}

/**
 * SpaceSufficient: whether the space still available covers what the
 * export's volumes were promised (their capacities together). Space they use
 * already counts as still to come, so this warns early, never late.
 */
export function spaceCondition(space: NonNullable<StatusFacts['space']>): Ready {
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  const enough = space.availBytes >= space.promisedBytes;
  return {
    type: 'SpaceSufficient',
    status: enough ? 'True' : 'False',
    reason: enough ? 'Enough' : 'Overcommitted',
    message:
      `${gib(space.availBytes)} available of ${gib(space.totalBytes)}; its volumes were promised ` +
      `${gib(space.promisedBytes)}${enough ? '' : ': they may run out of space (NFS does not reserve it)'}`,
  };
}

/**
 * The export with its status as the facts make it (the Ready condition, the
 * probe's, phase, volume and claim), or undefined when it already says so.
 */
export function exportWithStatus(e: NfsExport, f: StatusFacts): NfsExport | undefined {
  const generation = e.metadata?.generation;
  let conditions = setCondition(e.status?.conditions, { ...f.ready, observedGeneration: generation }, f.now);
  if (f.reachable)
    conditions = setCondition(conditions, { ...f.reachable, observedGeneration: generation }, f.now);
  if (f.space)
    conditions = setCondition(
      conditions,
      { ...spaceCondition(f.space), observedGeneration: generation },
      f.now,
    );
  const ref = f.volume?.spec?.claimRef;
  const status: NfsExportStatus = {
    phase: exportPhase(f.volume, f.scrubbing),
    volumeName: f.volume?.metadata?.name,
    claim: ref ? namespacedName(ref.namespace, ref.name) : undefined,
    accessModes: shortAccessModes(e.spec.accessModes),
    ...(f.provisioned ? { provisionedVolumes: f.provisioned } : {}),
    ...(f.space
      ? {
          space: {
            totalBytes: f.space.totalBytes,
            usedBytes: Math.max(0, f.space.totalBytes - f.space.freeBytes),
            availableBytes: f.space.availBytes,
            promisedBytes: f.space.promisedBytes,
          },
        }
      : {}),
    observedGeneration: generation,
    conditions,
  };
  if (canonical(status) === canonical(e.status ?? {})) return undefined;
  return { ...e, apiVersion, kind, status };
}

/** Deletes exactly the volume as seen: the API refuses once it changed (perhaps bound meanwhile). */
export function deleteExactly(volume: V1PersistentVolume): V1DeleteOptions {
  return { preconditions: { uid: volume.metadata?.uid, resourceVersion: volume.metadata?.resourceVersion } };
}

/** JSON with sorted keys and without undefined values, to compare what the API would store. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
