// The reclaim controller: what happens to a volume once its claim is gone
// (pv-controller.md §3). Retain keeps it Released; Recycle scrubs it with a Job
// and makes it Available; Delete scrubs and deletes volumes this operator made;
// an administrator can ask for a one-off recycle or release by annotation.
//
// Users' data first: a Job is started, and its result acted on, only after
// live reads (not the cache) confirm the volume is still Released for the same
// claim UID, that no claim with that UID exists and that no running pod uses
// the claim. The result counts only from the Job this operator created for this
// very release, known by the UID recorded on the volume, and only when its pods
// prove the scrub ran (trust.ts). A Job that no longer belongs to the volume's
// current release is deleted at once, with its pods, even mid-scrub.
import {
  BatchV1Api,
  CoreV1Api,
  type V1Job,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from '@kubernetes/client-node';

import { annBoundByController } from '../kube/annotations.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import { persistentVolumes } from '../kube/kinds.ts';
import { namespacedName } from '../kube/refs.ts';
import {
  apiMessage,
  apiStatus,
  deleteUnlessGone,
  isConflict,
  isNotFound,
  unlessNotFound,
} from '../kube/api-errors.ts';
import type { Controller, ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, type ObjectRef, objectRef } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Kind, Manager } from '../runtime/manager.ts';
import { type Trigger, watchInformer } from '../runtime/source.ts';
import type { Log } from '../runtime/log.ts';
import {
  type JobState,
  type Operation,
  type ReclaimFacts,
  annReclaimFailures,
  annReclaimRequest,
  failuresValue,
  stoppingRecheckMs,
  planReclaim,
  recycledVolume,
} from './decide.ts';
import {
  annVolumeName,
  isRecyclable,
  managedByLabel,
  needsScrubClaim,
  scrubClaimName,
  recyclerJob,
  recyclerJobName,
  type RecyclerJobOptions,
  volumeLabel,
  volumeLabelValue,
} from './job.ts';
import { isScrubClaimVolume, scrubClaimPair, scrubClaimProblem } from './scrub-claim.ts';
import { podsThatMayUse, releasedClaimHolds } from './users.ts';
import {
  type ReleaseJobs,
  annScrubJob,
  isRecordedJob,
  jobLeftRelease,
  recordNamesJob,
  scrubJobRecord,
  scrubJobRecordValue,
  sortReleaseJobs,
  verifyScrub,
} from './trust.ts';

export interface ReclaimMetrics {
  reclaimStarted(operation: Operation, policy: string): void;
  reclaimFinished(operation: Operation, policy: string, ok: boolean, seconds: number | undefined): void;
}

export interface ReclaimControllerOptions {
  events: EventSink;
  log: Log;
  /** Where recycler Jobs run: the operator's namespace. */
  namespace: string;
  job: Omit<RecyclerJobOptions, 'namespace' | 'operation'>;
  maxRetries: number;
  retryBaseMs?: number;
  metrics?: ReclaimMetrics;
  /** Fired with the volume's name whenever one of its scrub Jobs is created, changes or goes. */
  scrubJobChanged?: Trigger<string>;
  /** The other volumes that see the same files as this one (the composition root knows how NFS exports nest). */
  sharingData?: (volume: V1PersistentVolume) => V1PersistentVolume[];
}

/** What the reconcile works with: the options, and the clients and caches the manager gave. */
interface Wired extends ReclaimControllerOptions {
  core: CoreV1Api;
  batch: BatchV1Api;
  volumes: Informer<V1PersistentVolume>;
}

/** The scrub Jobs of this operator, in its namespace (only those with its label are cached). */
function recyclerJobs(namespace: string): Kind<V1Job> {
  const labelSelector = `${managedByLabel.key}=${managedByLabel.value}`;
  return {
    name: 'recycler-jobs',
    path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    labelSelector,
    list: (api) => api.make(BatchV1Api).listNamespacedJob({ namespace, labelSelector }),
    model: 'V1Job',
  };
}

export const reclaimControllerName = 'persistentvolume-reclaimer';

const volumeRef = (v: V1PersistentVolume): ObjectRef => objectRef('PersistentVolume', 'v1', v);

/** Whether the volume might need the reclaimer at all (cheap, from the cache). */
function interesting(v: V1PersistentVolume): boolean {
  const phase = v.status?.phase;
  return (
    phase === 'Released' || phase === 'Failed' || v.metadata?.annotations?.[annReclaimRequest] !== undefined
  );
}

