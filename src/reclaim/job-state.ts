// What a scrub Job and its pods say about the scrub, as the reclaim plan
// needs it (JobState). Pure: the facts module reads the Jobs, pods and events
// and hands them here; nothing is trusted beyond what trust.ts proves.
import type { CoreV1Event, V1Job, V1PersistentVolume, V1Pod } from '@kubernetes/client-node';

import type { PlannedEvent } from '../kube/planned-event.ts';
import { namespacedName } from '../kube/refs.ts';
import type { JobState, Operation } from './decide.ts';
import { annVolumeName } from './job.ts';
import { type ReleaseJobs, recordNamesJob } from './trust.ts';

/** A scrub Job younger than this may simply not have its pod yet. */
export const podStartGraceMs = 5_000;

export function jobCondition(
  job: V1Job,
  type: string,
): { status: boolean; reason?: string; message?: string } {
  const c = job.status?.conditions?.find((x) => x.type === type);
  return { status: c?.status === 'True', reason: c?.reason, message: c?.message };
}

export const isRunning = (job: V1Job): boolean =>
  !jobCondition(job, 'Complete').status && !jobCondition(job, 'Failed').status;

/** Whether the Job controller has made a pod for the Job (running, done or failed). */
export function hasPod(job: V1Job): boolean {
  const st = job.status;
  return (
    (st?.active ?? 0) > 0 || (st?.succeeded ?? 0) > 0 || (st?.failed ?? 0) > 0 || (st?.terminating ?? 0) > 0
  );
}

/**
 * Whether the Job's pods may still be at work on the volume: it has not
 * finished, or pods of it are active or still terminating (a Failed Job's
 * pod can take its grace period to stop).
 */
export function mayBeScrubbing(job: V1Job): boolean {
  if ((job.status?.active ?? 0) > 0 || (job.status?.terminating ?? 0) > 0) return true;
  // Being deleted counts until it is gone: the Job controller can still make a
  // pod for a Job it has not yet seen deleted, and its counts lag behind.
  return isRunning(job);
}

/** The state of the Job recorded for this release (sortReleaseJobs checked the record). */
export function jobState(job: V1Job): JobState {
  if (jobCondition(job, 'Complete').status) return { state: 'succeeded' };
  const failed = jobCondition(job, 'Failed');
  if (failed.status) {
    return {
      state: 'failed',
      message: `${failed.reason ?? 'Failed'}: ${failed.message ?? 'the scrub Job failed'}`,
    };
  }
  return { state: 'running' };
}

/** What the volume's Jobs (in namespace) say, before their pods are looked at: anything unrecorded comes first. */
export function releaseState(jobs: ReleaseJobs, namespace: string): JobState {
  if (jobs.unrecorded.length > 0) {
    const names = jobs.unrecorded
      .slice(0, 5)
      .map((j) => namespacedName(namespace, j.metadata?.name))
      .join(', ');
    return {
      state: 'unrecorded',
      message:
        `Job ${names} claims to scrub this volume but is not the one this operator recorded on the volume ` +
        "for this release (a look-alike, an earlier release's, or left by a restart before it was recorded); " +
        'deleting it and its pods, and starting a scrub of its own',
    };
  }
  if (jobs.stopping.length > 0) return { state: 'stopping' };
  return jobs.recorded ? jobState(jobs.recorded) : { state: 'absent' };
}

/**
 * Of the pods in namespace, those that say they scrub the volume and have
 * not ended, whoever made them (names, at most 5). Nothing new starts on the
 * volume while one may still be at work on it.
 */
export function activeScrubPods(pods: readonly V1Pod[], volumeName: string, namespace: string): string[] {
  return pods
    .filter((p) => p.metadata?.annotations?.[annVolumeName] === volumeName)
    .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
    .slice(0, 5)
    .map((p) => namespacedName(namespace, p.metadata?.name));
}

/** The failed pod's own words (only from pods the Job controls, and cut short: they are the pod's to write). */
export function failedPodMessage(job: V1Job, pods: readonly V1Pod[]): string | undefined {
  const uid = job.metadata?.uid;
  if (!uid) return undefined;
  const controlled = pods.filter((p) =>
    p.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === uid),
  );
  for (const pod of controlled) {
    for (const s of pod.status?.containerStatuses ?? []) {
      const t = s.state?.terminated;
      if (t && t.exitCode !== 0) {
        const words = (t.message?.trim() || t.reason || 'scrub failed').slice(0, 400);
        return `${words} (exit code ${String(t.exitCode)})`;
      }
    }
    const w = pod.status?.containerStatuses?.[0]?.state?.waiting;
    if (w?.reason) return `${w.reason}: ${w.message ?? ''}`.trim().slice(0, 400);
  }
  return undefined;
}

/** Whether a Job without a pod has had time to make one (else its refusal is not looked for yet). */
export function pastPodStartGrace(job: V1Job, nowMs: number): boolean {
  const created = job.metadata?.creationTimestamp;
  if (!job.metadata?.uid || !created) return false;
  // Written as "not younger": a timestamp that does not parse does not hold the look back.
  return !(nowMs - new Date(created).getTime() < podStartGraceMs);
}

/**
 * Why the Job has no pod: the message of the latest of the FailedCreate
 * events the Job controller wrote about it, cut short. Without this, a
 * refused pod shows only as DeadlineExceeded minutes later.
 */
export function latestRefusal(events: readonly CoreV1Event[]): string | undefined {
  const latest = events
    .map((e) => ({ at: new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime(), message: e.message ?? '' }))
    .sort((a, b) => b.at - a.at)[0];
  return latest?.message ? latest.message.slice(0, 600) : undefined;
}

/** The event for a started scrub Job (jobName: namespace/name). */
export function scrubStartedEvent(operation: Operation, jobName: string): PlannedEvent {
  return {
    type: 'Normal',
    reason: operation === 'recycle' ? 'RecycleStarted' : 'DeleteStarted',
    note: `scrubbing the volume with Job ${jobName} before ${operation === 'recycle' ? 'making it Available again' : 'deleting it'}`,
  };
}

/**
 * The event for a running Job deleted because it left the volume's release
 * (why): a scrub of ours cut short, or a look-alike's end.
 */
export function strayJobEvent(
  volume: V1PersistentVolume,
  job: V1Job,
  jobName: string,
  why: string,
): PlannedEvent {
  if (recordNamesJob(volume, job)) {
    return {
      type: 'Warning',
      reason: 'ScrubCancelled',
      note:
        `deleted the running scrub Job ${jobName} and its pod because ${why}; the scrub was cut short, ` +
        'so part of the released data may be gone and part left. No claim is bound while the pod stops',
    };
  }
  return {
    type: 'Warning',
    reason: 'ReclaimJobMismatch',
    note:
      `deleted Job ${jobName} and its pods: it claims to scrub this volume but this operator did not ` +
      `create it for the volume's release (${why})`,
  };
}
