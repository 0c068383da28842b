// What a Released volume needs next (pv-controller.md §3): a pure decision
// over the volume, what is known about its released claim and pods, and the
// recycler Job of this very release. facts.ts gathers the facts (claims and
// pods by live reads, not the cache); the reclaim controller carries the plan
// out with the bodies of writes.ts.
import type { V1PersistentVolume } from '@kubernetes/client-node';

import { annMigratedTo, annProvisionedBy, hasAnnotation, ourProvisioner } from '../kube/annotations.ts';
import { effectiveReclaimPolicy, madeByUs, specPolicy } from '../kube/reclaim-policy.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import { namespacedName } from '../kube/refs.ts';
import { isUpstreamHostPathDelete, planHostPathDelete } from './hostpath-delete.ts';
import { needsScrubClaim } from './job.ts';

/** Set by an administrator on a Released volume to ask for a one-off action. */
export const annReclaimRequest = 'pvlifecycle.io/reclaim';
export const reclaimRequests = ['recycle', 'release'] as const;
export type ReclaimRequest = (typeof reclaimRequests)[number];

/**
 * "<released claim uid>/<failed attempts>/<ms since epoch of the last failure>":
 * scrub failures of the current release, so retries back off across restarts.
 */
export const annReclaimFailures = 'pvlifecycle.io/reclaim-failures';

export type JobState =
  | { state: 'absent' }
  /**
   * blocked: why the Job has no pod yet (the Job controller's FailedCreate
   * message, e.g. Pod Security or a quota refusing it).
   */
  | { state: 'running'; blocked?: string; noPodYet?: boolean }
  | { state: 'succeeded' }
  | { state: 'failed'; message: string }
  /**
   * Being deleted (cancelled or replaced): its pods may still be stopping.
   * Nothing starts until it is gone. pods: no Job is left, but these pods
   * that say they scrub the volume have not ended (a pod made late for a
   * deleted Job, or someone else's).
   */
  | { state: 'stopping'; pods?: readonly string[] }
  /**
   * A Job that claims the volume but is not the one recorded on it for this
   * release (a look-alike, or ours from before a crash): never trusted, replaced.
   */
  | { state: 'unrecorded'; message: string };

/** How often a scrub Job whose pod is refused is looked at again. */
export const blockedRecheckMs = 30_000;
/** How soon a scrub Job with no pod yet is looked at again. */
export const noPodRecheckMs = 10_000;
/** How soon a volume whose scrub Job is being deleted is looked at again (an unlabelled Job's deletion is not watched). */
export const stoppingRecheckMs = 2_000;
/** How soon a volume waiting for pods that use its claim is looked at again (pods are not watched). */
export const podsUsingRecheckMs = 10_000;
/** How soon a scrub Job that could not be created (its generated name was taken) or recorded is tried again. */
export const startRetryMs = 1_000;

export interface ReclaimFacts {
  volume: V1PersistentVolume;
  /** The claim the claimRef names still holds the volume (claimHoldsVolume, read live). */
  claimExists: boolean;
  /** Names of running pods that may still use the volume. */
  podsUsing: readonly string[];
  job: JobState;
  /** Whether the volume's source can be scrubbed by a Job, and why not. */
  scrubbable: { ok: true } | { ok: false; why: string };
  /** Other volumes that see the same files (one NFS export, equal or nested paths): a scrub would empty them too. */
  sharedWith?: readonly string[];
  maxRetries: number;
  /** ms since epoch. */
  now: number;
  retryBaseMs?: number;
  /** The in-tree PV controller runs beside (--controllers without binder): see inTreeReclaims. */
  besideInTreeBinder?: boolean;
}

export type Operation = 'recycle' | 'delete';