function withoutAnnotations(
  v: V1PersistentVolume,
  keys: readonly string[],
): Record<string, string> | undefined {
  const annotations = { ...v.metadata?.annotations };
  for (const k of keys) Reflect.deleteProperty(annotations, k);
  return Object.keys(annotations).length ? annotations : undefined;
}

/** Whether the Job controller has made a pod for the Job (running, done or failed). */
function hasPod(job: V1Job): boolean {
  const st = job.status;
  return (
    (st?.active ?? 0) > 0 || (st?.succeeded ?? 0) > 0 || (st?.failed ?? 0) > 0 || (st?.terminating ?? 0) > 0
  );
}

/** A scrub Job younger than this may simply not have its pod yet. */
const podStartGraceMs = 5_000;

function jobCondition(job: V1Job, type: string): { status: boolean; reason?: string; message?: string } {
  const c = job.status?.conditions?.find((x) => x.type === type);
  return { status: c?.status === 'True', reason: c?.reason, message: c?.message };
}

const isRunning = (job: V1Job): boolean =>
  !jobCondition(job, 'Complete').status && !jobCondition(job, 'Failed').status;

/**
 * Whether the Job's pods may still be at work on the volume: it has not
 * finished, or pods of it are active or still terminating (a Failed Job's
 * pod can take its grace period to stop).
 */
function mayBeScrubbing(job: V1Job): boolean {
  if ((job.status?.active ?? 0) > 0 || (job.status?.terminating ?? 0) > 0) return true;
  // Being deleted counts until it is gone: the Job controller can still make a
  // pod for a Job it has not yet seen deleted, and its counts lag behind.
  return isRunning(job);
}

export class ReclaimController {
  readonly jobs: Informer<V1Job>;
  readonly controller: Controller;
  private readonly opts: Wired;
  /** Last wait event per volume, so a waiting volume does not repeat itself every resync. */
  private readonly lastWait = new Map<string, string>();

  constructor(manager: Manager, options: ReclaimControllerOptions) {
    const volumes = manager.informer(persistentVolumes);
    this.opts = {
      ...options,
      core: manager.api.make(CoreV1Api),
      batch: manager.api.make(BatchV1Api),
      volumes,
    };
    this.jobs = manager.informer(recyclerJobs(options.namespace), {
      indexers: {
        byVolume: (j) =>
          j.metadata?.annotations?.[annVolumeName] ? [j.metadata.annotations[annVolumeName]] : [],
      },
    });
    // The said-once memory follows the volumes.
    volumes.on({
      update: (_o, v) => {
        if (!interesting(v)) this.lastWait.delete(v.metadata?.name ?? '');
      },
      delete: (v) => {
        this.lastWait.delete(v.metadata?.name ?? '');
      },
    });
    const volumeOfJob = (j: V1Job): string[] => {
      const volume = j.metadata?.annotations?.[annVolumeName];
      return volume ? [volume] : [];
    };
    const { scrubJobChanged } = options;
    if (scrubJobChanged) {
      const fire = (j: V1Job) => {
        for (const v of volumeOfJob(j)) scrubJobChanged.fire(v);
      };
      this.jobs.on({
        add: fire,
        update: (_o, j) => {
          fire(j);
        },
        delete: fire,
      });
    }
    this.controller = manager.controller({
      name: reclaimControllerName,
      readiness: 'reclaim',
      reconcile: (key) => this.sync(key),
      watches: [
        // A volume with a scrub Job is looked at whatever its phase: the Job may have to stop.
        watchInformer(volumes, ({ type, obj: v }) => {
          const name = v.metadata?.name ?? '';
          const hasJobs = this.jobsOf(name).length > 0;
          return hasJobs || (type !== 'delete' && interesting(v)) ? [name] : [];
        }),
        watchInformer(this.jobs, ({ obj }) => volumeOfJob(obj), { types: ['add', 'update', 'delete'] }),
      ],
    });
  }

  /**
   * The scrub Job whose pods may be at work on the volume now, if any (see
   * mayBeScrubbing). Look-alikes count too, until they are deleted: a volume
   * is held back from binding while anything may be scrubbing it.
   */
  scrubbingJob(volumeName: string): string | undefined {
    const job = this.jobsOf(volumeName).find(mayBeScrubbing);
    return job ? `${this.opts.namespace}/${job.metadata?.name ?? ''}` : undefined;
  }

