// Which scrub Job and pods the reclaimer believes. Anyone who may create Jobs
// or pods in the operator's namespace can copy a scrub Job's name, labels,
// annotations and owner reference, so none of those prove anything. What does:
// - the Job's UID, recorded on the volume (which only cluster administrators
//   may write) right after this operator created the Job;
// - pods that name that UID as their controller and were made from that
//   Job's own template (a Job's template is immutable), whose scrub container
//   exited 0 with the script's own result line as its termination message.
// A pod that passes these checks ran the scrub script on the volume's source,
// whoever created it. Everything here is pure.
import type { V1Container, V1Job, V1PersistentVolume, V1Pod, V1Volume } from '@kubernetes/client-node';

import { namespacedName } from '../kube/refs.ts';
import { effectiveReclaimPolicy, specPolicy } from '../kube/reclaim-policy.ts';
import { annReclaimRequest, failuresOf, inTreeReclaims, scrubWanted } from './decide.ts';
import { annClaimUid, annOperation, annVolumeName, annVolumeUid } from './job.ts';
import { scrubMountPath } from './scrub.ts';
import { scrubContainerName } from './template.ts';

/** On the volume: "<released claim uid>/<job name>/<job uid>" of the scrub Job this operator created. */
export const annScrubJob = 'pvlifecycle.io/scrub-job';

export interface ScrubJobRecord {
  claimUid: string;
  jobName: string;
  jobUid: string;
}

export function scrubJobRecordValue(r: ScrubJobRecord): string {
  return `${r.claimUid}/${r.jobName}/${r.jobUid}`;
}

/** The record on the volume for its current release, if any (a record of an earlier release counts as none). */
export function scrubJobRecord(volume: V1PersistentVolume): ScrubJobRecord | undefined {
  const record = anyRecord(volume);
  const claimUid = volume.spec?.claimRef?.uid;
  return record && claimUid && record.claimUid === claimUid ? record : undefined;
}

const jobNamePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A Job's UID is the API server's (a UUID). */
const jobUidPattern = /^[^/]{1,128}$/;

/**
 * The record as written, for whichever release; undefined when absent or
 * malformed (a Job name is a DNS label). The claim uid is copied from
 * claimRef.uid, which an administrator may set to any text: it is only
 * compared, and not bounded here, so that no claimRef the operator recorded
 * reads back as no record (that would replace the Job on every sync).
 */
export function anyRecord(volume: V1PersistentVolume | undefined): ScrubJobRecord | undefined {
  const parts = (volume?.metadata?.annotations?.[annScrubJob] ?? '').split('/');
  if (parts.length !== 3) return undefined;
  const [claimUid = '', jobName = '', jobUid = ''] = parts;
  if (claimUid === '' || !jobNamePattern.test(jobName) || !jobUidPattern.test(jobUid)) return undefined;
  return { claimUid, jobName, jobUid };
}

/** Whether the Job says it scrubs this volume (anyone can say so: see sortReleaseJobs). */
export function claimsVolume(volume: V1PersistentVolume, job: V1Job): boolean {
  const name = volume.metadata?.name;
  return name !== undefined && job.metadata?.annotations?.[annVolumeName] === name;
}

export interface ReleaseJobs {
  /** The Job recorded on the volume for its current release, when it is among them and not being deleted. */
  recorded?: V1Job;
  /**
   * Every other Job that claims the volume and is not being deleted: a
   * look-alike, a Job of an earlier release, or one this operator created
   * just before a restart, before it could record it. Nothing proves which
   * (only the UID returned to the create call does, and that is the record),
   * so none is trusted or adopted: each is deleted, and a new scrub started.
   */
  unrecorded: V1Job[];
  /** Jobs that claim the volume and are being deleted: their pods may still be at work. */
  stopping: V1Job[];
}

/**
 * The volume's Jobs, sorted by what they are to its current release. jobs
 * may hold the same Job twice (a live list and the cache) and Jobs of other
 * volumes; both are skipped. A Job counts for the volume by its annotation
 * (as the Job informer's index does), so a look-alike always counts.
 */