/** Phase Failed with a message and an event. */
export type FailPlan = {
  action: 'fail';
  event: PlannedEvent;
  message: string;
  /** Failures of this release including this one, to record; absent when retrying makes no sense. */
  failures?: number;
  retry: boolean;
  /** When retry: how long to wait before the next attempt. */
  requeueAfterMs?: number;
  /** An administrator's request has had its retries: remove it, even while the policy keeps retrying. */
  answerRequest?: boolean;
} & (
  | { deleteJob: false; operation?: Operation }
  /** The failed Job to delete so a retry can create it again; operation: what it ran, for metrics. */
  | { deleteJob: true; operation: Operation }
);

/** requeueAfterMs: how soon to look at the volume again (absent: when something changes). */
export type ReclaimPlan =
  | { action: 'none' }
  /**
   * Preconditions not met yet; look again later. mountClaim: make the claim
   * the running scrub mounts if it is missing (a restart may have come
   * between the Job and its claim).
   */
  | { action: 'wait'; why: string; event?: PlannedEvent; requeueAfterMs?: number; mountClaim?: true }
  /** Drop a request annotation that cannot be honoured, saying why. */
  | { action: 'dropRequest'; event: PlannedEvent }
  /** Clear claimRef keeping the data: the volume becomes Available. */
  | { action: 'release'; event: PlannedEvent }
  /**
   * resetFailures: an administrator asked again after the retries ran out.
   * retryAfterMs: how soon to look again when the Job could not be created or recorded.
   */
  | { action: 'startJob'; operation: Operation; resetFailures: boolean; retryAfterMs: number }
  /**
   * Delete the unrecorded Jobs that claim the volume (and their pods), so a
   * Job of ours can take their place; until they are gone the volume waits.
   */
  | { action: 'replaceJob'; event: PlannedEvent; requeueAfterMs: number }
  /** Delete the PersistentVolume object only, its data left where it is (hostpath-delete.ts). */
  | { action: 'deleteObject'; event: PlannedEvent }
  /** The scrub finished for this release: clear claimRef (recycle) or delete the volume. */
  | { action: 'finish'; operation: Operation; event?: PlannedEvent }
  | FailPlan;

export function releasedClaimUid(volume: V1PersistentVolume): string | undefined {
  return volume.spec?.claimRef?.uid ?? undefined;
}

export interface Failures {
  count: number;
  lastAt: number;
}

/** Scrub failures recorded for the current release (a record of an earlier release counts as none). */
export function failuresOf(volume: V1PersistentVolume): Failures {
  const value = volume.metadata?.annotations?.[annReclaimFailures];
  const uid = releasedClaimUid(volume);
  const none = { count: 0, lastAt: 0 };
  if (!value || !uid) return none;
  const [owner, count, lastAt] = value.split('/');
  const n = Number(count);
  const t = Number(lastAt);
  if (owner !== uid || !Number.isInteger(n) || n <= 0) return none;
  return { count: n, lastAt: Number.isFinite(t) ? t : 0 };
}

export function failuresValue(uid: string, count: number, at: number): string {
  return `${uid}/${String(count)}/${String(at)}`;
}

/** Exponential backoff between recycle attempts: 10 s, 20 s, 40 s, ... capped at 10 min. */
export function retryDelayMs(failures: number, baseMs = 10_000, maxMs = 600_000): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
}

/**
 * The wait after the given number of failures: the backoff for the first
 * maxRetries, then the longest of them for good. Upstream retries a failed
 * reclaim on every sync without a limit; the backoff only spaces the tries.
 */
export function retryDelayAfter(failures: number, maxRetries: number, baseMs?: number): number {
  return retryDelayMs(Math.min(failures, Math.max(1, maxRetries)), baseMs);
}

function requestOf(volume: V1PersistentVolume): string | undefined {
  return volume.metadata?.annotations?.[annReclaimRequest];
}

export function isOurs(volume: V1PersistentVolume): boolean {
  return madeByUs(volume);
}

/**
 * Whether the in-tree controller, running beside, reclaims the volume
 * itself: it acts on every spec policy but Retain. The operator then stands
 * down, requests included, or both would scrub (and one might empty a volume
 * the other had already handed to a new claim).
 */