  isScrubbing(volumeName: string): boolean {
    return this.scrubbingJob(volumeName) !== undefined;
  }

  private jobsOf(volumeName: string): V1Job[] {
    return this.jobs.store.byIndex('byVolume', volumeName);
  }

  /** Jobs of this operator that have not finished, for the in-flight gauge. */
  jobsInFlight(): number {
    return this.jobs.store.list().filter(isRunning).length;
  }

  private async sync(name: string): Promise<ReconcileResult> {
    const cached = this.opts.volumes.store.get(name);
    await this.deleteStrayJobs(name, cached);
    if (cached && isScrubClaimVolume(cached, this.opts.namespace)) return this.syncScrubClaimVolume(cached);
    if (!cached || !interesting(cached)) return undefined;
    // A first opinion from the cache alone, with the most hopeful facts: most
    // Released volumes (Retain) need nothing, and need no API reads to know it.
    const hopeful = planReclaim(this.facts(cached, false, [], this.jobStateFromCache(cached)));
    if (hopeful.action === 'none') return undefined;

    // Acting on a volume: decide again from live reads.
    const volume = await this.readVolume(name);
    if (!volume || !interesting(volume)) return undefined;
    const ref = volume.spec?.claimRef;
    const current = ref ? await this.readClaim(ref.namespace ?? '', ref.name ?? '') : undefined;
    const claimExists = releasedClaimHolds(volume, current);
    const podsUsing =
      ref && !claimExists ? podsThatMayUse(volume, await this.podsOfNamespace(volume), current) : [];
    const jobs = await this.releaseJobsLive(volume);
    const job = await this.jobStateLive(volume, jobs);
    // A scrub's own claim volume sees the same files, by design.
    const sharedWith = (this.opts.sharingData?.(volume) ?? [])
      .filter((v) => !isScrubClaimVolume(v, this.opts.namespace, volume.metadata?.uid))
      .map((v) => v.metadata?.name ?? '');
    const plan = planReclaim({ ...this.facts(volume, claimExists, podsUsing, job), sharedWith });
    const { log } = this.opts;

    switch (plan.action) {
      case 'none':
        return undefined;
      case 'wait': {
        // The claim a running scrub mounts, in case a restart came between the Job and its claim.
        if (job.state === 'running' && needsScrubClaim(volume))
          await this.ensureScrubClaim(volume, jobs.recorded);
        if (plan.event && this.lastWait.get(name) !== plan.event.note) {
          this.lastWait.set(name, plan.event.note);
          this.event(volume, plan.event);
        }
        if (plan.event?.type === 'Warning') log.warn('reclaim blocked', { volume: name, why: plan.why });
        else log.debug('reclaim waiting', { volume: name, why: plan.why });
        if (plan.retryAtMs !== undefined) return { requeueAfterMs: Math.max(0, plan.retryAtMs - Date.now()) };
        return podsUsing.length > 0 ? { requeueAfterMs: 10_000 } : undefined;
      }
      case 'dropRequest':
        await this.replaceVolume({
          ...volume,
          metadata: { ...volume.metadata, annotations: withoutAnnotations(volume, [annReclaimRequest]) },
        });
        this.event(volume, plan.event);
        return undefined;
      case 'release': {
        const freed = await this.unbind(volume, 'release');
        log.info('released volume on request, data kept', { volume: name, claim: claimOf(volume) });
        this.event(freed, plan.event);
        return undefined;
      }
      case 'startJob':
        return this.startJob(volume, plan.operation, plan.resetFailures);
      case 'replaceJob': {
        for (const j of jobs.unrecorded) await this.deleteJobNow(j);
        this.event(volume, plan.event);
        log.warn('deleted scrub Jobs this operator did not record', {
          volume: name,
          jobs: jobs.unrecorded.map((j) => j.metadata?.name),
        });
        // Until it is gone the volume waits (state stopping), looked at again every 2 s.
        return { requeueAfterMs: stoppingRecheckMs };
      }
      case 'deleteObject':
        await this.deleteVolumeObject(volume);
        this.event(volume, plan.event);
        log.info('deleted volume, its data kept', { volume: name });
        this.opts.metrics?.reclaimFinished('delete', policyOf(volume), true, undefined);
        return undefined;
      case 'finish':
        return this.finish(volume, plan.operation, plan.event, jobs.recorded);
      case 'fail':
        return this.fail(volume, plan, jobs.recorded);
    }
  }

