// Everything the reclaim plan reads, gathered in one place: the volume, its
// released claim and the pods that may use it, the release's scrub Jobs and
// what their pods prove, read live from the API (not the cache) before the
// reclaimer acts. Thin I/O: every judgement is a pure function (job-state.ts,
// trust.ts, users.ts, scrub-claim.ts).
import type {
  BatchV1Api,
  CoreV1Api,
  V1Job,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
} from '@kubernetes/client-node';

import { unlessNotFound } from '../kube/api-errors.ts';
import { claimHoldsVolume, readReferencedClaim } from '../kube/claims.ts';
import type { JobState, ReclaimFacts } from './decide.ts';
import {
  isRecyclable,
  needsScrubClaim,
  recyclerJobName,
  scrubClaimName,
  volumeLabel,
  volumeLabelValue,
} from './job.ts';
import {
  activeScrubPods,
  failedPodMessage,
  hasPod,
  latestRefusal,
  pastPodStartGrace,
  releaseState,
} from './job-state.ts';
import { isScrubClaimVolume, scrubClaimProblem } from './scrub-claim.ts';
import { type ReleaseJobs, scrubJobRecord, sortReleaseJobs, verifyScrub } from './trust.ts';
import { podsThatMayUse } from './users.ts';

/** The API clients, and the operator's namespace, where scrub Jobs, their pods and scrub claims live. */
export interface ReclaimApi {
  core: CoreV1Api;
  batch: BatchV1Api;
  namespace: string;
  /** The in-tree PV controller runs beside, and reclaims what its spec policy asks it to (inTreeReclaims). */
  besideInTreeBinder?: boolean;
}

export interface FactSources extends ReclaimApi {
  /** The Job informer's Jobs that claim the volume (by its annotation). */
  cachedJobs: (volumeName: string) => V1Job[];
  /** The other volumes that see the same files as this one. */
  sharingData?: (volume: V1PersistentVolume) => V1PersistentVolume[];
  maxRetries: number;
  retryBaseMs?: number;
}

/** The facts, and the release's Jobs the writes act on. */
export interface Gathered {
  facts: ReclaimFacts;
  jobs: ReleaseJobs;
}

export function readVolume(api: ReclaimApi, name: string): Promise<V1PersistentVolume | undefined> {
  return unlessNotFound(api.core.readPersistentVolume({ name }));
}

export function readScrubClaim(api: ReclaimApi, name: string): Promise<V1PersistentVolumeClaim | undefined> {
  return unlessNotFound(api.core.readNamespacedPersistentVolumeClaim({ name, namespace: api.namespace }));
}

/** The scrub claim (and its volume's name) of the volume's current release: named per release, owned by its Job. */
export function scrubClaimOf(volume: V1PersistentVolume): string {
  return scrubClaimName(recyclerJobName(volume.metadata?.name ?? '', volume.spec?.claimRef?.uid ?? ''));
}

function facts(
  src: FactSources,
  volume: V1PersistentVolume,
  claimExists: boolean,
  podsUsing: string[],
  job: JobState,
): ReclaimFacts {
  return {
    volume,
    claimExists,
    podsUsing,
    job,
    scrubbable: isRecyclable(volume),
    maxRetries: src.maxRetries,
    now: Date.now(),
    retryBaseMs: src.retryBaseMs,
    besideInTreeBinder: src.besideInTreeBinder,
  };
}

/**
 * A first opinion from the cache alone, with the most hopeful facts: most
 * Released volumes (Retain) need nothing, and need no API reads to know it.
 */
export function cachedFacts(src: FactSources, volume: V1PersistentVolume): ReclaimFacts {
  const jobs = sortReleaseJobs(volume, src.cachedJobs(volume.metadata?.name ?? ''));
  return facts(src, volume, false, [], releaseState(jobs, src.namespace));
}

/** The facts from live reads, for a volume (read live) the reclaimer may act on. */
export async function gatherFacts(src: FactSources, volume: V1PersistentVolume): Promise<Gathered> {
  const ref = volume.spec?.claimRef;
  // The claim of that name now, read once: whether it holds the volume, and which pods it speaks for.
  const current = await readReferencedClaim(src.core, ref);
  const claimExists = claimHoldsVolume(volume, current);
  const podsUsing =
    ref && !claimExists ? podsThatMayUse(volume, await podsOfNamespace(src, volume), current) : [];
  const jobs = await releaseJobsLive(src, volume);
  const job = await jobStateLive(src, volume, jobs);
  // A scrub's own claim volume sees the same files, by design.
  const sharedWith = (src.sharingData?.(volume) ?? [])
    .filter((v) => !isScrubClaimVolume(v, src.namespace, volume.metadata?.uid))
    .map((v) => v.metadata?.name ?? '');
  return { facts: { ...facts(src, volume, claimExists, podsUsing, job), sharedWith }, jobs };
}

