// List+watch of one resource kind into a Store, with the parts client-node's
// own informer lacks: restart with backoff after any error (the library stops
// on non-410 errors), a has-synced signal, secondary indexes, periodic resync,
// write-back of the controller's own updates, and a watchdog that restarts a
// watch that has gone silent (client-node #596, #958).
import { setTimeout as delay } from 'node:timers/promises';

import { type KubeConfig, Watch } from '@kubernetes/client-node';
// The model serializer has no public export; it turns watch events (raw JSON)
// into the same typed objects the list calls return (dates as Date).
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';

import { type Log, silentLog } from './log.ts';
import { type IndexFunction, Store, type StoredObject, isOlder, objectKey } from './store.ts';

export interface ListResult<T> {
  items: T[];
  /** _continue: client-node's name for the continue token of a paged list. */
  metadata?: { resourceVersion?: string; _continue?: string };
}

/** One page of a list: at most limit objects, from where the previous page's continue token left off. */
export interface ListPage {
  limit: number;
  _continue?: string;
}

/** Objects per page of the initial list, as client-go's reflector pages it. */
export const defaultPageSize = 500;

export interface InformerOptions<T> {
  /** For logs and metrics, e.g. "persistentvolumes". */
  name: string;
  kubeConfig: KubeConfig;
  /** The collection's API path, e.g. /api/v1/persistentvolumes. */
  path: string;
  /**
   * Must list with the same labelSelector as below. Passing page on (limit
   * and continue) lists in pages, so that no one response holds every object
   * (its text, its parse and its typed copy at once); a list that ignores it
   * returns everything in one.
   */
  list: (page: ListPage) => Promise<ListResult<T>>;
  /** Objects per page (default 500). */
  pageSize?: number;
  /** Only objects with these labels, e.g. app.kubernetes.io/managed-by=pv-lifecycle-operator. */
  labelSelector?: string;
  /** Only objects with these fields, e.g. reportingController=x (list must use the same). */
  fieldSelector?: string;
  /** client-node model of the objects (e.g. V1PersistentVolume); raw JSON is kept when absent. */
  model?: string;
  indexers?: Record<string, IndexFunction<T>>;
  /**
   * Applied to every object before it is stored (listed, watched or written
   * back), as client-go's SetTransform: to drop what no reader needs, such as
   * metadata.managedFields. It may change and return the object it is given.
   * A watched object gets it before it is decoded into the model (less to
   * decode), so it may only drop or keep fields, not rely on decoded types.
   */
  transform?: (obj: T) => T;
  /** Re-deliver every stored object to the resync handlers this often; 0 turns it off. */
  resyncPeriodMs?: number;
  /** Restart a watch that delivered nothing, not even a bookmark, for this long. */
  watchdogMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  log?: Log;
}

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (previous: T, obj: T) => void;
  delete?: (obj: T) => void;
  resync?: (obj: T) => void;
}

interface ApiError {
  code?: number;
  statusCode?: number;
  name?: string;
}

function statusOf(err: unknown): number | undefined {
  const e = err as ApiError | undefined;
  return e?.statusCode ?? e?.code;
}

type WatchEnd = 'ended' | 'expired';

