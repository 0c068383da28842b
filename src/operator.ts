// The composition root: one process with its logger, metrics and probes, the
// event recorder and the controllers, started and stopped in order.
import { hostname } from 'node:os';

import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  type KubeConfig,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';

import { BindingController } from './binding/controller.ts';
import { exportOfVolume, volumeNameFor } from './nfs/export.ts';
import { overlaps } from './nfs/conflict.ts';
import { ExportController } from './nfs/export-controller.ts';
import { ProbeManager } from './nfs/probe-manager.ts';
import { ReclaimController } from './reclaim/controller.ts';
import type { RecycleTimeouts } from './reclaim/job.ts';
import { defaultRecyclerTemplate, mergeTemplate } from './reclaim/template.ts';
import { ApiClients } from './runtime/api-clients.ts';
import { apiMessage } from './kube/api-errors.ts';
import { formatDuration } from './runtime/duration.ts';
import { EventRecorder } from './runtime/events.ts';
import { type HttpServer, startHttpServer } from './runtime/http-server.ts';
import type { Log } from './runtime/log.ts';
import { Metrics } from './runtime/metrics.ts';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  log: Log;
  workers: number;
  resyncPeriodMs: number;
  /** host:port for /metrics, /healthz and /readyz; undefined turns the listener off. */
  metricsBindAddress: string | undefined;
  /** The limit on each API request but watches, in ms (default 60 s). */
  requestTimeoutMs?: number;
  /** Reported in events; the pod name in a cluster. */
  instance?: string;
  /** The operator's namespace, where scrub Jobs run. */
  namespace: string;
  /** The administrator's recycler pod template, already checked. */
  recyclerTemplate?: V1PodTemplateSpec;
  recycleTimeouts?: Partial<RecycleTimeouts>;
  recycleMaxRetries: number;
  recycleRetryBaseMs?: number;
  probe: {
    intervalMs: number;
    timeoutMs: number;
    concurrency: number;
    nfsPort?: number;
    portmapperPort?: number;
  };
}

export const controllerName = 'pv-lifecycle-operator';

/** The limit on each API request but watches. */
export const defaultRequestTimeoutMs = 60_000;

export class Operator {
  readonly metrics = new Metrics();
  readonly events: EventRecorder;
  readonly binding: BindingController;
  readonly reclaim: ReclaimController;
  readonly exports: ExportController;
  readonly probes: ProbeManager;
  /** The clients of every request the controllers and the event recorder make. */
  readonly api: ApiClients;
  private readonly opts: OperatorOptions;
  private http: HttpServer | undefined;
  private stopping: Promise<void> | undefined;

  constructor(opts: OperatorOptions) {
    this.opts = opts;
    const { kubeConfig, log } = opts;
    const api = new ApiClients(kubeConfig, { timeoutMs: opts.requestTimeoutMs ?? defaultRequestTimeoutMs });
    this.api = api;
    this.events = new EventRecorder({
      api: api.make(EventsV1Api),
      log,
      reportingController: controllerName,
      reportingInstance: `${controllerName}-${opts.instance ?? process.env.POD_NAME ?? hostname()}`,
    });
    this.probes = new ProbeManager({
      ...opts.probe,
      log,
      metrics: this.metrics,
      onChange: (exportName, result) => {
        this.exports.controller.enqueue(exportName);
        if (result.reachable) this.binding.volumeUnblocked(volumeNameFor(exportName));
      },
    });
    // Nothing may bind a volume that a scrub Job may still be emptying.
    const scrubbing = (volume: V1PersistentVolume): string | undefined => {
      const job = this.reclaim.scrubbingJob(volume.metadata?.name ?? '');
      return job ? `is being scrubbed by Job ${job}` : undefined;
    };
    this.binding = new BindingController({
      blocked: (volume) => {
        const held = scrubbing(volume);
        if (held) return held;
        // The ownerReference holds the export's whole name; the label may be shortened.
        const exportName = exportOfVolume(volume);
        if (!exportName) return undefined;
        return this.exports.heldBack(volume) ?? this.probes.blockedReason(exportName);
      },
      busy: scrubbing,
      kubeConfig,
      core: api.make(CoreV1Api),
      storage: api.make(StorageV1Api),
      events: this.events,
      log,
      workers: opts.workers,
      resyncPeriodMs: opts.resyncPeriodMs,
      metrics: this.metrics,
    });
    this.reclaim = new ReclaimController({
      kubeConfig,
      core: api.make(CoreV1Api),
      batch: api.make(BatchV1Api),
      events: this.events,
      log,
      volumes: this.binding.volumes,
      namespace: opts.namespace,
      job: {
        template: mergeTemplate(defaultRecyclerTemplate(), opts.recyclerTemplate),
        timeouts: opts.recycleTimeouts,
      },
      workers: opts.workers,
      resyncPeriodMs: opts.resyncPeriodMs,
      maxRetries: opts.recycleMaxRetries,
      retryBaseMs: opts.recycleRetryBaseMs,
      metrics: this.metrics,
      sharingData: (volume) => {
        const nfs = volume.spec?.nfs;
        if (!nfs) return [];
        const name = volume.metadata?.name;
        return this.binding.volumes.store
          .list()
          .filter((v) => v.metadata?.name !== name && v.spec?.nfs !== undefined && overlaps(nfs, v.spec.nfs));
      },
      // The export's phase follows its volume's scrub (Recycling).
      onScrubJobChanged: (volumeName) => {
        this.exports.volumeJobChanged(volumeName);
        if (!this.reclaim.isScrubbing(volumeName)) this.binding.volumeUnblocked(volumeName);
      },
    });
    this.exports = new ExportController({
      kubeConfig,
      core: api.make(CoreV1Api),
      custom: api.make(CustomObjectsApi),
      events: this.events,
      log,
      volumes: this.binding.volumes,
      isScrubbing: (volumeName) => this.reclaim.isScrubbing(volumeName),
      probes: this.probes,
      workers: opts.workers,
      resyncPeriodMs: opts.resyncPeriodMs,
      metrics: this.metrics,
    });
    for (const c of [
      this.binding.claimController,
      this.binding.volumeController,
      this.reclaim.controller,
      this.exports.controller,
    ]) {
      this.metrics.bindQueue(c.name, c.queue);
    }
    this.metrics.onCollectVolumeCounts(() => this.binding.volumeCounts());
    this.metrics.onCollectJobsInFlight(() => this.reclaim.jobsInFlight());
  }

