// The operator's Prometheus metrics, on a registry of its own so tests and
// embedders never collide on prom-client's global one. Names and labels are
// those of controller-runtime, client-go's workqueue and the in-tree
// PersistentVolume controller, so existing dashboards and alerts keep working.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ReconcileOutcome = 'success' | 'error' | 'requeue' | 'requeue_after';
const reconcileOutcomes: readonly ReconcileOutcome[] = ['success', 'error', 'requeue', 'requeue_after'];

/** What a work queue reports as it goes; the queue passes extra arguments these ignore. */
export interface QueueMetricsObserver {
  onAdd(): void;
  onQueueDuration(ms: number): void;
  onWorkDuration(ms: number): void;
  onRetry(): void;
}

/** What a work queue exposes for the gauges read at scrape time. */
export interface ObservableQueue {
  readonly depth: number;
  inFlightDurationsMs(): number[];
}

export interface ReconcileMetricsObserver {
  observe(result: ReconcileOutcome, seconds: number): void;
}

export interface StorageClassCount {
  storageClass: string;
  count: number;
}

export interface NamespacedStorageClassCount extends StorageClassCount {
  namespace: string;
}

/** Volumes and claims by binding state, as the in-tree controller reports them. */
export interface VolumeCounts {
  boundVolumes: readonly StorageClassCount[];
  unboundVolumes: readonly StorageClassCount[];
  boundClaims: readonly NamespacedStorageClassCount[];
  unboundClaims: readonly NamespacedStorageClassCount[];
  /** Claims not Bound that the binder would bind now; no pv_collector gauge says this. */
  pendingClaimsWithFit?: number;
}

export interface MetricsOptions {
  /** process_* and nodejs_* metrics; on unless turned off. */
  defaultMetrics?: boolean;
}

// client-go's workqueue buckets: 10 ns to 10 s, by factors of ten.
const queueBuckets = Array.from({ length: 10 }, (_, i) => 1e-8 * 10 ** i);
const reconcileBuckets = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 45, 60,
];

/** An export's file system space, in bytes. */
export interface ExportSpace {
  totalBytes: number;
  freeBytes: number;
  availBytes: number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly queues = new Map<string, ObservableQueue>();
  private volumeCounts: (() => VolumeCounts) | undefined;
  private volumeSnapshot: VolumeCounts | undefined;

