// The manager under every controller: it owns the API clients, one informer
// per kind shared by all controllers, the controllers' queues and metrics,
// readiness, leader gating and the order of start and stop. A controller
// declares what it watches and how a change maps to keys, and supplies its
// reconcile; the manager does the rest, the same way for each.
//
// Start: caches first (a volume missing from an unsynced cache is not a
// deleted volume), then, once this replica leads, the workers. Stop: the
// workers stop taking keys and finish in-flight reconciles (abandoned after
// the grace period), then the runnables, then the caches.
import type { KubeConfig } from '@kubernetes/client-node';

import { formatDuration } from './duration.ts';
import { ApiClients } from './api-clients.ts';
import { Controller, type Reconcile } from './controller.ts';
import { type Check } from './http-server.ts';
import { Informer, type ListPage, type ListResult } from './informer.ts';
import type { Log } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Syncable, Watch } from './source.ts';
import { type IndexFunction, type StoredObject, withoutManagedFields } from './store.ts';

/** A kind of object to cache: what to list and watch. Informers are shared by name. */
export interface Kind<T> {
  /** For logs and metrics, e.g. "persistentvolumes"; the same name is the same cache. */
  name: string;
  /** The collection's API path, e.g. /api/v1/persistentvolumes. */
  path: string;
  /**
   * Lists with the same labelSelector as below, through the manager's clients;
   * passing page's limit and continue on lists in pages (see InformerOptions.list).
   */
  list: (api: ApiClients, page: ListPage) => Promise<ListResult<T>>;
  labelSelector?: string;
  /** client-node model (e.g. V1PersistentVolume); raw JSON is kept when absent. */
  model?: string;
  /** Whether the resync period re-delivers its objects (default true). */
  resync?: boolean;
}

export interface ControllerSpec {
  name: string;
  reconcile: Reconcile;
  watches: readonly Watch[];
  /** Caches the reconcile reads without mapping their changes to keys: they too must sync first. */
  reads?: readonly Syncable[];
  /** The /readyz check this controller counts towards (default its name); one check may cover several. */
  readiness?: string;
}

/** Something the manager starts and stops beside the controllers (the probes, the event recorder). */
export interface Runnable {
  name: string;
  /** Called once the caches are synced; before leading unless leaderOnly. */
  start(): void | Promise<void>;
  stop(): Promise<void>;
  leaderOnly?: boolean;
}

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  log: Log;
  metrics: Metrics;
  workers: number;
  resyncPeriodMs: number;
  /** The limit on each API request but watches. */
  requestTimeoutMs: number;
  /** For tests: quicker retries. */
  baseDelayMs?: number;
}

interface Registered {
  controller: Controller;
  sources: Syncable[];
  readiness: string;
}

