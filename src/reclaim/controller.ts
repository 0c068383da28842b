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
import { BatchV1Api, CoreV1Api, type V1Job, type V1PersistentVolume } from '@kubernetes/client-node';

import type { PlannedEvent } from '../kube/planned-event.ts';
import { persistentVolumes } from '../kube/kinds.ts';
import { effectiveReclaimPolicy } from '../kube/reclaim-policy.ts';
import { namespacedName } from '../kube/refs.ts';
import type { Controller, ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, type ObjectRef, objectRef } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Kind, Manager } from '../runtime/manager.ts';
import { type Trigger, watchInformer } from '../runtime/source.ts';
import type { Log } from '../runtime/log.ts';
import {
  deleteFinishedJob,
  deleteJobNow,
  deleteScrubClaimVolume,
  deleteVolumeObject,
  ensureScrubClaim,
  markFailed,
  replaceVolume,
  startScrub,
  unbind,
} from './apply.ts';
import { type FailPlan, type Operation, type ReclaimPlan, annReclaimRequest, planReclaim } from './decide.ts';
import { type FactSources, cachedFacts, gatherFacts, readVolume } from './facts.ts';
import { annVolumeName, managedByLabel, recyclerJob, type RecyclerJobOptions } from './job.ts';
import { isRunning, mayBeScrubbing, scrubStartedEvent, strayJobEvent } from './job-state.ts';
import { isScrubClaimVolume, scrubClaimVolumeSpent } from './scrub-claim.ts';
import { type ReleaseJobs, jobLeftRelease } from './trust.ts';
import { recycledVolume, releasedVolume, withoutRequest } from './writes.ts';

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
  /**
   * The in-tree PV controller runs beside (this operator's binder is off): the
   * volumes whose spec policy it acts on are left to it (inTreeReclaims).
   */
  besideInTreeBinder?: boolean;
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