export function sortReleaseJobs(volume: V1PersistentVolume, jobs: readonly V1Job[]): ReleaseJobs {
  const out: ReleaseJobs = { unrecorded: [], stopping: [] };
  const seen = new Set<string>();
  for (const job of jobs) {
    const uid = job.metadata?.uid ?? '';
    if (!claimsVolume(volume, job) || seen.has(uid)) continue;
    seen.add(uid);
    if (job.metadata?.deletionTimestamp) out.stopping.push(job);
    else if (isRecordedJob(volume, job)) out.recorded = job;
    else out.unrecorded.push(job);
  }
  return out;
}

/** Whether the volume's record names this Job, for whichever release (so it is ours). */
export function recordNamesJob(volume: V1PersistentVolume | undefined, job: V1Job): boolean {
  const r = anyRecord(volume);
  return r !== undefined && r.jobName === job.metadata?.name && r.jobUid === job.metadata.uid;
}

/** Whether this Job is the one recorded on the volume for its current release. */
export function isRecordedJob(volume: V1PersistentVolume, job: V1Job): boolean {
  const r = scrubJobRecord(volume);
  return r !== undefined && r.jobName === job.metadata?.name && r.jobUid === job.metadata.uid;
}

/** The line the scrub script prints and writes to the termination message on success. */
const resultLine = new RegExp(
  `^scrubbed (?:1 entry|(?:[02-9]|[1-9]\\d{1,14}) entries) from ${scrubMountPath}$`,
);

export function isScrubResultLine(message: string | undefined): boolean {
  return resultLine.test((message ?? '').trim());
}

const controllerUid = (pod: V1Pod): string | undefined =>
  pod.metadata?.ownerReferences?.find((o) => o.controller === true)?.uid;

/** What decides what a container does: compared between a pod and its Job's template. */
function conduct(c: V1Container): string {
  const mounts = [...(c.volumeMounts ?? [])]
    .map((m) => ({
      name: m.name,
      path: m.mountPath,
      sub: m.subPath ?? '',
      subExpr: m.subPathExpr ?? '',
      ro: m.readOnly ?? false,
    }))
    .sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return JSON.stringify({
    image: c.image,
    command: c.command ?? [],
    args: c.args ?? [],
    workingDir: c.workingDir ?? '',
    env: c.env ?? [],
    envFrom: c.envFrom ?? [],
    mounts,
  });
}

/** The pod volume named name, as JSON ("" when absent): both sides are defaulted alike by the API server. */
function volumeOf(volumes: readonly V1Volume[] | undefined, name: string): string {
  const v = volumes?.find((x) => x.name === name);
  return v ? JSON.stringify(v) : '';
}

/**
 * Why the pod was not made from the Job's template, or undefined if it was
 * in everything that decides what it runs and what it sees: every container
 * and init container (image, command, arguments, working directory,
 * environment, mounts), every volume they mount, and no ephemeral containers.
 */
export function podDiffersFromJob(pod: V1Pod, job: V1Job): string | undefined {
  const name = pod.metadata?.name ?? '';
  if (controllerUid(pod) !== job.metadata?.uid) return `pod ${name} is not controlled by the Job`;
  const want = job.spec?.template.spec;
  const have = pod.spec;
  if (!have?.containers.some((c) => c.name === scrubContainerName)) {
    return `pod ${name} has no ${scrubContainerName} container`;
  }
  if ((have.ephemeralContainers?.length ?? 0) > 0) return `pod ${name} has ephemeral containers`;
  for (const [kind, mine, theirs] of [
    ['containers', have.containers, want?.containers ?? []],
    ['init containers', have.initContainers ?? [], want?.initContainers ?? []],
  ] as const) {
    if (mine.length !== theirs.length) return `pod ${name} runs other ${kind} than the Job's`;
    for (const c of mine) {
      const t = theirs.find((x) => x.name === c.name);
      if (!t) return `pod ${name} runs other ${kind} than the Job's`;
      if (c.image !== t.image) return `pod ${name} runs image ${c.image ?? ''}, not the Job's`;
      if (
        JSON.stringify([c.command ?? [], c.args ?? []]) !== JSON.stringify([t.command ?? [], t.args ?? []])
      ) {
        return `pod ${name} runs another command than the scrub`;
      }
      if (conduct(c) !== conduct(t)) return `pod ${name} sets up container ${c.name} otherwise than the Job`;
      for (const m of c.volumeMounts ?? []) {
        const source = volumeOf(have.volumes, m.name);
        if (source === '' || source !== volumeOf(want?.volumes, m.name)) {
          return `pod ${name} mounts another volume source at ${m.mountPath}`;
        }
      }
    }
  }
  return undefined;
}