export class Informer<T extends StoredObject> {
  readonly store: Store<T>;
  private readonly opts: InformerOptions<T>;
  private readonly log: Log;
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly stopSignal = new AbortController();
  private resourceVersion = '';
  private synced = false;
  private syncWaiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private currentWatch: AbortController | undefined;
  /** Times the list/watch loop recovered from an error or a stalled watch. */
  restarts = 0;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.log = opts.log ?? silentLog;
    this.store = new Store<T>(opts.indexers);
  }

  get name(): string {
    return this.opts.name;
  }

  on(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    if (this.running) return;
    this.running = this.run();
    const period = this.opts.resyncPeriodMs ?? 0;
    if (period > 0) {
      this.resyncTimer = setInterval(() => {
        this.resync();
      }, period);
      this.resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.stopSignal.abort();
    clearInterval(this.resyncTimer);
    this.currentWatch?.abort();
    await this.running;
  }

  isStopped(): boolean {
    return this.stopSignal.signal.aborted;
  }

  /**
   * Records an object this controller just wrote, so the next reconcile sees
   * it even before the watch delivers it. Handlers hear of it as an update at
   * once (every controller sharing the informer must learn of the change, and
   * the watch's copy of the same resourceVersion will be ignored); an older
   * copy arriving later from the watch is ignored too. Only objects the cache
   * holds are written back: a controller writes what it read from the cache,
   * so one missing from it was deleted meanwhile, and adding it again would
   * leave a ghost no watch event ever removes.
   */
  writeBack(obj: T): void {
    if (!this.store.get(objectKey(obj))) return;
    this.upsert(this.transformed(obj));
  }

  private async run(): Promise<void> {
    const initial = this.opts.initialBackoffMs ?? 500;
    let backoff = initial;
    while (!this.isStopped()) {
      try {
        if (!this.resourceVersion) await this.relist();
        if ((await this.watchOnce()) === 'expired') this.resourceVersion = '';
        backoff = initial;
      } catch (err) {
        if (this.isStopped()) break;
        this.restarts++;
        if (statusOf(err) === 410) {
          this.resourceVersion = '';
          continue;
        }
        this.log.warn('list/watch failed; retrying', {
          informer: this.opts.name,
          error: (err as Error).message,
          retryInMs: backoff,
        });
        try {
          await delay(backoff, undefined, { signal: this.stopSignal.signal });
        } catch {
          break;
        }
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 30_000);
      }
    }
  }

  /**
   * Lists every object, page by page, and replaces the store's contents with
   * them: what is gone is deleted first, then each listed object is stored.
   * The pages of one list are one consistent snapshot (the continue token
   * carries its resourceVersion); a token that expired meanwhile fails with
   * 410, and run lists again from the start.
   */
  private async relist(): Promise<void> {
    const limit = this.opts.pageSize ?? defaultPageSize;
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await this.opts.list({ limit, ...(next ? { _continue: next } : {}) });
      for (const item of page.items) items.push(this.transformed(item));
      resourceVersion = page.metadata?.resourceVersion;
      next = page.metadata?._continue;
      if (this.isStopped()) return;
    } while (next);
    const seen = new Set<string>();
    for (const item of items) seen.add(objectKey(item));
    for (const key of this.store.keys()) {
      if (!seen.has(key)) {
        const gone = this.store.delete(key);
        if (gone) this.emit((h) => h.delete?.(gone));
      }
    }
    for (const item of items) this.upsert(item);
    this.resourceVersion = resourceVersion ?? '';
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters) resolve();
      this.syncWaiters = [];
    }
  }

  private watchOnce(): Promise<WatchEnd> {
    return new Promise<WatchEnd>((resolve, reject) => {
      let expired = false;
      let stalled = false;
      let watchdog: NodeJS.Timeout | undefined;
      const watchdogMs = this.opts.watchdogMs ?? 300_000;
      const controller = (): AbortController | undefined => this.currentWatch;
      const kick = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          stalled = true;
          this.log.warn('watch went silent; restarting it', {
            informer: this.opts.name,
            afterMs: watchdogMs,
          });
          controller()?.abort();
        }, watchdogMs);
        watchdog.unref();
      };
      // Stopping ends this at once, even while the watch is still connecting
      // (currentWatch is set only once the server answered, and a connection
      // into a cut network would otherwise be waited for until client-node's
      // own 30 s limit). A watch that connects later is aborted below.
      if (this.isStopped()) {
        resolve('ended');
        return;
      }
      const onStop = () => {
        clearTimeout(watchdog);
        resolve('ended');
      };
      this.stopSignal.signal.addEventListener('abort', onStop, { once: true });
      const done = (err: unknown) => {
        this.stopSignal.signal.removeEventListener('abort', onStop);
        clearTimeout(watchdog);
        if (this.isStopped()) resolve('ended');
        else if (expired) resolve('expired');
        else if (stalled) {
          this.restarts++;
          resolve('ended');
        } else if (!err || (err as ApiError).name === 'TimeoutError') resolve('ended');
        else reject(err instanceof Error ? err : new Error(JSON.stringify(err)));
      };
      const onEvent = (type: string, raw: unknown) => {
        kick();
        const obj = raw as T & { code?: number };
        if (type === 'ERROR') {
          if (obj.code === 410) expired = true;
          else this.log.warn('watch error event', { informer: this.opts.name, event: raw as object });
          controller()?.abort();
          return;
        }
        const rv = obj.metadata?.resourceVersion;
        if (type === 'ADDED' || type === 'MODIFIED') this.upsert(this.typed(raw));
        else if (type === 'DELETED') this.remove(this.typed(raw));
        if (rv) this.resourceVersion = rv;
      };
      kick();
      new Watch(this.opts.kubeConfig)
        .watch(
          this.opts.path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            ...(this.opts.labelSelector ? { labelSelector: this.opts.labelSelector } : {}),
            ...(this.opts.fieldSelector ? { fieldSelector: this.opts.fieldSelector } : {}),
          },
          onEvent,
          done,
        )
        .then((c) => {
          this.currentWatch = c;
          if (this.isStopped()) c.abort();
        })
        .catch((err: unknown) => {
          done(err);
        });
    });
  }

  private typed(raw: unknown): T {
    const kept = this.transformed(raw as T);
    return this.opts.model ? (ObjectSerializer.deserialize(kept, this.opts.model, '') as T) : kept;
  }

  private transformed(obj: T): T {
    return this.opts.transform ? this.opts.transform(obj) : obj;
  }

  private upsert(obj: T): void {
    const current = this.store.get(objectKey(obj));
    if (current) {
      if (isOlder(obj, current) || current.metadata?.resourceVersion === obj.metadata?.resourceVersion)
        return;
      this.store.set(obj);
      this.emit((h) => h.update?.(current, obj));
    } else {
      this.store.set(obj);
      this.emit((h) => h.add?.(obj));
    }
  }

  private remove(obj: T): void {
    const gone = this.store.delete(objectKey(obj));
    this.emit((h) => h.delete?.(gone ?? obj));
  }

  private resync(): void {
    for (const obj of this.store.list()) this.emit((h) => h.resync?.(obj));
  }

  private emit(call: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) {
      try {
        call(h);
      } catch (err) {
        this.log.error('informer handler threw', { informer: this.opts.name, error: (err as Error).message });
      }
    }
  }
}
