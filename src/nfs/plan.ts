// What an export needs next: a pure decision over the export, the volume of
// its name in the cache, the conflict verdict and, while the export is being
// deleted, the claim its volume names (read live: a volume object is about
// to go). The controller carries the plan out: at most one write of the
// volume or of the export, then the status where the plan has a Ready.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { claimHoldsVolume } from '../kube/claims.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import { namespacedName } from '../kube/refs.ts';
import type { Placement, Verdict } from './conflict.ts';
import {
  type NfsExport,
  type StoredExport,
  type VolumeStyle,
  desiredVolume,
  exportOfVolume,
  planVolumeChange,
  volumeNameFor,
} from './export.ts';
import { type Ready, exportWithFinalizer, exportWithoutFinalizer, hasFinalizer } from './export-writes.ts';

export interface ExportFacts {
  export: StoredExport;
  /** The volume of the export's volume name in the cache, whoever owns it. */
  volume: V1PersistentVolume | undefined;
  /** The conflict check against the overlapping exports (decideConflict). */
  verdict: Verdict;
  /** The claim claimToCheck names, as read now; undefined when there is none or none was named. */
  claim: V1PersistentVolumeClaim | undefined;
  /** How the volume carries its reclaim policy (beside the in-tree binder: in an annotation). */
  style?: VolumeStyle;
}

/** How soon a deletion held by a claim looks again, besides the volume's own events. */
export const deletionRecheckMs = 30_000;

/**
 * A write of the volume: what it does in words (a refusal's message names
 * it), the events to record first, and the one to record once it is done.
 */
interface VolumeWrite {
  what: string;
  events: PlannedEvent[];
  done: PlannedEvent;
}

export type ExportPlan =
  /** Being deleted and let go already (no finalizer of ours): nothing to do. */
  | { action: 'none' }
  /** The finalizer first; its update brings the export back. */
  | { action: 'addFinalizer'; body: StoredExport }
  /** A volume of the export's name belongs to someone else: never adopted, only reported. */
  | { action: 'nameTaken'; ready: Ready }
  /** Being deleted while a claim holds the volume: wait, and look again. */
  | { action: 'deletionBlocked'; ready: Ready; requeueAfterMs: number }
  /** Being deleted, the volume free: its object goes (by uid), then the finalizer (release). */
  | {
      action: 'deleteVolume';
      volumeName: string;
      uid: string | undefined;
      what: string;
      release: StoredExport;
    }
  /** Being deleted, no volume left: the finalizer goes. */
  | { action: 'removeFinalizer'; release: StoredExport }
  /** The export conflicts: its unbound volume is deleted (the data untouched); the status shows none. */
  | ({ action: 'withdraw'; volume: V1PersistentVolume; ready: Ready } & VolumeWrite)
  /** The status then shows the volume created. */
  | ({ action: 'createVolume'; body: V1PersistentVolume; ready: Ready } & VolumeWrite)
  /** A free volume's NFS source changed: it is deleted, and made anew on the sync its deletion brings. */
  | ({ action: 'recreateVolume'; volume: V1PersistentVolume } & VolumeWrite)
  /** The volume brought in line (drift: the fields that change); the status then shows it. */
  | ({ action: 'updateVolume'; body: V1PersistentVolume; drift: string[]; ready: Ready } & VolumeWrite)
  /** Only the status, with the volume as cached. */
  | { action: 'status'; ready: Ready; events: PlannedEvent[] };

const notReady = (reason: string, message: string): Ready => ({
  type: 'Ready',
  status: 'False',
  reason,
  message,
});

export function planExport(f: ExportFacts): ExportPlan {
  const e = f.export;
  const name = e.metadata.name ?? '';
  const { volume, verdict } = f;
  if (volume && exportOfVolume(volume) !== name) {
    return {
      action: 'nameTaken',
      ready: notReady(
        'VolumeNameTaken',
        `a PersistentVolume named ${volumeNameFor(name)} exists and does not belong to this export`,
      ),
    };
  }
  if (e.metadata.deletionTimestamp) return planDeletion(e, volume, f.claim);
  const body = exportWithFinalizer(e);
  if (body) return { action: 'addFinalizer', body };

  if (verdict.kind === 'ok') {
    const ready: Ready = {
      type: 'Ready',
      status: 'True',
      reason: 'VolumeReady',
      message: `PersistentVolume ${volumeNameFor(name)} matches the spec`,
    };
    return planVolume(e, volume, ready, [], true, f.style);
  }
  const ready = notReady('ExportConflict', verdict.message);
  // Said once per message: a resync finds the condition saying it already.
  const events: PlannedEvent[] = sameReady(e, ready)
    ? []
    : [{ type: 'Warning', reason: 'ExportConflict', note: verdict.message }];
  // A volume that holds a claim's data stays and follows the export as usual, but is not Ready.
  if (verdict.volume === 'keep') return planVolume(e, volume, ready, events, false, f.style);
  if (verdict.volume === 'withdraw' && volume) {
    const volumeName = volumeNameFor(name);
    return {
      action: 'withdraw',
      volume,
      ready,
      what: `delete PersistentVolume ${volumeName}`,
      events,
      done: {
        type: 'Normal',
        reason: 'VolumeWithdrawn',
        note: `unbound PersistentVolume ${volumeName} deleted: the export conflicts with ${verdict.with} (the data on the server is untouched)`,
      },
    };
  }
  // A change of the other export or of its volume brings this one back.
  return { action: 'status', ready, events };
}

