// The reclaim controller: what happens to a volume once its claim is gone
// (pv-controller.md §3). Retain keeps it Released; Recycle scrubs it with a Job
// and makes it Available; Delete scrubs and deletes volumes this operator made;
// an administrator can ask for a one-off recycle or release by annotation.
//
// Users' data first: a Job is started, and its result acted on, only after
// live reads (not the cache) confirm the volume is still Released for the same
// claim UID, that no claim with that UID exists and that no running pod uses
// the claim; the result counts only from the Job of this very release (its
// name is derived from the volume and claim UID, and its annotations and owner
// reference must name the same volume UID and claim UID).
import {
  type BatchV1Api,
  type CoreV1Api,
  type KubeConfig,
  type V1Job,
  type V1PersistentVolume,
  type V1Pod,
} from '@kubernetes/client-node';

import { annBoundByController } from '../binding/annotations.ts';
import { apiMessage, isConflict, isNotFound } from '../runtime/api-errors.ts';
import { Controller, type ReconcileObserver, type ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, type ObjectRef, objectRef } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import type { Log } from '../runtime/log.ts';
import type { WorkQueueObserver } from '../runtime/work-queue.ts';
import {
  type JobState,
  type Operation,
  type PlannedEvent,
  type ReclaimFacts,
  annReclaimFailures,
  annReclaimRequest,
  failuresValue,
  planReclaim,
  retryDelayMs,
} from './decide.ts';
import {
  annClaimUid,
  annVolumeName,
  annVolumeUid,
  isRecyclable,
  managedByLabel,
  recyclerJob,
  recyclerJobName,
  type RecyclerJobOptions,
} from './job.ts';

export interface ReclaimMetrics {
  queueObserver(name: string): WorkQueueObserver;
  reconcileObserver(controller: string): ReconcileObserver;
  reclaimStarted(operation: Operation, policy: string): void;
  reclaimFinished(operation: Operation, policy: string, ok: boolean, seconds: number | undefined): void;
}

export interface ReclaimControllerOptions {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  batch: BatchV1Api;
  events: EventSink;
  log: Log;
  /** The binder's volume informer, shared. */
  volumes: Informer<V1PersistentVolume>;
  /** Where recycler Jobs run: the operator's namespace. */
  namespace: string;
  job: Omit<RecyclerJobOptions, 'namespace' | 'operation'>;
  workers: number;
  resyncPeriodMs: number;
  maxRetries: number;
  retryBaseMs?: number;
  metrics?: ReclaimMetrics;
  baseDelayMs?: number;
  /** Told the volume's name whenever one of its scrub Jobs is created, changes or goes. */
  onScrubJobChanged?: (volumeName: string) => void;
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

export class ReclaimController {
  readonly jobs: Informer<V1Job>;
  readonly controller: Controller;
  private readonly opts: ReclaimControllerOptions;
  /** Last wait event per volume, so a waiting volume does not repeat itself every resync. */
  private readonly lastWait = new Map<string, string>();

  constructor(opts: ReclaimControllerOptions) {
    this.opts = opts;
    const { kubeConfig, batch, namespace, log } = opts;
    const labelSelector = `${managedByLabel.key}=${managedByLabel.value}`;
    this.jobs = new Informer<V1Job>({
      name: 'recycler-jobs',
      kubeConfig,
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      labelSelector,
      list: () => batch.listNamespacedJob({ namespace, labelSelector }),
      model: 'V1Job',
      resyncPeriodMs: opts.resyncPeriodMs,
      log,
    });
    this.controller = new Controller({
      name: reclaimControllerName,
      workers: opts.workers,
      log,
      baseDelayMs: opts.baseDelayMs,
      reconcile: (key) => this.sync(key),
      queueObserver: opts.metrics?.queueObserver(reclaimControllerName),
      reconcileObserver: opts.metrics?.reconcileObserver(reclaimControllerName),
    });
    const onVolume = (v: V1PersistentVolume) => {
      if (interesting(v)) this.controller.enqueue(v.metadata?.name ?? '');
      else this.lastWait.delete(v.metadata?.name ?? '');
    };
    opts.volumes.on({
      add: onVolume,
      update: (_o, v) => {
        onVolume(v);
      },
      resync: onVolume,
    });
    const onJob = (j: V1Job) => {
      const volume = j.metadata?.annotations?.[annVolumeName];
      if (!volume) return;
      this.controller.enqueue(volume);
      opts.onScrubJobChanged?.(volume);
    };
    this.jobs.on({
      add: onJob,
      update: (_o, j) => {
        onJob(j);
      },
      delete: onJob,
    });
  }