  /** The listener's address once started, for logs and tests. */
  get httpAddress(): { host: string; port: number } | undefined {
    return this.http?.address;
  }

  ready(): boolean {
    return this.binding.hasSynced() && this.reclaim.hasSynced() && this.exports.hasSynced();
  }

  /**
   * Serves probes at once (not ready until the informers sync), syncs the
   * informers, then starts the controllers' workers once leading resolves: a
   * standby under leader election keeps its caches warm and serves probes and
   * metrics, but reconciles nothing until it holds the lease.
   */
  async start(leading: Promise<void> = Promise.resolve()): Promise<void> {
    const { log, metricsBindAddress } = this.opts;
    if (metricsBindAddress !== undefined) {
      this.http = await startHttpServer({
        bindAddress: metricsBindAddress,
        metrics: this.metrics,
        readyChecks: {
          binding: () => this.binding.hasSynced(),
          reclaim: () => this.reclaim.hasSynced(),
          // Not synced while the NfsExport CRD is missing: kubectl apply -k config/crd
          nfsexports: () => this.exports.hasSynced(),
        },
      });
      log.info('serving metrics and probes', {
        address: `${this.http.address.host}:${String(this.http.address.port)}`,
      });
    }
    await this.checkNamespace();
    log.info('starting controllers', { workers: this.opts.workers, namespace: this.opts.namespace });
    this.probes.start();
    await Promise.all([
      this.binding.start(leading),
      this.reclaim.start(leading),
      this.exports.start(leading),
    ]);
    log.info('informers synced; reconciling', {
      volumes: this.binding.volumes.store.size,
      claims: this.binding.claims.store.size,
    });
  }

  /** Scrub Jobs run in the operator's namespace: say clearly at start-up if it is missing. */
  private async checkNamespace(): Promise<void> {
    try {
      await this.api.make(CoreV1Api).readNamespace({ name: this.opts.namespace });
    } catch (err) {
      this.opts.log.warn('the operator namespace cannot be read; scrub Jobs cannot run until it exists', {
        namespace: this.opts.namespace,
        error: apiMessage(err),
        hint: 'create it, or pass --namespace',
      });
    }
  }

  /**
   * Stops taking work, lets in-flight reconciles finish and flushes events;
   * whatever still runs after graceMs is abandoned (see abandon). Safe to call
   * twice; the first grace counts.
   */
  stop(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopping ??= (async () => {
      const why = `the operator is stopping (grace period ${formatDuration(graceMs)} over)`;
      let timer: NodeJS.Timeout | undefined;
      if (graceMs <= 0) this.abandon(why);
      else if (Number.isFinite(graceMs)) {
        timer = setTimeout(() => {
          this.abandon(why);
        }, graceMs);
      }
      try {
        await Promise.all([
          this.binding.stop(),
          this.reclaim.stop(),
          this.exports.stop(),
          this.probes.stop(),
        ]);
        await this.events.stop();
      } finally {
        if (timer) clearTimeout(timer);
      }
      await this.http?.close();
    })();
    return this.stopping;
  }

  /**
   * Aborts every API request in flight and fails later ones at once, which
   * leaves the cluster as a crash at that point would (every write path
   * survives that). For a process that must not write any more: its grace
   * period is over, or it lost the lease. Logs once, listing what it cut off.
   */
  abandon(why: string): void {
    if (this.api.abandoned) return;
    this.opts.log.warn('abandoning in-flight work: its requests are aborted; the next leader picks it up', {
      why,
      running: this.runningKeys(),
    });
    this.api.abandonAll(why);
  }

  /** The keys being reconciled now, as controller/key. */
  runningKeys(): string[] {
    return [
      this.binding.claimController,
      this.binding.volumeController,
      this.reclaim.controller,
      this.exports.controller,
    ].flatMap((c) => c.queue.runningKeys().map((key) => `${c.name}/${key}`));
  }
}