/** The pods of the released claim's namespace (podsThatMayUse picks those that may use it). */
async function podsOfNamespace(api: ReclaimApi, volume: V1PersistentVolume): Promise<V1Pod[]> {
  const namespace = volume.spec?.claimRef?.namespace;
  if (!namespace || !volume.spec?.claimRef?.name) return [];
  return (await api.core.listNamespacedPod({ namespace })).items;
}

/**
 * The volume's Jobs as the API has them now: those with its volume label,
 * and, each read again, the Job at the recorded name and any other the
 * cache holds for the volume (a look-alike may lack the label).
 */
async function releaseJobsLive(src: FactSources, volume: V1PersistentVolume): Promise<ReleaseJobs> {
  const name = volume.metadata?.name ?? '';
  const listed = await src.batch.listNamespacedJob({
    namespace: src.namespace,
    labelSelector: `${volumeLabel}=${volumeLabelValue(name)}`,
  });
  const jobs = [...listed.items];
  const others = new Set(src.cachedJobs(name).map((j) => j.metadata?.name ?? ''));
  const recordName = scrubJobRecord(volume)?.jobName;
  if (recordName) others.add(recordName);
  for (const other of others) {
    if (other === '' || jobs.some((j) => j.metadata?.name === other)) continue;
    const job = await unlessNotFound(src.batch.readNamespacedJob({ name: other, namespace: src.namespace }));
    if (job) jobs.push(job);
  }
  return sortReleaseJobs(volume, jobs);
}

/**
 * The Job of this release as the API has it now: trusted only if it is the
 * one recorded on the volume, and its success only if its pods prove it.
 */
async function jobStateLive(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  jobs: ReleaseJobs,
): Promise<JobState> {
  const state = releaseState(jobs, api.namespace);
  const job = jobs.recorded;
  if (state.state === 'absent') {
    // A pod the Job controller made late for a Job deleted since may still be at work.
    const pods = await scrubPodsAtWork(api, volume);
    return pods.length > 0 ? { state: 'stopping', pods } : state;
  }
  if (!job || state.state === 'unrecorded' || state.state === 'stopping') return state;
  if (state.state === 'running' && !hasPod(job)) {
    const blocked = await podRefusal(api, job);
    return blocked ? { state: 'running', blocked } : { state: 'running', noPodYet: true };
  }
  if (state.state === 'succeeded') {
    const verdict = verifyScrub(job, await podsOf(api, job));
    const why = verdict.ok ? await scrubClaimProblemLive(api, volume, verdict.pod) : verdict.why;
    if (why !== undefined)
      return { state: 'failed', message: `the scrub's success could not be verified: ${why}` };
    // Every pod of the Job has ended (verifyScrub); a pod of a Job deleted before may not have.
    const pods = await scrubPodsAtWork(api, volume);
    return pods.length > 0 ? { state: 'stopping', pods } : state;
  }
  if (state.state !== 'failed') return state;
  const podMessage = failedPodMessage(job, await podsOf(api, job));
  return podMessage ? { state: 'failed', message: podMessage } : state;
}

/** For a scrub through a claim: whether the claim the pod mounted was bound to this volume's export. */
async function scrubClaimProblemLive(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  pod: V1Pod,
): Promise<string | undefined> {
  if (!needsScrubClaim(volume)) return undefined;
  const name = scrubClaimOf(volume);
  const claim = await readScrubClaim(api, name);
  const shadow = await readVolume(api, name);
  return scrubClaimProblem(volume, claim, shadow, pod);
}

/** Pods of the operator's namespace labelled for the volume that have not ended (activeScrubPods). */
async function scrubPodsAtWork(api: ReclaimApi, volume: V1PersistentVolume): Promise<string[]> {
  const name = volume.metadata?.name ?? '';
  const pods = await api.core.listNamespacedPod({
    namespace: api.namespace,
    labelSelector: `${volumeLabel}=${volumeLabelValue(name)}`,
  });
  return activeScrubPods(pods.items, name, api.namespace);
}

async function podsOf(api: ReclaimApi, job: V1Job): Promise<V1Pod[]> {
  const pods = await api.core.listNamespacedPod({
    namespace: api.namespace,
    labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata?.uid ?? ''}`,
  });
  return pods.items;
}

/** Why a Job that has had time to start a pod has none (latestRefusal), if the Job controller said. */
async function podRefusal(api: ReclaimApi, job: V1Job): Promise<string | undefined> {
  if (!pastPodStartGrace(job, Date.now())) return undefined;
  const events = await api.core.listNamespacedEvent({
    namespace: api.namespace,
    fieldSelector: `involvedObject.uid=${job.metadata?.uid ?? ''},reason=FailedCreate`,
  });
  return latestRefusal(events.items);
}