  /**
   * The volume informer is started by its owner; this starts and syncs the Job
   * informer, then the workers once leading resolves (at once by default).
   */
  async start(leading: Promise<void> = Promise.resolve()): Promise<void> {
    this.jobs.start();
    await this.jobs.waitForSync();
    await leading;
    this.controller.start();
  }

  hasSynced(): boolean {
    return this.jobs.hasSynced();
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    await this.jobs.stop();
  }

  /** Whether a scrub Job of this operator is running for the volume. */
  isScrubbing(volumeName: string): boolean {
    return this.jobs.store
      .list()
      .some((j) => j.metadata?.annotations?.[annVolumeName] === volumeName && isRunning(j));
  }

  /** Jobs of this operator that have not finished, for the in-flight gauge. */
  jobsInFlight(): number {
    return this.jobs.store.list().filter(isRunning).length;
  }

  private async sync(name: string): Promise<ReconcileResult> {
    const cached = this.opts.volumes.store.get(name);
    if (!cached || !interesting(cached)) return undefined;
    // A first opinion from the cache alone, with the most hopeful facts: most
    // Released volumes (Retain) need nothing, and need no API reads to know it.
    const hopeful = planReclaim(this.facts(cached, false, [], this.jobStateFromCache(cached)));
    if (hopeful.action === 'none') return undefined;

    // Acting on a volume: decide again from live reads.
    const volume = await this.readVolume(name);
    if (!volume || !interesting(volume)) return undefined;
    const ref = volume.spec?.claimRef;
    const claimExists = ref?.uid
      ? await this.claimExists(ref.namespace ?? '', ref.name ?? '', ref.uid)
      : false;
    const podsUsing =
      ref && !claimExists ? await this.podsUsing(ref.namespace ?? '', ref.name ?? '', ref.uid) : [];
    const job = await this.jobStateLive(volume);
    const plan = planReclaim(this.facts(volume, claimExists, podsUsing, job));
    const { log } = this.opts;

    switch (plan.action) {
      case 'none':
        return undefined;
      case 'wait': {
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
        const freed = await this.unbind(volume);
        log.info('released volume on request, data kept', { volume: name, claim: claimOf(volume) });
        this.event(freed, plan.event);
        return undefined;
      }
      case 'startJob':
        return this.startJob(volume, plan.operation, plan.resetFailures);
      case 'finish':
        return this.finish(volume, plan.operation, plan.event);
      case 'fail':
        return this.fail(volume, plan);
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

  private jobName(volume: V1PersistentVolume): string {
    return recyclerJobName(volume.metadata?.name ?? '', volume.spec?.claimRef?.uid ?? '');
  }

  private jobStateFromCache(volume: V1PersistentVolume): JobState {
    const job = this.jobs.store.get(`${this.opts.namespace}/${this.jobName(volume)}`);
    return job ? this.jobState(volume, job) : { state: 'absent' };
  }

  /** The Job of this release as the API has it now, with the failed pod's own message. */
  private async jobStateLive(volume: V1PersistentVolume): Promise<JobState> {
    let job: V1Job;
    try {
      job = await this.opts.batch.readNamespacedJob({
        name: this.jobName(volume),
        namespace: this.opts.namespace,
      });
    } catch (err) {
      if (isNotFound(err)) return { state: 'absent' };
      throw err;
    }
    const state = this.jobState(volume, job);
    if (state.state === 'running' && !hasPod(job)) {
      const blocked = await this.podRefusal(job);
      return blocked ? { state: 'running', blocked } : { state: 'running', noPodYet: true };
    }
    if (state.state !== 'failed') return state;
    const podMessage = await this.failedPodMessage(job);
    return podMessage ? { state: 'failed', message: podMessage } : state;
  }

  /** Trusts a Job only if it names this very volume UID and released claim UID. */
  private jobState(volume: V1PersistentVolume, job: V1Job): JobState {
    const a = job.metadata?.annotations ?? {};
    const volumeUid = volume.metadata?.uid;
    const claimUid = volume.spec?.claimRef?.uid;
    const owned = (job.metadata?.ownerReferences ?? []).some(
      (o) => o.kind === 'PersistentVolume' && o.uid === volumeUid,
    );
    if (a[annVolumeUid] !== volumeUid || a[annClaimUid] !== claimUid || !owned) {
      return {
        state: 'foreign',
        message:
          `Job ${this.opts.namespace}/${job.metadata?.name ?? ''} has the name of this volume's recycler but ` +
          `belongs to another volume or release (volume uid ${a[annVolumeUid] ?? 'none'}, claim uid ` +
          `${a[annClaimUid] ?? 'none'}); it is ignored. Delete it to let the reclaim go on`,
      };
    }
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

  private async failedPodMessage(job: V1Job): Promise<string | undefined> {
    const uid = job.metadata?.uid;
    if (!uid) return undefined;
    const pods = await this.opts.core.listNamespacedPod({
      namespace: this.opts.namespace,
      labelSelector: `batch.kubernetes.io/controller-uid=${uid}`,
    });
    for (const pod of pods.items) {
      for (const s of pod.status?.containerStatuses ?? []) {
        const t = s.state?.terminated;
        if (t && t.exitCode !== 0) {
          return `${t.message?.trim() || t.reason || 'scrub failed'} (exit code ${String(t.exitCode)})`;
        }
      }
      const w = pod.status?.containerStatuses?.[0]?.state?.waiting;
      if (w?.reason) return `${w.reason}: ${w.message ?? ''}`.trim();
    }
    return undefined;
  }

  private async readVolume(name: string): Promise<V1PersistentVolume | undefined> {
    try {
      return await this.opts.core.readPersistentVolume({ name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async claimExists(namespace: string, name: string, uid: string): Promise<boolean> {
    try {
      const c = await this.opts.core.readNamespacedPersistentVolumeClaim({ name, namespace });
      return c.metadata?.uid === uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Running pods that may still have the released claim's volume mounted: any
   * pod that is not finished and names the claim, unless a newer claim of that
   * name is bound to another volume (then the pod uses that one).
   */
  private async podsUsing(namespace: string, claimName: string, uid: string | undefined): Promise<string[]> {
    const pods = await this.opts.core.listNamespacedPod({ namespace });
    const users = pods.items.filter(
      (p: V1Pod) =>
        p.status?.phase !== 'Succeeded' &&
        p.status?.phase !== 'Failed' &&
        (p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === claimName),
    );
    if (users.length === 0) return [];
    try {
      const current = await this.opts.core.readNamespacedPersistentVolumeClaim({
        name: claimName,
        namespace,
      });
      if (current.metadata?.uid !== uid && current.spec?.volumeName) return [];
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return users.map((p) => `${namespace}/${p.metadata?.name ?? ''}`);
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
    try {
      await this.opts.batch.createNamespacedJob({ namespace: this.opts.namespace, body: job });
    } catch (err) {
      // Created by an earlier run of ours (or someone else): the next sync judges it.
      if ((err as { code?: number }).code === 409) return { requeueAfterMs: 1000 };
      throw err;
    }
    this.opts.metrics?.reclaimStarted(operation, policyOf(volume));
    this.opts.log.info('started scrub Job', {
      volume: volume.metadata?.name,
      operation,
      job: `${this.opts.namespace}/${job.metadata?.name ?? ''}`,
      releasedClaim: claimOf(volume),
    });
    this.event(current, {
      type: 'Normal',
      reason: operation === 'recycle' ? 'RecycleStarted' : 'DeleteStarted',
      note: `scrubbing the volume with Job ${this.opts.namespace}/${job.metadata?.name ?? ''} before ${operation === 'recycle' ? 'making it Available again' : 'deleting it'}`,
    });
    return undefined;
  }

  private async finish(
    volume: V1PersistentVolume,
    operation: Operation,
    event: PlannedEvent | undefined,
  ): Promise<ReconcileResult> {
    const jobName = this.jobName(volume);
    const seconds = this.jobSeconds(jobName);
    if (operation === 'recycle') {
      const freed = await this.unbind(volume);
      if (event) this.event(freed, event);
      this.opts.log.info('recycled volume', { volume: volume.metadata?.name, seconds });
    } else {
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
      this.opts.log.info('scrubbed and deleted volume', { volume: volume.metadata?.name, seconds });
    }
    this.opts.metrics?.reclaimFinished(operation, policyOf(volume), true, seconds);
    await this.deleteJob(jobName);
    return undefined;
  }

  private async fail(
    volume: V1PersistentVolume,
    plan: Extract<ReturnType<typeof planReclaim>, { action: 'fail' }>,
  ): Promise<ReconcileResult> {
    let current = volume;
    const uid = volume.spec?.claimRef?.uid ?? '';
    const now = Date.now();
    const annotations = { ...volume.metadata?.annotations };
    if (plan.failures !== undefined) annotations[annReclaimFailures] = failuresValue(uid, plan.failures, now);
    // Out of retries: an administrator's request is answered (with this failure), not repeated.
    if (!plan.retry) Reflect.deleteProperty(annotations, annReclaimRequest);
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
      this.opts.metrics?.reclaimFinished(
        operation,
        policyOf(volume),
        false,
        this.jobSeconds(this.jobName(volume)),
      );
      await this.deleteJob(this.jobName(volume));
    }
    if (plan.retry && plan.failures !== undefined) {
      return { requeueAfterMs: retryDelayMs(plan.failures, this.opts.retryBaseMs) };
    }
    return undefined;
  }

  /**
   * Clears claimRef (the data stays as it is now) and makes the volume
   * Available. Clearing claimRef is the decisive write; the binder may set the
   * phase at the same moment (it reacts to that very change), so a conflict on
   * the status write is settled by reading the volume again.
   */
  private async unbind(volume: V1PersistentVolume): Promise<V1PersistentVolume> {
    let current = await this.replaceVolume({
      ...volume,
      metadata: {
        ...volume.metadata,
        annotations: withoutAnnotations(volume, [
          annReclaimRequest,
          annReclaimFailures,
          annBoundByController,
        ]),
      },
      spec: { ...volume.spec, claimRef: undefined },
    });
    for (let attempt = 0; attempt < 5; attempt++) {
      if (current.spec?.claimRef || current.status?.phase === 'Available') return current;
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

  private jobSeconds(name: string): number | undefined {
    const job = this.jobs.store.get(`${this.opts.namespace}/${name}`);
    const created = job?.metadata?.creationTimestamp;
    return created ? (Date.now() - new Date(created).getTime()) / 1000 : undefined;
  }

  private async deleteJob(name: string): Promise<void> {
    try {
      await this.opts.batch.deleteNamespacedJob({
        name,
        namespace: this.opts.namespace,
        propagationPolicy: 'Background',
      });
    } catch (err) {
      if (!isNotFound(err)) {
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

function claimOf(volume: V1PersistentVolume): string {
  const ref = volume.spec?.claimRef;
  return `${ref?.namespace ?? ''}/${ref?.name ?? ''}`;
}

/** The policy a reclaim ran under, for metrics ("Retain" when an administrator asked for a recycle). */
function policyOf(volume: V1PersistentVolume): string {
  return volume.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
}
