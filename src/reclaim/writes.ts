// The volume bodies the reclaimer writes: pure functions that return the
// updated copy, or undefined when nothing would change (so no write is made).
// The controller PUTs the result with its resourceVersion as the precondition.
import type { V1Job, V1PersistentVolume } from '@kubernetes/client-node';

import { annBoundByController, hasAnnotation } from '../kube/annotations.ts';
import { type FailPlan, annReclaimFailures, annReclaimRequest, failuresValue } from './decide.ts';
import { annScrubJob, scrubJobRecordValue } from './trust.ts';

/** The annotations of one release: gone once the volume is freed. */
export const releaseAnnotations = [annReclaimRequest, annReclaimFailures, annScrubJob] as const;

type Annotations = Record<string, string>;

export function sameAnnotations(a: Annotations | undefined, b: Annotations | undefined): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => Object.hasOwn(y, k) && y[k] === x[k]);
}

/** The volume with these annotations (none: no map at all), or undefined when it has them already. */
function withAnnotations(
  volume: V1PersistentVolume,
  annotations: Annotations,
): V1PersistentVolume | undefined {
  if (sameAnnotations(annotations, volume.metadata?.annotations)) return undefined;
  return {
    ...volume,
    metadata: { ...volume.metadata, annotations: Object.keys(annotations).length ? annotations : undefined },
  };
}

function without(volume: V1PersistentVolume, keys: readonly string[]): Annotations {
  const annotations = { ...volume.metadata?.annotations };
  for (const k of keys) Reflect.deleteProperty(annotations, k);
  return annotations;
}

/** An administrator's request that cannot be honoured, removed. */
export function withoutRequest(volume: V1PersistentVolume): V1PersistentVolume | undefined {
  return withAnnotations(volume, without(volume, [annReclaimRequest]));
}

/** The failure count of the release forgotten: an administrator asked again after the retries ran out. */
export function withoutFailures(volume: V1PersistentVolume): V1PersistentVolume | undefined {
  return withAnnotations(volume, without(volume, [annReclaimFailures]));
}

/** The UID of the Job just created, recorded for the volume's current release: the only proof later that it is ours. */
export function withJobRecord(volume: V1PersistentVolume, job: V1Job): V1PersistentVolume | undefined {
  const record = scrubJobRecordValue({
    claimUid: volume.spec?.claimRef?.uid ?? '',
    jobName: job.metadata?.name ?? '',
    jobUid: job.metadata?.uid ?? '',
  });
  return withAnnotations(volume, { ...volume.metadata?.annotations, [annScrubJob]: record });
}

/**
 * The annotations of a failed reclaim: the failure count (when the plan
 * keeps one), the request answered once out of retries, and the record of a
 * Job about to be deleted gone.
 */
export function withFailure(
  volume: V1PersistentVolume,
  plan: FailPlan,
  nowMs: number,
): V1PersistentVolume | undefined {
  const annotations = { ...volume.metadata?.annotations };
  if (plan.failures !== undefined) {
    annotations[annReclaimFailures] = failuresValue(volume.spec?.claimRef?.uid ?? '', plan.failures, nowMs);
  }
  if (!plan.retry || plan.answerRequest) Reflect.deleteProperty(annotations, annReclaimRequest);
  if (plan.deleteJob) Reflect.deleteProperty(annotations, annScrubJob);
  return withAnnotations(volume, annotations);
}

/** Phase Failed with the message, stamping the transition time. */
export function failedStatus(
  volume: V1PersistentVolume,
  message: string,
  now: Date,
): V1PersistentVolume | undefined {
  if (volume.status?.phase === 'Failed' && volume.status.message === message) return undefined;
  return { ...volume, status: { ...volume.status, phase: 'Failed', message, lastPhaseTransitionTime: now } };
}

/** Released on request with its data: claimRef cleared, the release's and bound-by-controller annotations gone. */
export function releasedVolume(volume: V1PersistentVolume): V1PersistentVolume | undefined {
  const annotated = withAnnotations(volume, without(volume, [...releaseAnnotations, annBoundByController]));
  if (!volume.spec?.claimRef) return annotated;
  const v = annotated ?? volume;
  return { ...v, spec: { ...v.spec, claimRef: undefined } };
}

/**
 * The volume after a successful recycle, with the release's annotations
 * removed. As upstream: a volume the binder bound loses its claimRef and the
 * bound-by-controller mark; one an administrator pre-bound keeps the claim's
 * namespace and name and loses only the uid, so it stays reserved for a
 * claim of that name.
 */
export function recycledVolume(volume: V1PersistentVolume): V1PersistentVolume | undefined {
  const byBinder = hasAnnotation(volume, annBoundByController);
  const annotated = withAnnotations(
    volume,
    without(volume, byBinder ? [...releaseAnnotations, annBoundByController] : releaseAnnotations),
  );
  const ref = volume.spec?.claimRef;
  if (!ref || (!byBinder && ref.uid === undefined)) return annotated;
  const v = annotated ?? volume;
  return { ...v, spec: { ...v.spec, claimRef: byBinder ? undefined : { ...ref, uid: undefined } } };
}

/**
 * Phase Available once claimRef is cleared; undefined when the volume is
 * Available already or the binder has bound it meanwhile (a claimRef with a
 * uid: a pre-bound volume keeps one without).
 */
export function availableStatus(volume: V1PersistentVolume, now: Date): V1PersistentVolume | undefined {
  if (volume.spec?.claimRef?.uid || volume.status?.phase === 'Available') return undefined;
  return { ...volume, status: { phase: 'Available', lastPhaseTransitionTime: now } };
}