  private readonly reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  private readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  private readonly reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller',
    labelNames: ['controller'] as const,
    buckets: reconcileBuckets,
    registers: [this.registry],
  });

  private readonly queueAdds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private readonly queueRetries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private readonly queueDuration = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames: ['name'] as const,
    buckets: queueBuckets,
    registers: [this.registry],
  });
  private readonly workDuration = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes',
    labelNames: ['name'] as const,
    buckets: queueBuckets,
    registers: [this.registry],
  });

  // The remaining gauges are computed when scraped, from live state, so they
  // can never drift from what they describe.
  private readonly queueDepth = this.scrapedGauge(
    'workqueue_depth',
    'Current depth of workqueue',
    ['name'],
    (set) => {
      for (const [name, queue] of this.queues) set({ name }, queue.depth);
    },
  );
  private readonly unfinishedWork = this.scrapedGauge(
    'workqueue_unfinished_work_seconds',
    'How many seconds of work has been done that is in progress and has not been observed by ' +
      'work_duration. Large values indicate stuck threads.',
    ['name'],
    (set) => {
      for (const [name, queue] of this.queues) {
        set({ name }, queue.inFlightDurationsMs().reduce((sum, ms) => sum + ms, 0) / 1000);
      }
    },
  );
  private readonly longestRunning = this.scrapedGauge(
    'workqueue_longest_running_processor_seconds',
    'How many seconds has the longest running processor for workqueue been running.',
    ['name'],
    (set) => {
      for (const [name, queue] of this.queues)
        set({ name }, Math.max(0, ...queue.inFlightDurationsMs()) / 1000);
    },
  );

  private readonly boundVolumes = this.scrapedGauge(
    'pv_collector_bound_pv_count',
    'Gauge measuring number of persistent volume currently bound',
    ['storage_class'],
    (set) => {
      for (const c of this.volumeCountsNow()?.boundVolumes ?? [])
        set({ storage_class: c.storageClass }, c.count);
    },
  );
  private readonly unboundVolumes = this.scrapedGauge(
    'pv_collector_unbound_pv_count',
    'Gauge measuring number of persistent volume currently unbound',
    ['storage_class'],
    (set) => {
      for (const c of this.volumeCountsNow()?.unboundVolumes ?? []) {
        set({ storage_class: c.storageClass }, c.count);
      }
    },
  );
  private readonly boundClaims = this.scrapedGauge(
    'pv_collector_bound_pvc_count',
    'Gauge measuring number of persistent volume claim currently bound',
    ['namespace', 'storage_class'],
    (set) => {
      for (const c of this.volumeCountsNow()?.boundClaims ?? []) {
        set({ namespace: c.namespace, storage_class: c.storageClass }, c.count);
      }
    },
  );
  private readonly unboundClaims = this.scrapedGauge(
    'pv_collector_unbound_pvc_count',
    'Gauge measuring number of persistent volume claim currently unbound',
    ['namespace', 'storage_class'],
    (set) => {
      for (const c of this.volumeCountsNow()?.unboundClaims ?? []) {
        set({ namespace: c.namespace, storage_class: c.storageClass }, c.count);
      }
    },
  );

  // The binding-stalled alert's series: unbound claims and unbound volumes in
  // one class do not mean a fit (size, modes, selectors, Released volumes).
  private readonly pendingWithFit = this.scrapedGauge(
    'pv_lifecycle_pending_claims_with_fitting_volume',
    'Claims not yet Bound for which a fitting or pre-bound volume is there to bind now; non-zero for minutes means binding has stalled',
    [],
    (set) => {
      const n = this.volumeCountsNow()?.pendingClaimsWithFit;
      if (n !== undefined) set({}, n);
    },
  );

  private readonly retroactiveStorageClasses = new Counter({
    name: 'retroactive_storageclass_total',
    help: 'Total number of retroactive StorageClass assignments to persistent volume claim',
    registers: [this.registry],
  });
  private readonly retroactiveStorageClassErrors = new Counter({
    name: 'retroactive_storageclass_errors_total',
    help: 'Total number of failed retroactive StorageClass assignments to persistent volume claim',
    registers: [this.registry],
  });

  private readonly otherBinderEvents = new Counter({
    name: 'pv_lifecycle_other_binder_events_total',
    help: "Events of kube-controller-manager's PV binder (persistentvolume-controller) on claims and volumes seen while this operator binds, by the kind of object",
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  private readonly reclaimOperations = new Counter({
    name: 'pv_lifecycle_reclaim_operations_total',
    help: 'Scrub operations of released volumes by operation (recycle, delete), reclaim policy and result (started, succeeded, failed)',
    labelNames: ['operation', 'policy', 'result'] as const,
    registers: [this.registry],
  });
  private readonly volumeOperationSeconds = new Histogram({
    name: 'volume_operation_total_seconds',
    help: 'Storage operation end to end duration in seconds',
    labelNames: ['plugin_name', 'operation_name'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600],
    registers: [this.registry],
  });
  private readonly volumeOperationErrors = new Counter({
    name: 'volume_operation_total_errors',
    help: 'Storage operation errors',
    labelNames: ['plugin_name', 'operation_name'] as const,
    registers: [this.registry],
  });
  private readonly eventOutcomes = new Counter({
    name: 'pv_lifecycle_events_total',
    help: 'Occurrences given to the event recorder by outcome: emitted (a new Event), aggregated (into a series), dropped_spam (the per-object filter), dropped_queue (too many writes waiting)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly eventWriteErrors = new Counter({
    name: 'pv_lifecycle_event_write_errors_total',
    help: 'Event writes the recorder gave up on, by operation (create, patch)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  private readonly provisioningOperations = new Counter({
    name: 'pv_lifecycle_provisioning_operations_total',
    help: 'NFS provisioner operations by operation (provision, delete, archive, retain) and result (succeeded, failed)',
    labelNames: ['operation', 'result'] as const,
    registers: [this.registry],
  });
  private readonly probes = new Counter({
    name: 'pv_lifecycle_nfs_probe_total',
    help: 'NFS server probes by outcome (Reachable, Timeout, ConnectionRefused, ExportNotFound, ...)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly probeSeconds = new Histogram({
    name: 'pv_lifecycle_nfs_probe_duration_seconds',
    help: 'Time an NFS server probe took',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly leaderStatus = new Gauge({
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private exportSpaces: (() => Iterable<[string, ExportSpace]>) | undefined;
  private readonly exportBytes = this.scrapedGauge(
    'pv_lifecycle_nfs_export_bytes',
    "Space of each NfsExport's file system as its server reports it over NFSv4 (no mount), by export and kind (total, used, available)",
    ['export', 'kind'],
    (set) => {
      for (const [name, space] of this.exportSpaces?.() ?? []) {
        set({ export: name, kind: 'total' }, space.totalBytes);
        set({ export: name, kind: 'used' }, Math.max(0, space.totalBytes - space.freeBytes));
        set({ export: name, kind: 'available' }, space.availBytes);
      }
    },
  );
  private jobsInFlight: (() => number) | undefined;
  private readonly recyclerJobsInFlight = this.scrapedGauge(
    'pv_lifecycle_recycler_jobs_in_flight',
    'Scrub Jobs created by the operator that have not finished',
    [],
    (set) => {
      if (this.jobsInFlight) set({}, this.jobsInFlight());
    },
  );

  constructor(options: MetricsOptions = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text of every metric, for GET /metrics. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  workQueueObserver(name: string): QueueMetricsObserver {
    const labels = { name };
    // Zero series from the start, so rates work before the first event.
    this.queueAdds.inc(labels, 0);
    this.queueRetries.inc(labels, 0);
    return {
      onAdd: () => {
        this.queueAdds.inc(labels);
      },
      onQueueDuration: (ms) => {
        this.queueDuration.observe(labels, ms / 1000);
      },
      onWorkDuration: (ms) => {
        this.workDuration.observe(labels, ms / 1000);
      },
      onRetry: () => {
        this.queueRetries.inc(labels);
      },
    };
  }

  /** The name the binding controller's metrics interface uses. */
  queueObserver(name: string): QueueMetricsObserver {
    return this.workQueueObserver(name);
  }

  /** Reads depth and in-flight work from queue on every scrape; returns an unbind function. */
  bindQueue(name: string, queue: ObservableQueue): () => void {
    this.queues.set(name, queue);
    return () => {
      if (this.queues.get(name) === queue) this.queues.delete(name);
    };
  }

  reconcileObserver(controller: string): ReconcileMetricsObserver {
    for (const result of reconcileOutcomes) this.reconcileTotal.inc({ controller, result }, 0);
    this.reconcileErrors.inc({ controller }, 0);
    return {
      observe: (result, seconds) => {
        this.reconcileTotal.inc({ controller, result });
        if (result === 'error') this.reconcileErrors.inc({ controller });
        this.reconcileTime.observe({ controller }, seconds);
      },
    };
  }

  /**
   * Supplies the pv_collector_* gauges; fn runs once per scrape. A later call
   * replaces the earlier source.
   */
  onCollectVolumeCounts(fn: () => VolumeCounts): void {
    this.volumeCounts = fn;
  }

  reclaimStarted(operation: string, policy: string): void {
    this.reclaimOperations.inc({ operation, policy, result: 'started' });
  }

  /** A scrub ended; seconds is from the Job's creation, when known. */
  reclaimFinished(operation: string, policy: string, ok: boolean, seconds: number | undefined): void {
    this.reclaimOperations.inc({ operation, policy, result: ok ? 'succeeded' : 'failed' });
    const labels = { plugin_name: 'pvlifecycle.io/recycler', operation_name: `volume_${operation}` };
    if (!ok) this.volumeOperationErrors.inc(labels);
    if (seconds !== undefined) this.volumeOperationSeconds.observe(labels, seconds);
  }

  /** The event recorder's hooks: what became of each occurrence, and writes given up on. */
  eventObserver(): { onEvent(outcome: string): void; onWriteError(operation: string): void } {
    return {
      onEvent: (outcome) => {
        this.eventOutcomes.inc({ outcome });
      },
      onWriteError: (operation) => {
        this.eventWriteErrors.inc({ operation });
      },
    };
  }

  /** A directory made (and its volume), or a released one dealt with; seconds of the NFS and API work. */
  provisioningOperation(operation: string, ok: boolean, seconds: number): void {
    this.provisioningOperations.inc({ operation, result: ok ? 'succeeded' : 'failed' });
    const labels = { plugin_name: 'pvlifecycle.io/nfs', operation_name: `volume_${operation}` };
    if (ok) this.volumeOperationSeconds.observe(labels, seconds);
    else this.volumeOperationErrors.inc(labels);
  }

  probeResult(reason: string, seconds: number): void {
    this.probes.inc({ reason });
    this.probeSeconds.observe(seconds);
  }

  /** leader_election_master_status{name}: 1 while this process holds the lease, else 0. */
  setLeader(name: string, leader: boolean): void {
    this.leaderStatus.set({ name }, leader ? 1 : 0);
  }

  /** Supplies pv_lifecycle_nfs_export_bytes; fn runs once per scrape. */
  onCollectExportSpaces(fn: () => Iterable<[string, ExportSpace]>): void {
    this.exportSpaces = fn;
  }

  onCollectJobsInFlight(fn: () => number): void {
    this.jobsInFlight = fn;
  }

  /** Another binder's event on a claim or volume (kind PersistentVolumeClaim or PersistentVolume). */
  otherBinderEvent(kind: string): void {
    this.otherBinderEvents.inc({ kind });
  }

  retroactiveStorageClass(ok: boolean): void {
    this.retroactiveStorageClasses.inc();
    if (!ok) this.retroactiveStorageClassErrors.inc();
  }

  /**
   * The four pv_collector gauges share one call of the source per scrape: the
   * registry collects all metrics in one synchronous pass, so a snapshot
   * dropped on the next turn of the event loop is never reused by a later scrape.
   */
  private volumeCountsNow(): VolumeCounts | undefined {
    if (!this.volumeCounts) return undefined;
    if (!this.volumeSnapshot) {
      try {
        this.volumeSnapshot = this.volumeCounts();
      } catch {
        // A failing source leaves the gauges empty rather than failing the whole scrape.
        return undefined;
      }
      setImmediate(() => {
        this.volumeSnapshot = undefined;
      });
    }
    return this.volumeSnapshot;
  }

  private scrapedGauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (set: (labels: Record<L, string>, value: number) => void) => void,
  ): Gauge<L> {
    return new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        // Series of queues or classes that no longer exist must disappear.
        this.reset();
        fill((labels, value) => {
          this.set(labels as Partial<Record<L, string>>, value);
        });
      },
    });
  }
}