export function inTreeReclaims(volume: V1PersistentVolume, besideInTreeBinder: boolean): boolean {
  return besideInTreeBinder && specPolicy(volume) !== 'Retain';
}

/**
 * The plan for one volume. Only Released volumes (and Failed ones of a
 * release we are retrying) are reclaimed; anything else is left to the binder.
 */
export function planReclaim(f: ReclaimFacts): ReclaimPlan {
  const plan = planRelease(f);
  // Whatever the volume waits for, a running scrub through a claim needs its claim.
  if (plan.action === 'wait' && f.job.state === 'running' && needsScrubClaim(f.volume)) {
    return { ...plan, mountClaim: true };
  }
  return plan;
}

function planRelease(f: ReclaimFacts): ReclaimPlan {
  const { volume } = f;
  const phase = volume.status?.phase;
  const request = requestOf(volume);
  const uid = releasedClaimUid(volume);

  // A volume being deleted is never scrubbed (again): its release is over.
  if (volume.metadata?.deletionTimestamp) return { action: 'none' };
  if (inTreeReclaims(volume, f.besideInTreeBinder ?? false)) return { action: 'none' };
  const failedByUs = phase === 'Failed' && failuresOf(volume).count > 0;
  const released = phase === 'Released' || failedByUs;

  if (request !== undefined && !(reclaimRequests as readonly string[]).includes(request)) {
    return {
      action: 'dropRequest',
      event: {
        type: 'Warning',
        reason: 'ReclaimRequestInvalid',
        note: `annotation ${annReclaimRequest}="${request}" is not one of: ${reclaimRequests.join(', ')}; removed it`,
      },
    };
  }
  if (!released || !uid) {
    if (request === undefined || phase === 'Failed') return { action: 'none' };
    return {
      action: 'dropRequest',
      event: {
        type: 'Warning',
        reason: 'ReclaimRequestIgnored',
        note: `${annReclaimRequest}=${request} applies only to a Released volume; this one is ${phase ?? 'without a phase'}. Removed the annotation`,
      },
    };
  }

  // Never act while the released claim still exists or a pod may still use the data.
  if (f.claimExists) {
    return { action: 'wait', why: `claim ${claimName(volume)} with uid ${uid} still exists` };
  }
  if (f.podsUsing.length > 0) {
    return {
      action: 'wait',
      why: `pods still use claim ${claimName(volume)}: ${f.podsUsing.slice(0, 5).join(', ')}`,
      event: {
        type: 'Normal',
        reason: 'ReclaimWaiting',
        note: `waiting for pods that use claim ${claimName(volume)} to finish: ${f.podsUsing.slice(0, 5).join(', ')}`,
      },
      requeueAfterMs: podsUsingRecheckMs,
    };
  }

  if (request === 'release') {
    if (f.job.state === 'running' || f.job.state === 'stopping')
      return {
        action: 'wait',
        why: 'a scrub Job of this release is still running',
        requeueAfterMs: stoppingRecheckMs,
      };
    return {
      action: 'release',
      event: {
        type: 'Normal',
        reason: 'VolumeReleasedByRequest',
        note: `claimRef to ${claimName(volume)} cleared on request (${annReclaimRequest}=release); the data was kept and the volume is Available`,
      },
    };
  }

  const { policy } = effectiveReclaimPolicy(volume);
  let operation: Operation;
  if (request === 'recycle' || policy === 'Recycle') {
    operation = 'recycle';
  } else if (policy === 'Retain') {
    return { action: 'none' };
  } else if (policy === 'Delete') {
    const provisioner = volume.metadata?.annotations?.[annProvisionedBy];
    if (isUpstreamHostPathDelete(volume, provisioner)) {
      return planHostPathDelete(volume, f.job, stoppingRecheckMs);
    }
    if (provisioner !== undefined && provisioner !== ourProvisioner) return { action: 'none' };
    if (provisioner === undefined) {
      // A CSI (or CSI-migrated) volume is its driver's to delete: upstream stands down
      // without a word rather than calling it Failed.
      if (volume.spec?.csi || hasAnnotation(volume, annMigratedTo)) return { action: 'none' };
      if (phase === 'Failed') return { action: 'none' };
      const message = `error getting deleter volume plugin for volume "${volume.metadata?.name ?? ''}": no deletable volume plugin matched`;
      return undeletable(
        message,
        'This volume was not made by a provisioner, so nothing can delete its storage: delete the ' +
          'data and the PersistentVolume yourself, or set persistentVolumeReclaimPolicy to Retain or ' +
          `Recycle, or annotate it ${annReclaimRequest}=recycle to scrub and reuse it`,
      );
    }
    operation = 'delete';
  } else {
    if (phase === 'Failed') return { action: 'none' };
    return {
      action: 'fail',
      message: `Volume has unrecognized PersistentVolumeReclaimPolicy "${policy}"`,
      event: {
        type: 'Warning',
        reason: 'VolumeUnknownReclaimPolicy',
        note: 'Volume has unrecognized PersistentVolumeReclaimPolicy',
      },
      deleteJob: false,
      retry: false,
    };
  }

  // Whether the reclaim policy itself calls for this operation (not only a request).
  const byPolicy = operation === 'delete' || policy === 'Recycle';
  const failedReason = operation === 'recycle' ? 'VolumeFailedRecycle' : 'VolumeFailedDelete';
  if (!f.scrubbable.ok) {
    if (phase === 'Failed') return { action: 'none' };
    return {
      action: 'fail',
      message: f.scrubbable.why,
      event: {
        type: 'Warning',
        reason: failedReason,
        note: `${operation === 'recycle' ? 'Recycle' : 'Delete'} failed: ${f.scrubbable.why}`,
      },
      deleteJob: false,
      operation,
      retry: false,
    };
  }

  switch (f.job.state) {
    case 'stopping':
      if (f.job.pods?.length) {
        const note = `waiting for pods that say they scrub this volume to end before scrubbing it: ${f.job.pods.join(', ')}`;
        return {
          action: 'wait',
          why: note,
          event: { type: 'Normal', reason: 'ReclaimWaiting', note },
          requeueAfterMs: stoppingRecheckMs,
        };
      }
      return {
        action: 'wait',
        why: 'a scrub Job of this release is being deleted',
        requeueAfterMs: stoppingRecheckMs,
      };
    case 'unrecorded':
      return {
        action: 'replaceJob',
        event: { type: 'Warning', reason: 'ReclaimJobMismatch', note: f.job.message },
        requeueAfterMs: stoppingRecheckMs,
      };
    case 'running':
      if (f.job.blocked) {
        // Left running: the Job controller keeps trying, and succeeds once the
        // administrator lifts what refuses the pod.
        const note = `the scrub Job cannot create its pod: ${f.job.blocked}`;
        return {
          action: 'wait',
          why: note,
          event: { type: 'Warning', reason: 'RecycleBlocked', note },
          requeueAfterMs: blockedRecheckMs,
        };
      }
      // A Job without a pod changes no more if its pod is refused: look again.
      if (f.job.noPodYet) {
        return { action: 'wait', why: 'the scrub Job has no pod yet', requeueAfterMs: noPodRecheckMs };
      }
      return { action: 'wait', why: 'the scrub Job is running' };
    case 'succeeded':
      return {
        action: 'finish',
        operation,
        event:
          operation === 'recycle'
            ? { type: 'Normal', reason: 'VolumeRecycled', note: 'Volume recycled' }
            : undefined,
      };
    case 'failed': {
      const failures = failuresOf(volume).count + 1;
      // The policy's own reclaim is retried for good, as upstream does; an
      // administrator's request is answered once its retries are spent.
      const retry = byPolicy || failures <= f.maxRetries;
      const requeueAfterMs = retry ? retryDelayAfter(failures, f.maxRetries, f.retryBaseMs) : undefined;
      const next =
        requeueAfterMs === undefined ? 'no more attempts' : `next in ${formatDelay(requeueAfterMs)}`;
      return {
        action: 'fail',
        message: `scrub Job failed (attempt ${String(failures)}, ${next}): ${f.job.message}`,
        event: {
          type: 'Warning',
          reason: failedReason,
          note: `${operation === 'recycle' ? 'Recycle' : 'Delete'} failed: ${f.job.message} (attempt ${String(failures)}, ${next})`,
        },
        deleteJob: true,
        operation,
        failures,
        retry,
        requeueAfterMs,
        answerRequest: request !== undefined && failures > f.maxRetries,
      };
    }
    case 'absent': {
      if (f.sharedWith?.length) {
        const names = f.sharedWith.slice(0, 3).join(', ');
        const note =
          `not scrubbing: volume${f.sharedWith.length === 1 ? '' : 's'} ${names} ${f.sharedWith.length === 1 ? 'sees' : 'see'} ` +
          'the same files (the same NFS server, a path equal to or nested with this one), so a scrub would delete ' +
          'their data too. Delete them or point them elsewhere, or set this volume to Retain';
        return {
          action: 'wait',
          why: note,
          event: { type: 'Warning', reason: 'RecycleBlocked', note },
          requeueAfterMs: blockedRecheckMs,
        };
      }
      const failed = failuresOf(volume);
      // A request made after the retries were spent (on a Recycle volume that
      // keeps retrying, or anew) starts afresh, at once.
      const askedAgain = request !== undefined && failed.count > f.maxRetries;
      if (failed.count > 0 && !askedAgain) {
        const due = failed.lastAt + retryDelayAfter(failed.count, f.maxRetries, f.retryBaseMs);
        if (f.now < due) {
          return { action: 'wait', why: 'backing off after a failed scrub', requeueAfterMs: due - f.now };
        }
      }
      return { action: 'startJob', operation, resetFailures: askedAgain, retryAfterMs: startRetryMs };
    }
  }
}