  private facts(
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
      maxRetries: this.opts.maxRetries,
      now: Date.now(),
      retryBaseMs: this.opts.retryBaseMs,
    };
  }

  private jobStateFromCache(volume: V1PersistentVolume): JobState {
    return this.releaseState(sortReleaseJobs(volume, this.jobsOf(volume.metadata?.name ?? '')));
  }

  /** What the volume's Jobs say, before their pods are looked at: anything unrecorded comes first. */
  private releaseState(jobs: ReleaseJobs): JobState {
    if (jobs.unrecorded.length > 0) {
      const names = jobs.unrecorded
        .slice(0, 5)
        .map((j) => `${this.opts.namespace}/${j.metadata?.name ?? ''}`)
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
    return jobs.recorded ? this.jobState(jobs.recorded) : { state: 'absent' };
  }

  /**
   * The volume's Jobs as the API has them now: those with its volume label,
   * and, each read again, the Job at the recorded name and any other the
   * cache holds for the volume (a look-alike may lack the label).
   */
  private async releaseJobsLive(volume: V1PersistentVolume): Promise<ReleaseJobs> {
    const name = volume.metadata?.name ?? '';
    const listed = await this.opts.batch.listNamespacedJob({
      namespace: this.opts.namespace,
      labelSelector: `${volumeLabel}=${volumeLabelValue(name)}`,
    });
    const jobs = [...listed.items];
    const others = new Set(this.jobsOf(name).map((j) => j.metadata?.name ?? ''));
    const recordName = scrubJobRecord(volume)?.jobName;
    if (recordName) others.add(recordName);
    for (const other of others) {
      if (other === '' || jobs.some((j) => j.metadata?.name === other)) continue;
      const job = await this.readJob(other);
      if (job) jobs.push(job);
    }
    return sortReleaseJobs(volume, jobs);
  }

  /**
   * The Job of this release as the API has it now: trusted only if it is the
   * one recorded on the volume, and its success only if its pods prove it.
   */
  private async jobStateLive(volume: V1PersistentVolume, jobs: ReleaseJobs): Promise<JobState> {
    const state = this.releaseState(jobs);
    const job = jobs.recorded;
    if (state.state === 'absent') {
      // A pod the Job controller made late for a Job deleted since may still be at work.
      const pods = await this.activeScrubPods(volume);
      return pods.length > 0 ? { state: 'stopping', pods } : state;
    }
    if (!job || state.state === 'unrecorded' || state.state === 'stopping') return state;
    if (state.state === 'running' && !hasPod(job)) {
      const blocked = await this.podRefusal(job);
      return blocked ? { state: 'running', blocked } : { state: 'running', noPodYet: true };
    }
    if (state.state === 'succeeded') {
      const verdict = verifyScrub(job, await this.podsOf(job));
      const why = verdict.ok ? await this.scrubClaimProblem(volume, job, verdict.pod) : verdict.why;
      if (why !== undefined)
        return { state: 'failed', message: `the scrub's success could not be verified: ${why}` };
      // Every pod of the Job has ended (verifyScrub); a pod of a Job deleted before may not have.
      const pods = await this.activeScrubPods(volume);
      return pods.length > 0 ? { state: 'stopping', pods } : state;
    }
    if (state.state !== 'failed') return state;
    const podMessage = await this.failedPodMessage(job);
    return podMessage ? { state: 'failed', message: podMessage } : state;
  }

  /** For a scrub through a claim: whether the claim the pod mounted was bound to this volume's export. */
  private async scrubClaimProblem(
    volume: V1PersistentVolume,
    job: V1Job,
    pod: V1Pod,
  ): Promise<string | undefined> {
    if (!needsScrubClaim(volume)) return undefined;
    const name = this.scrubClaimOf(volume);
    const claim = await this.readScrubClaim(name);
    const shadow = await this.readVolume(name);
    return scrubClaimProblem(volume, claim, shadow, pod);
  }

  private readScrubClaim(name: string): Promise<V1PersistentVolumeClaim | undefined> {
    return unlessNotFound(
      this.opts.core.readNamespacedPersistentVolumeClaim({ name, namespace: this.opts.namespace }),
    );
  }

  /**
   * Creates the claim and volume the scrub Job of this release mounts, if
   * missing: the claim owned by the Job, the volume pre-bound to the claim.
   */
  private async ensureScrubClaim(volume: V1PersistentVolume, job: V1Job | undefined): Promise<void> {
    if (!job || !isRecordedJob(volume, job) || job.metadata?.deletionTimestamp) return;
    const { namespace } = this.opts;
    const name = this.scrubClaimOf(volume);
    let claim = await this.readScrubClaim(name);
    if (
      claim &&
      !claim.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === job.metadata?.uid)
    ) {
      // A claim of that name the Job does not own is not ours to mount: deleted, made anew next time.
      await deleteUnlessGone(
        this.opts.core.deleteNamespacedPersistentVolumeClaim({
          name,
          namespace,
          body: { preconditions: { uid: claim.metadata?.uid } },
        }),
      );
      return;
    }
    claim ??= await this.opts.core.createNamespacedPersistentVolumeClaim({
      namespace,
      body: scrubClaimPair(volume, job, namespace).claim,
    });
    try {
      await this.opts.core.createPersistentVolume({
        body: scrubClaimPair(volume, job, namespace, claim.metadata?.uid).volume,
      });
    } catch (err) {
      // There already: checked at the end, when the scrub's claim must prove it was bound to this export.
      if (apiStatus(err) !== 409) throw err;
    }
  }

  /**
   * A scrub claim's volume: once its claim is gone (the garbage collector
   * removes it with its Job) the binder marks it Released, and it is deleted.
   * Its export's data is not touched: it is Retain and nothing scrubs it.
   */
  private async syncScrubClaimVolume(volume: V1PersistentVolume): Promise<ReconcileResult> {
    if (volume.status?.phase !== 'Released' || volume.metadata?.deletionTimestamp) return undefined;
    await deleteUnlessGone(
      this.opts.core.deletePersistentVolume({
        name: volume.metadata?.name ?? '',
        body: { preconditions: { uid: volume.metadata?.uid } },
      }),
    );
    return undefined;
  }

  /** The scrub claim of the volume's current release (named per release; owned by its Job). */
  private scrubClaimOf(volume: V1PersistentVolume): string {
    return scrubClaimName(recyclerJobName(volume.metadata?.name ?? '', volume.spec?.claimRef?.uid ?? ''));
  }

  /**
   * Pods in the operator's namespace that say they scrub the volume and have
   * not ended, whoever made them (names, at most 5). Nothing new starts on
   * the volume while one may still be at work on it.
   */
  private async activeScrubPods(volume: V1PersistentVolume): Promise<string[]> {
    const name = volume.metadata?.name ?? '';
    const pods = await this.opts.core.listNamespacedPod({
      namespace: this.opts.namespace,
      labelSelector: `${volumeLabel}=${volumeLabelValue(name)}`,
    });
    return pods.items
      .filter((p) => p.metadata?.annotations?.[annVolumeName] === name)
      .filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
      .slice(0, 5)
      .map((p) => `${this.opts.namespace}/${p.metadata?.name ?? ''}`);
  }

  private readJob(name: string): Promise<V1Job | undefined> {
    return unlessNotFound(this.opts.batch.readNamespacedJob({ name, namespace: this.opts.namespace }));
  }

  private async podsOf(job: V1Job): Promise<V1Pod[]> {
    const pods = await this.opts.core.listNamespacedPod({
      namespace: this.opts.namespace,
      labelSelector: `batch.kubernetes.io/controller-uid=${job.metadata?.uid ?? ''}`,
    });
    return pods.items;
  }

  /** The state of the Job recorded for this release (sortReleaseJobs checked the record). */
  private jobState(job: V1Job): JobState {
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

  /**
   * Why a Job that has had time to start a pod has none: the latest
   * FailedCreate event the Job controller wrote about it. Without this, a
   * refused pod shows only as DeadlineExceeded minutes later.
   */
  private async podRefusal(job: V1Job): Promise<string | undefined> {
    const uid = job.metadata?.uid;
    const created = job.metadata?.creationTimestamp;
    if (!uid || !created) return undefined;
    if (Date.now() - new Date(created).getTime() < podStartGraceMs) return undefined;
    const events = await this.opts.core.listNamespacedEvent({
      namespace: this.opts.namespace,
      fieldSelector: `involvedObject.uid=${uid},reason=FailedCreate`,
    });
    const latest = events.items
      .map((e) => ({ at: new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime(), message: e.message ?? '' }))
      .sort((a, b) => b.at - a.at)[0];
    return latest?.message ? latest.message.slice(0, 600) : undefined;
  }

  /** The failed pod's own words (only from pods the Job controls, and cut short: they are the pod's to write). */
  private async failedPodMessage(job: V1Job): Promise<string | undefined> {
    const uid = job.metadata?.uid;
    if (!uid) return undefined;
    const pods = (await this.podsOf(job)).filter((p) =>
      p.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === uid),
    );
    for (const pod of pods) {
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

  private readVolume(name: string): Promise<V1PersistentVolume | undefined> {
    return unlessNotFound(this.opts.core.readPersistentVolume({ name }));
  }

  /** The claim of that name now, if any. */
  private async readClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim | undefined> {
    // A claimRef without a name or namespace (the API server takes it) names no claim that can exist.
    if (!namespace || !name) return undefined;
    return unlessNotFound(this.opts.core.readNamespacedPersistentVolumeClaim({ name, namespace }));
  }

  /** The pods of the released claim's namespace (podsThatMayUse picks those that may use it). */
  private async podsOfNamespace(volume: V1PersistentVolume): Promise<V1Pod[]> {
    const namespace = volume.spec?.claimRef?.namespace;
    if (!namespace || !volume.spec?.claimRef?.name) return [];
    return (await this.opts.core.listNamespacedPod({ namespace })).items;
  }

  private async startJob(
    volume: V1PersistentVolume,
    operation: Operation,
    resetFailures: boolean,
  ): Promise<ReconcileResult> {
    let current = volume;
    if (resetFailures) {
      current = await this.replaceVolume({
        ...volume,
        metadata: { ...volume.metadata, annotations: withoutAnnotations(volume, [annReclaimFailures]) },
      });
    }
    const job = recyclerJob(current, { ...this.opts.job, namespace: this.opts.namespace, operation });
    let created: V1Job;
    try {
      created = await this.opts.batch.createNamespacedJob({ namespace: this.opts.namespace, body: job });
    } catch (err) {
      // The generated name was taken: try again with another.
      if (apiStatus(err) === 409) return { requeueAfterMs: 1000 };
      throw err;
    }
    const recorded = await this.recordJob(current, created);
    if (!recorded) return { requeueAfterMs: 1000 };
    current = recorded;
    if (needsScrubClaim(current)) await this.ensureScrubClaim(current, created);
    this.opts.metrics?.reclaimStarted(operation, policyOf(volume));
    this.opts.log.info('started scrub Job', {
      volume: volume.metadata?.name,
      operation,
      job: `${this.opts.namespace}/${created.metadata?.name ?? ''}`,
      releasedClaim: claimOf(volume),
    });
    this.event(current, {
      type: 'Normal',
      reason: operation === 'recycle' ? 'RecycleStarted' : 'DeleteStarted',
      note: `scrubbing the volume with Job ${this.opts.namespace}/${created.metadata?.name ?? ''} before ${operation === 'recycle' ? 'making it Available again' : 'deleting it'}`,
    });
    return undefined;
  }

  /**
   * Writes the created Job's UID onto the volume, the only proof later that the
   * Job is ours. If the volume left this release meanwhile, the Job is deleted
   * instead. Returns the volume with the record, or undefined if none was written.
   */
  private async recordJob(volume: V1PersistentVolume, job: V1Job): Promise<V1PersistentVolume | undefined> {
    const record = scrubJobRecordValue({
      claimUid: volume.spec?.claimRef?.uid ?? '',
      jobName: job.metadata?.name ?? '',
      jobUid: job.metadata?.uid ?? '',
    });
    let current = volume;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (jobLeftRelease(current, job) !== undefined) break;
      try {
        return await this.replaceVolume({
          ...current,
          metadata: {
            ...current.metadata,
            annotations: { ...current.metadata?.annotations, [annScrubJob]: record },
          },
        });
      } catch (err) {
        if (!isConflict(err)) {
          await this.deleteJobNow(job);
          throw err;
        }
        const fresh = await this.readVolume(volume.metadata?.name ?? '');
        if (!fresh) break;
        current = fresh;
      }
    }
    await this.deleteJobNow(job);
    return undefined;
  }

  /**
   * Deletes the scrub Jobs of the volume that no longer belong to its current
   * release, at once and with their pods (foreground), so nothing keeps
   * deleting data on a volume that was cleared for reuse, re-bound, set to
   * Retain or deleted. Decided from the caches: a cached volume that left the
   * release did leave it, and deleting a Job that should have run costs only a
   * new scrub. A running Job's end is said in an event.
   */
  private async deleteStrayJobs(name: string, volume: V1PersistentVolume | undefined): Promise<void> {
    const jobs = this.jobsOf(name).filter((j) => !j.metadata?.deletionTimestamp);
    if (jobs.length === 0) return;
    // Gone from the cache is confirmed by a live read: deleting a scrub that should run costs a new one.
    const current = volume ?? (await this.readVolume(name));
    for (const job of jobs) {
      const why = jobLeftRelease(current, job);
      if (why === undefined) continue;
      const running = isRunning(job);
      await this.deleteJobNow(job);
      if (!running || !current) continue;
      const jobName = `${this.opts.namespace}/${job.metadata?.name ?? ''}`;
      this.opts.log.warn("deleted a running Job that no longer belongs to the volume's release", {
        volume: name,
        job: jobName,
        why,
      });
      this.event(
        current,
        recordNamesJob(current, job)
          ? {
              type: 'Warning',
              reason: 'ScrubCancelled',
              note:
                `deleted the running scrub Job ${jobName} and its pod because ${why}; the scrub was cut short, ` +
                'so part of the released data may be gone and part left. No claim is bound while the pod stops',
            }
          : {
              type: 'Warning',
              reason: 'ReclaimJobMismatch',
              note:
                `deleted Job ${jobName} and its pods: it claims to scrub this volume but this operator did not ` +
                `create it for the volume's release (${why})`,
            },
      );
    }
  }

  private async finish(
    volume: V1PersistentVolume,
    operation: Operation,
    event: PlannedEvent | undefined,
    job: V1Job | undefined,
  ): Promise<ReconcileResult> {
    const seconds = jobSeconds(job);
    if (operation === 'recycle') {
      const freed = await this.unbind(volume, 'recycled');
      if (event) this.event(freed, event);
      this.opts.log.info('recycled volume', { volume: volume.metadata?.name, seconds });
    } else {
      await this.deleteVolumeObject(volume);
      this.opts.log.info('scrubbed and deleted volume', { volume: volume.metadata?.name, seconds });
    }
    this.opts.metrics?.reclaimFinished(operation, policyOf(volume), true, seconds);
    if (job) await this.deleteJob(job);
    return undefined;
  }

  /** Deletes this very version of the volume: a change since the decision (a conflict) is decided again. */
  private async deleteVolumeObject(volume: V1PersistentVolume): Promise<void> {
    try {
      await this.opts.core.deletePersistentVolume({
        name: volume.metadata?.name ?? '',
        body: {
          preconditions: { uid: volume.metadata?.uid, resourceVersion: volume.metadata?.resourceVersion },
        },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async fail(
    volume: V1PersistentVolume,
    plan: Extract<ReturnType<typeof planReclaim>, { action: 'fail' }>,
    job: V1Job | undefined,
  ): Promise<ReconcileResult> {
    let current = volume;
    const uid = volume.spec?.claimRef?.uid ?? '';
    const now = Date.now();
    const annotations = { ...volume.metadata?.annotations };
    if (plan.failures !== undefined) annotations[annReclaimFailures] = failuresValue(uid, plan.failures, now);
    // Out of retries: an administrator's request is answered (with this failure), not repeated.
    if (!plan.retry || plan.answerRequest) Reflect.deleteProperty(annotations, annReclaimRequest);
    if (plan.deleteJob) Reflect.deleteProperty(annotations, annScrubJob);
    if (JSON.stringify(annotations) !== JSON.stringify(volume.metadata?.annotations ?? {})) {
      current = await this.replaceVolume({
        ...volume,
        metadata: {
          ...volume.metadata,
          annotations: Object.keys(annotations).length ? annotations : undefined,
        },
      });
    }
    if (current.status?.phase !== 'Failed' || current.status.message !== plan.message) {
      current = await this.replaceVolumeStatus({
        ...current,
        status: {
          ...current.status,
          phase: 'Failed',
          message: plan.message,
          lastPhaseTransitionTime: new Date(),
        },
      });
    }
    this.event(current, plan.event);
    this.opts.log.warn('reclaim failed', {
      volume: volume.metadata?.name,
      reason: plan.event.reason,
      message: plan.message,
      retry: plan.retry,
    });
    if (plan.deleteJob) {
      const operation: Operation = plan.event.reason === 'VolumeFailedDelete' ? 'delete' : 'recycle';
      this.opts.metrics?.reclaimFinished(operation, policyOf(volume), false, jobSeconds(job));
      if (job) await this.deleteJob(job);
    }
    if (plan.retry && plan.retryAfterMs !== undefined) return { requeueAfterMs: plan.retryAfterMs };
    return undefined;
  }

  /**
   * Clears claimRef (the data stays as it is now; after a recycle, a
   * pre-binding keeps its claim name, see recycledVolume) and makes the volume
   * Available. Clearing claimRef is the decisive write; the binder may set the
   * phase at the same moment (it reacts to that very change), so a conflict on
   * the status write is settled by reading the volume again.
   */
  private async unbind(volume: V1PersistentVolume, how: 'release' | 'recycled'): Promise<V1PersistentVolume> {
    const own = [annReclaimRequest, annReclaimFailures, annScrubJob];
    let current = await this.replaceVolume(
      how === 'recycled'
        ? recycledVolume(volume, own)
        : {
            ...volume,
            metadata: {
              ...volume.metadata,
              annotations: withoutAnnotations(volume, [...own, annBoundByController]),
            },
            spec: { ...volume.spec, claimRef: undefined },
          },
    );
    for (let attempt = 0; attempt < 5; attempt++) {
      // A claimRef with a uid: the binder has bound it already (a pre-bound volume keeps a claimRef without one).
      if (current.spec?.claimRef?.uid || current.status?.phase === 'Available') return current;
      try {
        return await this.replaceVolumeStatus({
          ...current,
          status: { phase: 'Available', lastPhaseTransitionTime: new Date() },
        });
      } catch (err) {
        if (!isConflict(err)) throw err;
        current = await this.opts.core.readPersistentVolume({ name: volume.metadata?.name ?? '' });
      }
    }
    return current;
  }

  /** Deletes this very Job (by UID) and waits for nothing; its pods go before it does (foreground). */
  private async deleteJobNow(job: V1Job): Promise<void> {
    await deleteUnlessGone(
      this.opts.batch.deleteNamespacedJob({
        name: job.metadata?.name ?? '',
        namespace: this.opts.namespace,
        // In the body: the API server ignores query options when a body is sent,
        // and batch/v1's default would orphan the pods, leaving them at work.
        body: { propagationPolicy: 'Foreground', preconditions: { uid: job.metadata?.uid } },
      }),
    );
  }

  /** Deletes a finished Job of ours (by UID); its pods go in the background. */
  private async deleteJob(job: V1Job): Promise<void> {
    const name = job.metadata?.name ?? '';
    try {
      await this.opts.batch.deleteNamespacedJob({
        name,
        namespace: this.opts.namespace,
        body: { propagationPolicy: 'Background', preconditions: { uid: job.metadata?.uid } },
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) {
        this.opts.log.warn('could not delete scrub Job', { job: name, error: apiMessage(err) });
      }
    }
  }

  // No write-back into the shared volume cache: the binder must see these
  // changes arrive on the watch (a volume made Available is what Pending claims
  // wait for), and every decision here is made from live reads anyway.
  private replaceVolume(v: V1PersistentVolume): Promise<V1PersistentVolume> {
    return this.opts.core.replacePersistentVolume({ name: v.metadata?.name ?? '', body: v });
  }

  private replaceVolumeStatus(v: V1PersistentVolume): Promise<V1PersistentVolume> {
    return this.opts.core.replacePersistentVolumeStatus({ name: v.metadata?.name ?? '', body: v });
  }

  private event(volume: V1PersistentVolume, e: PlannedEvent): void {
    void this.opts.events.record(volumeRef(volume), e.type, e.reason, 'Reclaim', e.note);
  }
}

function jobSeconds(job: V1Job | undefined): number | undefined {
  const created = job?.metadata?.creationTimestamp;
  return created ? (Date.now() - new Date(created).getTime()) / 1000 : undefined;
}

function claimOf(volume: V1PersistentVolume): string {
  return namespacedName(volume.spec?.claimRef?.namespace, volume.spec?.claimRef?.name);
}

/** The policy a reclaim ran under, for metrics ("Retain" when an administrator asked for a recycle). */
function policyOf(volume: V1PersistentVolume): string {
  return volume.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
}