export type ScrubVerdict = { ok: true; result: string; pod: V1Pod } | { ok: false; why: string };

/**
 * Whether the Job's pods prove the scrub ran to its end: every pod the Job
 * controls was made from its template, and one of them ended with the scrub
 * container's exit code 0 and the script's result line.
 */
export function verifyScrub(job: V1Job, pods: readonly V1Pod[]): ScrubVerdict {
  const jobUid = job.metadata?.uid;
  // Pods with the Job's label but another controller do not count for the
  // Job controller either; a pod it adopted or made counts, and must be true.
  const ofJob = pods.filter((p) => controllerUid(p) === jobUid);
  if (ofJob.length === 0) return { ok: false, why: 'the scrub Job has no pods left to show its result' };
  for (const pod of ofJob) {
    const differs = podDiffersFromJob(pod, job);
    if (differs) return { ok: false, why: differs };
    // Nothing of the Job may still be at work on a volume about to be handed out.
    const phase = pod.status?.phase;
    if (phase !== 'Succeeded' && phase !== 'Failed') {
      return {
        ok: false,
        why: `pod ${pod.metadata?.name ?? ''} of the scrub Job is still ${phase ?? 'starting'}`,
      };
    }
  }
  for (const pod of ofJob) {
    if (pod.status?.phase !== 'Succeeded') continue;
    const t = pod.status.containerStatuses?.find((s) => s.name === scrubContainerName)?.state?.terminated;
    if (t?.exitCode === 0 && isScrubResultLine(t.message))
      return { ok: true, result: (t.message ?? '').trim(), pod };
  }
  return {
    ok: false,
    why: "no pod of the scrub Job ended with the scrub's result line (scrubbed N entries from /scrub)",
  };
}

/**
 * Why a scrub Job no longer belongs to its volume's current release, or
 * undefined while it does (then it scrubs exactly what that release calls
 * for). A Job that does not belong is deleted, running or not.
 */
export function jobLeftRelease(
  volume: V1PersistentVolume | undefined,
  job: V1Job,
  besideInTreeBinder = false,
): string | undefined {
  if (!volume) return 'the volume was deleted';
  if (volume.metadata?.deletionTimestamp) return 'the volume is being deleted';
  const a = job.metadata?.annotations ?? {};
  if (a[annVolumeUid] !== volume.metadata?.uid) return 'the volume was deleted and made anew';
  const ref = volume.spec?.claimRef;
  if (!ref) return 'its claimRef was cleared';
  if (!ref.uid || ref.uid !== a[annClaimUid]) {
    return `its claimRef now names ${namespacedName(ref.namespace, ref.name)}${ref.uid ? '' : ' without a uid'}`;
  }
  const wanted = scrubWanted(volume, besideInTreeBinder);
  if (wanted === undefined) {
    const phase = volume.status?.phase ?? 'without a phase';
    const retrying = phase === 'Failed' && failuresOf(volume).count > 0;
    if (phase !== 'Released' && !retrying) return `it is ${phase} now`;
    if (volume.metadata?.annotations?.[annReclaimRequest] === 'release') {
      return 'an administrator asked to release it with its data';
    }
    if (inTreeReclaims(volume, besideInTreeBinder)) {
      return `the in-tree controller reclaims it (its spec says ${specPolicy(volume)})`;
    }
    return `its reclaim policy is ${effectiveReclaimPolicy(volume).policy} now`;
  }
  if (wanted !== a[annOperation]) return `it is to be ${wanted === 'delete' ? 'deleted' : 'recycled'} now`;
  // Whether it is the Job of this release is for the record to say, read live
  // (sortReleaseJobs): the cached volume may not show a record just written.
  return undefined;
}