/** A Delete nothing can carry out: Failed for good (no Job, no retry), with what to do in the event. */
export function undeletable(message: string, advice: string): ReclaimPlan {
  return {
    action: 'fail',
    message,
    event: { type: 'Warning', reason: 'VolumeFailedDelete', note: `${message}. ${advice}` },
    deleteJob: false,
    operation: 'delete',
    retry: false,
  };
}

/**
 * The scrub the volume's current release calls for, if any. A scrub Job that
 * runs for anything else (the volume is gone, its claimRef was cleared or
 * changed, its policy is now Retain, an administrator asked to release it
 * with its data) must be stopped at once.
 */
export function scrubWanted(volume: V1PersistentVolume, besideInTreeBinder = false): Operation | undefined {
  if (volume.metadata?.deletionTimestamp) return undefined;
  if (inTreeReclaims(volume, besideInTreeBinder)) return undefined;
  const phase = volume.status?.phase;
  const released = phase === 'Released' || (phase === 'Failed' && failuresOf(volume).count > 0);
  if (!released || !releasedClaimUid(volume)) return undefined;
  const request = requestOf(volume);
  if (request === 'release') return undefined;
  const { policy } = effectiveReclaimPolicy(volume);
  if (request === 'recycle' || policy === 'Recycle') return 'recycle';
  if (policy === 'Delete' && isOurs(volume)) return 'delete';
  return undefined;
}

function formatDelay(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 120 && s % 60 === 0 ? `${String(s / 60)}m` : `${String(s)}s`;
}

function claimName(volume: V1PersistentVolume): string {
  return namespacedName(volume.spec?.claimRef?.namespace, volume.spec?.claimRef?.name);
}