export class Manager {
  /** The clients of every request the controllers make. */
  readonly api: ApiClients;
  readonly metrics: Metrics;
  readonly log: Log;
  private readonly opts: ManagerOptions;
  private readonly informers = new Map<
    string,
    { kind: Pick<Kind<unknown>, 'path' | 'labelSelector'>; informer: Informer<StoredObject> }
  >();
  private readonly controllers: Registered[] = [];
  private readonly runnables: Runnable[] = [];
  private readonly extraChecks = new Map<string, Check>();
  private phase: 'new' | 'starting' | 'stopping' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.api = new ApiClients(opts.kubeConfig, { timeoutMs: opts.requestTimeoutMs });
  }

  /**
   * The one informer of this kind, made on first use. Indexers are added to
   * it (each name once); asking for a kind by a name already used for another
   * path or selector is a programming error.
   */
  informer<T extends StoredObject>(
    kind: Kind<T>,
    options: { indexers?: Record<string, IndexFunction<T>> } = {},
  ): Informer<T> {
    this.mustBeNew(`informer ${kind.name}`);
    let entry = this.informers.get(kind.name);
    if (entry) {
      const k = entry.kind;
      if (k.path !== kind.path || k.labelSelector !== kind.labelSelector)
        throw new Error(`informer ${kind.name} is already declared for ${k.path} ${k.labelSelector ?? ''}`);
    } else {
      const informer = new Informer<T>({
        name: kind.name,
        kubeConfig: this.opts.kubeConfig,
        path: kind.path,
        list: (page) => kind.list(this.api, page),
        // Every kind: nothing here reads managedFields, and they are most of a small object.
        transform: withoutManagedFields,
        labelSelector: kind.labelSelector,
        model: kind.model,
        resyncPeriodMs: kind.resync === false ? 0 : this.opts.resyncPeriodMs,
        log: this.log,
      });
      entry = {
        kind: { path: kind.path, labelSelector: kind.labelSelector },
        informer: informer as unknown as Informer<StoredObject>,
      };
      this.informers.set(kind.name, entry);
    }
    const informer = entry.informer as unknown as Informer<T>;
    for (const [name, fn] of Object.entries(options.indexers ?? {})) informer.store.addIndex(name, fn);
    return informer;
  }

  /** A controller: its queue, workers and metrics, fed by its watches. */
  controller(spec: ControllerSpec): Controller {
    this.mustBeNew(`controller ${spec.name}`);
    if (this.controllers.some((c) => c.controller.name === spec.name))
      throw new Error(`a controller named ${spec.name} exists already`);
    const controller = new Controller({
      name: spec.name,
      reconcile: spec.reconcile,
      workers: this.opts.workers,
      log: this.log,
      baseDelayMs: this.opts.baseDelayMs,
      queueObserver: this.metrics.queueObserver(spec.name),
      reconcileObserver: this.metrics.reconcileObserver(spec.name),
    });
    this.metrics.bindQueue(spec.name, controller.queue);
    for (const w of spec.watches)
      w.subscribe((key) => {
        controller.enqueue(key);
      });
    const sources = [...spec.watches.map((w) => w.source), ...(spec.reads ?? [])];
    this.controllers.push({ controller, sources, readiness: spec.readiness ?? spec.name });
    return controller;
  }

  add(runnable: Runnable): void {
    this.mustBeNew(`runnable ${runnable.name}`);
    this.runnables.push(runnable);
  }

  /**
   * A readiness check beside the controllers' (a runnable's finding). It
   * fails by returning false or by throwing, whose message /readyz shows.
   */
  addReadyCheck(name: string, check: Check): void {
    this.mustBeNew(`ready check ${name}`);
    if (this.extraChecks.has(name)) throw new Error(`a ready check named ${name} exists already`);
    this.extraChecks.set(name, check);
  }

  /** Per readiness name: every cache its controllers read is synced; then the added checks. */
  readyChecks(): Record<string, Check> {
    const checks: Record<string, Syncable[]> = {};
    for (const c of this.controllers) (checks[c.readiness] ??= []).push(...c.sources);
    return {
      ...Object.fromEntries(
        Object.entries(checks).map(([name, sources]) => [name, () => sources.every((s) => s.hasSynced())]),
      ),
      ...Object.fromEntries(this.extraChecks),
    };
  }

  ready(): boolean {
    return Object.values(this.readyChecks()).every((check) => {
      try {
        return check() === true;
      } catch {
        return false;
      }
    });
  }

  /** The caches, for logs ("synced: 3 kinds, 1,204 objects"). */
  cacheSizes(): Record<string, number> {
    return Object.fromEntries([...this.informers].map(([name, e]) => [name, e.informer.store.size]));
  }

  /**
   * Starts the caches and the runnables that need not lead; starts each
   * controller's workers once the caches it reads are synced and leading
   * resolves; resolves when all have started. A standby keeps its caches
   * warm and reconciles nothing.
   */
  async start(leading: Promise<void> = Promise.resolve()): Promise<void> {
    this.mustBeNew('start');
    this.phase = 'starting';
    for (const { informer } of this.informers.values()) informer.start();
    for (const r of this.runnables) if (!r.leaderOnly) await r.start();
    // Each controller on its own: one whose cache cannot sync (a CRD not
    // installed) holds back only itself, and /readyz says which.
    await Promise.all(
      this.controllers.map(async ({ controller, sources }) => {
        await Promise.all(sources.map((s) => s.waitForSync()));
        await leading;
        if (!this.stopping) controller.start();
      }),
    );
    await leading;
    if (this.stopping) return;
    for (const r of this.runnables) if (r.leaderOnly) await r.start();
  }

  /**
   * Stops taking work and lets in-flight reconciles finish; whatever still
   * runs after graceMs is abandoned (see abandon). Then the runnables (in
   * reverse order of adding) and the caches. Safe to call twice; the first
   * grace counts.
   */
  stop(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.stopping ??= (async () => {
      this.phase = 'stopping';
      const why = `the operator is stopping (grace period ${formatDuration(graceMs)} over)`;
      let timer: NodeJS.Timeout | undefined;
      if (graceMs <= 0) this.abandon(why);
      else if (Number.isFinite(graceMs)) {
        timer = setTimeout(() => {
          this.abandon(why);
        }, graceMs);
      }
      try {
        await Promise.all(this.controllers.map((c) => c.controller.stop()));
        for (const r of [...this.runnables].reverse()) await r.stop();
      } finally {
        if (timer) clearTimeout(timer);
      }
      await Promise.all([...this.informers.values()].map((e) => e.informer.stop()));
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
    this.log.warn('abandoning in-flight work: its requests are aborted; the next leader picks it up', {
      why,
      running: this.runningKeys(),
    });
    this.api.abandonAll(why);
  }

  /** The keys being reconciled now, as controller/key. */
  runningKeys(): string[] {
    return this.controllers.flatMap(({ controller: c }) =>
      c.queue.runningKeys().map((key) => `${c.name}/${key}`),
    );
  }

  private mustBeNew(what: string): void {
    if (this.phase !== 'new') throw new Error(`${what}: the manager has started already`);
  }
}