export class ReclaimController {
  readonly jobs: Informer<V1Job>;
  readonly controller: Controller;
  private readonly opts: Wired;
  /** Where the reconcile reads and writes: the wired clients and options, and the Job cache. */
  private readonly api: FactSources;
  /** Last wait event per volume, so a waiting volume does not repeat itself every resync. */
  private readonly lastWait = new Map<string, string>();
  /** The reclaim-policy annotation problem last said per volume, said once. */
  private readonly lastPolicyProblem = new Map<string, string>();

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
    this.api = { ...this.opts, cachedJobs: (name) => this.jobsOf(name) };
    // The said-once memory follows the volumes.
    volumes.on({
      update: (_o, v) => {
        if (!interesting(v)) this.lastWait.delete(v.metadata?.name ?? '');
      },
      delete: (v) => {
        this.lastWait.delete(v.metadata?.name ?? '');
        this.lastPolicyProblem.delete(v.metadata?.name ?? '');
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
          // A bad reclaim-policy annotation is said whatever the phase, before it would matter.
          const said = type !== 'delete' && effectiveReclaimPolicy(v).problem !== undefined;
          return hasJobs || said || (type !== 'delete' && interesting(v)) ? [name] : [];
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
    return job ? namespacedName(this.opts.namespace, job.metadata?.name) : undefined;
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
    if (cached && isScrubClaimVolume(cached, this.opts.namespace)) {
      if (scrubClaimVolumeSpent(cached)) await deleteScrubClaimVolume(this.api, cached);
      return undefined;
    }
    if (cached) this.sayPolicyProblem(cached);
    if (!cached || !interesting(cached)) return undefined;
    if (planReclaim(cachedFacts(this.api, cached)).action === 'none') return undefined;

    // Acting on a volume: decide again from live reads.
    const volume = await readVolume(this.api, name);
    if (!volume || !interesting(volume)) return undefined;
    const { facts, jobs } = await gatherFacts(this.api, volume);
    const plan = planReclaim(facts);
    const { log } = this.opts;

    switch (plan.action) {
      case 'none':
        return undefined;
      case 'wait':
        if (plan.mountClaim) await ensureScrubClaim(this.api, volume, jobs.recorded);
        if (plan.event && this.lastWait.get(name) !== plan.event.note) {
          this.lastWait.set(name, plan.event.note);
          this.event(volume, plan.event);
        }
        if (plan.event?.type === 'Warning') log.warn('reclaim blocked', { volume: name, why: plan.why });
        else log.debug('reclaim waiting', { volume: name, why: plan.why });
        return after(plan.requeueAfterMs);
      case 'dropRequest': {
        const dropped = withoutRequest(volume);
        if (dropped) await replaceVolume(this.api, dropped);
        this.event(volume, plan.event);
        return undefined;
      }
      case 'release': {
        const freed = await unbind(this.api, volume, releasedVolume(volume));
        log.info('released volume on request, data kept', { volume: name, claim: claimOf(volume) });
        this.event(freed, plan.event);
        return undefined;
      }
      case 'startJob':
        return this.startJob(volume, plan);
      case 'replaceJob':
        for (const j of jobs.unrecorded) await deleteJobNow(this.api, j);
        this.event(volume, plan.event);
        log.warn('deleted scrub Jobs this operator did not record', {
          volume: name,
          jobs: jobs.unrecorded.map((j) => j.metadata?.name),
        });
        return after(plan.requeueAfterMs);
      case 'deleteObject':
        await deleteVolumeObject(this.api, volume);
        this.event(volume, plan.event);
        log.info('deleted volume, its data kept', { volume: name });
        this.opts.metrics?.reclaimFinished('delete', policyOf(volume), true, undefined);
        return undefined;
      case 'finish':
        return this.finish(volume, plan, jobs);
      case 'fail':
        return this.fail(volume, plan, jobs.recorded);
    }
  }

  private async startJob(
    volume: V1PersistentVolume,
    plan: Extract<ReclaimPlan, { action: 'startJob' }>,
  ): Promise<ReconcileResult> {
    const { operation } = plan;
    const started = await startScrub(this.api, volume, plan.resetFailures, (v) =>
      recyclerJob(v, { ...this.opts.job, namespace: this.opts.namespace, operation }),
    );
    if (!started) return after(plan.retryAfterMs);
    this.opts.metrics?.reclaimStarted(operation, policyOf(volume));
    const job = namespacedName(this.opts.namespace, started.job.metadata?.name);
    this.opts.log.info('started scrub Job', {
      volume: volume.metadata?.name,
      operation,
      job,
      releasedClaim: claimOf(volume),
    });
    this.event(started.volume, scrubStartedEvent(operation, job));
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
    const current = volume ?? (await readVolume(this.api, name));
    for (const job of jobs) {
      const why = jobLeftRelease(current, job, this.opts.besideInTreeBinder);
      if (why === undefined) continue;
      const running = isRunning(job);
      await deleteJobNow(this.api, job);
      if (!running || !current) continue;
      const jobName = namespacedName(this.opts.namespace, job.metadata?.name);
      this.opts.log.warn("deleted a running Job that no longer belongs to the volume's release", {
        volume: name,
        job: jobName,
        why,
      });
      this.event(current, strayJobEvent(current, job, jobName, why));
    }
  }

  private async finish(
    volume: V1PersistentVolume,
    plan: Extract<ReclaimPlan, { action: 'finish' }>,
    jobs: ReleaseJobs,
  ): Promise<ReconcileResult> {
    const job = jobs.recorded;
    const seconds = jobSeconds(job);
    if (plan.operation === 'recycle') {
      const freed = await unbind(this.api, volume, recycledVolume(volume));
      if (plan.event) this.event(freed, plan.event);
      this.opts.log.info('recycled volume', { volume: volume.metadata?.name, seconds });
    } else {
      await deleteVolumeObject(this.api, volume);
      this.opts.log.info('scrubbed and deleted volume', { volume: volume.metadata?.name, seconds });
    }
    this.opts.metrics?.reclaimFinished(plan.operation, policyOf(volume), true, seconds);
    if (job) await deleteFinishedJob(this.api, job, this.opts.log);
    return undefined;
  }

  private async fail(
    volume: V1PersistentVolume,
    plan: FailPlan,
    job: V1Job | undefined,
  ): Promise<ReconcileResult> {
    this.event(await markFailed(this.api, volume, plan), plan.event);
    this.opts.log.warn('reclaim failed', {
      volume: volume.metadata?.name,
      reason: plan.event.reason,
      message: plan.message,
      retry: plan.retry,
    });
    if (plan.deleteJob) {
      this.opts.metrics?.reclaimFinished(plan.operation, policyOf(volume), false, jobSeconds(job));
      if (job) await deleteFinishedJob(this.api, job, this.opts.log);
    }
    return after(plan.requeueAfterMs);
  }

  /** A Warning, once per text, for a reclaim-policy annotation that is not taken as written. */
  private sayPolicyProblem(volume: V1PersistentVolume): void {
    const name = volume.metadata?.name ?? '';
    const { problem } = effectiveReclaimPolicy(volume);
    if (problem === undefined) {
      this.lastPolicyProblem.delete(name);
      return;
    }
    if (this.lastPolicyProblem.get(name) === problem) return;
    this.lastPolicyProblem.set(name, problem);
    this.opts.log.warn('reclaim policy annotation not honoured', { volume: name, problem });
    this.event(volume, { type: 'Warning', reason: 'InvalidReclaimPolicy', note: problem });
  }

  private event(volume: V1PersistentVolume, e: PlannedEvent): void {
    void this.opts.events.record(volumeRef(volume), e.type, e.reason, 'Reclaim', e.note);
  }
}

const after = (ms: number | undefined): ReconcileResult =>
  ms === undefined ? undefined : { requeueAfterMs: ms };

function jobSeconds(job: V1Job | undefined): number | undefined {
  const created = job?.metadata?.creationTimestamp;
  return created ? (Date.now() - new Date(created).getTime()) / 1000 : undefined;
}

function claimOf(volume: V1PersistentVolume): string {
  return namespacedName(volume.spec?.claimRef?.namespace, volume.spec?.claimRef?.name);
}

/** The policy a reclaim ran under, for metrics ("Retain" when an administrator asked for a recycle). */
function policyOf(volume: V1PersistentVolume): string {
  return effectiveReclaimPolicy(volume).policy;
}