function planDeletion(
  e: StoredExport,
  volume: V1PersistentVolume | undefined,
  claim: V1PersistentVolumeClaim | undefined,
): ExportPlan {
  const release = exportWithoutFinalizer(e);
  if (!release) return { action: 'none' };
  if (!volume) return { action: 'removeFinalizer', release };
  const ref = volume.spec?.claimRef;
  const volumeName = volume.metadata?.name ?? '';
  if (ref && claimHoldsVolume(volume, claim)) {
    return {
      action: 'deletionBlocked',
      ready: notReady(
        'DeletionBlocked',
        `deletion waits until claim ${namespacedName(ref.namespace, ref.name)} no longer uses volume ${volumeName}`,
      ),
      requeueAfterMs: deletionRecheckMs,
    };
  }
  return {
    action: 'deleteVolume',
    volumeName,
    uid: volume.metadata?.uid,
    what: `delete PersistentVolume ${volumeName}`,
    release,
  };
}

/**
 * The export's own volume: made when missing, else brought in line.
 * mayRefuse: Ready may say UnsafeChangeRefused (not while a conflict is what
 * Ready says).
 */
function planVolume(
  e: StoredExport,
  volume: V1PersistentVolume | undefined,
  ready: Ready,
  events: PlannedEvent[],
  mayRefuse: boolean,
  style: VolumeStyle = {},
): ExportPlan {
  const volumeName = volumeNameFor(e.metadata.name ?? '');
  if (!volume) {
    // A volume deleted by the Delete policy (after its scrub) is made anew here, Available again.
    return {
      action: 'createVolume',
      body: desiredVolume(e, style),
      ready,
      what: `create PersistentVolume ${volumeName}`,
      events,
      done: { type: 'Normal', reason: 'VolumeCreated', note: `created PersistentVolume ${volumeName}` },
    };
  }
  const change = planVolumeChange(e, volume, style);
  if (change.recreate) {
    return {
      action: 'recreateVolume',
      volume,
      what: `replace PersistentVolume ${volumeName}`,
      events,
      done: {
        type: 'Normal',
        reason: 'VolumeReplaced',
        note: `the NFS source changed: PersistentVolume ${volumeName} is made anew`,
      },
    };
  }
  const ref = volume.spec?.claimRef;
  const settled =
    mayRefuse && change.refused.length > 0
      ? notReady(
          'UnsafeChangeRefused',
          `${change.refused.join(', ')} cannot change while claim ${namespacedName(ref?.namespace, ref?.name)} ` +
            'holds the volume; the change applies once the volume is free',
        )
      : ready;
  if (!change.update) return { action: 'status', ready: settled, events };
  const drift = change.drifted.filter((field) => !change.refused.includes(field));
  return {
    action: 'updateVolume',
    body: change.update,
    drift,
    ready: settled,
    what: `update PersistentVolume ${volumeName}`,
    events,
    done: {
      type: 'Normal',
      reason: 'VolumeUpdated',
      note: `PersistentVolume ${volumeName} updated: ${drift.join(', ')}`,
    },
  };
}

/**
 * The claim whose live state decides whether a deletion must wait: the one
 * the export's own volume names while the export is being deleted and holds
 * its finalizer. A claimRef without a name or namespace names no claim.
 */
export function claimToCheck(
  e: StoredExport,
  volume: V1PersistentVolume | undefined,
): { namespace: string; name: string } | undefined {
  const ref = volume?.spec?.claimRef;
  if (!ref?.name || !ref.namespace || !e.metadata.deletionTimestamp || !hasFinalizer(e)) return undefined;
  if (exportOfVolume(volume) !== e.metadata.name) return undefined;
  return { namespace: ref.namespace, name: ref.name };
}

/** An export and its volume (undefined when it has none) as the conflict check sees them. */
export function placementOf(e: NfsExport, volume: V1PersistentVolume | undefined): Placement {
  const ref = volume?.spec?.claimRef;
  const created = e.metadata?.creationTimestamp as Date | string | undefined;
  return {
    name: e.metadata?.name ?? '',
    createdMs: created instanceof Date ? created.getTime() : Date.parse(String(created)),
    server: e.spec.server,
    path: e.spec.path,
    volume: volume
      ? {
          name: volume.metadata?.name ?? '',
          claim: ref ? namespacedName(ref.namespace, ref.name) : undefined,
        }
      : undefined,
  };
}

/** Whether the export's stored Ready condition already says this. */
function sameReady(e: NfsExport, ready: Ready): boolean {
  const c = e.status?.conditions?.find((x) => x.type === 'Ready');
  return c?.reason === ready.reason && c.message === ready.message;
}
