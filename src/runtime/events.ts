// An event recorder for events.k8s.io/v1, with the storm protection of
// client-go's recorders:
//  - Aggregation (tools/events): a repeat of an event within the aggregation
//    window does not create a new Event; the first occurrence is created at
//    once, repeats are counted in memory, and the Event's `series` (count of
//    occurrences, last observed time) is patched at most once per heartbeat.
//  - A spam filter (tools/record's EventSourceObjectSpamFilter): a token bucket
//    per regarded object, shared by all reasons, limits how many new Events
//    one object can produce. Repeats that fold into an existing Event cost no
//    token here (unlike tools/record), since they cost the apiserver no create.
//  - Bounded memory: both caches are LRUs.
//  - record() never blocks and never throws: writes go through a small,
//    bounded p-queue, and API errors end in the log.
// The decisions (keys, bucket, LRU, correlation) are pure and take the time
// as an argument, so they are unit-tested without a cluster or real clocks.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import {
  EventsV1Api,
  type EventsV1Event,
  type KubeConfig,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
} from '@kubernetes/client-node';
import PQueue from 'p-queue';

import { isAbandoned } from './api-clients.ts';
import { apiFailure, apiMessage, apiStatus } from '../kube/api-errors.ts';
import { type Log, silentLog } from './log.ts';

/** The object an event is about. */
export interface ObjectRef {
  kind: string;
  apiVersion: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

/** The reference an event needs, from any object with metadata. */
export function objectRef(
  kind: string,
  apiVersion: string,
  obj: { metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string } },
): ObjectRef {
  return {
    kind,
    apiVersion,
    name: obj.metadata?.name ?? '',
    namespace: obj.metadata?.namespace,
    uid: obj.metadata?.uid,
    resourceVersion: obj.metadata?.resourceVersion,
  };
}

export type EventType = 'Normal' | 'Warning';

/** Where controllers send events. */
export interface EventSink {
  record(regarding: ObjectRef, type: EventType, reason: string, action: string, note: string): unknown;
}

// ---- limits and defaults ----

/** events.k8s.io/v1 validation limits, in bytes. */
export const noteMaxBytes = 1024;
export const reasonMaxBytes = 128;
export const actionMaxBytes = 128;
export const reportingInstanceMaxBytes = 128;
const nameMaxLength = 253;

export const defaultReportingController = 'pv-lifecycle-operator';
/** client-go tools/events: an isomorphic event is aggregated within 6 minutes of the last one. */
export const defaultAggregationWindowMs = 6 * 60_000;
/** client-go tools/events refreshes running series every 30 s. */
export const defaultHeartbeatMs = 30_000;
/** client-go tools/record's spam filter: burst 25, then one event per 5 minutes. */
export const defaultSpamBurst = 25;
export const defaultSpamRefillMs = 5 * 60_000;
/** client-go tools/record's LRU size. */
export const defaultCacheSize = 4096;
export const defaultConcurrency = 4;
export const defaultMaxQueued = 1000;

// ---- pure helpers ----

const encoder = new TextEncoder();

/** The longest prefix of s whose UTF-8 encoding fits in maxBytes; never splits a character. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s; // no UTF-16 unit encodes to more than 3 bytes
  const { read } = encoder.encodeInto(s, new Uint8Array(maxBytes));
  return s.slice(0, read);
}

/** What one record() call asks for, after normalization. */
export interface EventInput {
  regarding: ObjectRef;
  type: EventType;
  reason: string;
  action: string;
  note: string;
}

/** Cuts reason, action and note to the apiserver's limits, so the key matches what gets written. */
export function normalizeEvent(input: EventInput): EventInput {
  return {
    regarding: input.regarding,
    type: input.type,
    reason: truncateUtf8(input.reason, reasonMaxBytes),
    action: truncateUtf8(input.action, actionMaxBytes),
    note: truncateUtf8(input.note, noteMaxBytes),
  };
}

const sep = '\u0000';

/**
 * The object an event is about, for the spam filter. The uid is part of it,
 * so a recreated object with the same name starts afresh; resourceVersion is
 * not, since it changes with every write.
 */
export function objectKeyOf(ref: ObjectRef): string {
  return [ref.apiVersion, ref.kind, ref.namespace ?? '', ref.name, ref.uid ?? ''].join(sep);
}

/** Occurrences with equal keys are one event: same object, type, reason, action and note. */
export function aggregationKey(input: EventInput): string {
  return [objectKeyOf(input.regarding), input.type, input.reason, input.action, input.note].join(sep);
}

/** Events of cluster-scoped objects live in "default", as the apiserver requires. */
export function eventNamespace(ref: ObjectRef): string {
  return ref.namespace || 'default';
}

/** `<object name>.<suffix>`, the object name cut so the result is a valid name. */
export function eventName(objectName: string, suffix: string): string {
  const room = nameMaxLength - suffix.length - 1;
  const base = objectName.slice(0, room).replace(/[.-]+$/, '');
  return `${base || 'event'}.${suffix}`;
}

export function randomSuffix(): string {
  return randomBytes(8).toString('hex');
}

/**
 * A token bucket that refills one token per refillIntervalMs up to burst, and
 * starts full. Time is passed in, in ms.
 */
export class TokenBucket {
  readonly burst: number;
  readonly refillIntervalMs: number;
  private tokens: number;
  private at: number;

  constructor(burst: number, refillIntervalMs: number, now: number) {
    this.burst = burst;
    this.refillIntervalMs = refillIntervalMs;
    this.tokens = burst;
    this.at = now;
  }

  /** Tokens available at now (fractional while refilling). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes a token if there is a whole one. */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private refill(now: number): void {
    // A clock that steps back adds nothing rather than taking tokens away.
    const elapsed = Math.max(0, now - this.at);
    this.at = Math.max(this.at, now);
    if (this.refillIntervalMs <= 0) this.tokens = this.burst;
    else this.tokens = Math.min(this.burst, this.tokens + elapsed / this.refillIntervalMs);
  }
}

/**
 * A map of at most maxSize entries that evicts the least recently used one.
 * get() and set() count as use; peek() and iteration do not. onEvict is
 * called for evictions only, not for delete().
 */
export class LruCache<K, V> {
  readonly maxSize: number;
  private readonly map = new Map<K, V>();
  private readonly onEvict: ((key: K, value: V) => void) | undefined;

  constructor(maxSize: number, onEvict?: (key: K, value: V) => void) {
    if (!(maxSize >= 1)) throw new RangeError(`LRU size must be at least 1, not ${maxSize}`);
    this.maxSize = maxSize;
    this.onEvict = onEvict;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    if (!this.map.has(key)) return undefined;
    const value = this.map.get(key) as V;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.maxSize) {
      const oldest = this.map.entries().next();
      if (oldest.done) break;
      const [k, v] = oldest.value;
      this.map.delete(k);
      this.onEvict?.(k, v);
    }
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** Least recently used first. */
  keys(): K[] {
    return [...this.map.keys()];
  }

  values(): V[] {
    return [...this.map.values()];
  }
}

/** One Event object and the occurrences it stands for. */
export interface SeriesEntry {
  readonly key: string;
  readonly input: EventInput;
  readonly namespace: string;
  /** The Event's name; changes if the apiserver already had one by that name. */
  name: string;
  /** When the first occurrence was recorded: the Event's eventTime. */
  readonly firstTime: number;
  /** Occurrences so far, the first included (series.count, once there are two). */
  count: number;
  lastObserved: number;
  /** Occurrences the apiserver knows of: 0 until the Event is created. */
  written: number;
  /** A write of this entry is queued or running. */
  busy: boolean;
  /** No longer in the cache: later repeats start a new Event. */
  detached: boolean;
}

/** Whether the apiserver is behind on this entry. */
export const needsWrite = (e: SeriesEntry): boolean => e.count > e.written;

export type Decision =
  /** A new Event: write it now. */
  | { action: 'create'; entry: SeriesEntry }
  /** A repeat, counted into entry; the next heartbeat writes it. */
  | { action: 'aggregate'; entry: SeriesEntry }
  /** The object has used up its spam-filter tokens. */
  | { action: 'drop'; reason: 'spam' };

export interface CorrelatorOptions {
  aggregationWindowMs?: number;
  spamBurst?: number;
  spamRefillMs?: number;
  cacheSize?: number;
  /** Suffix of new Event names; random hex unless a test fixes it. */
  nameSuffix?: () => string;
  /** An entry left the cache (evicted, expired or superseded); it may still need its last write. */
  onDetach?: (entry: SeriesEntry) => void;
}

/** The recorder's decisions, without I/O or clocks. */
export class EventCorrelator {
  readonly windowMs: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly nameSuffix: () => string;
  private readonly onDetach: (entry: SeriesEntry) => void;
  private readonly series: LruCache<string, SeriesEntry>;
  private readonly buckets: LruCache<string, TokenBucket>;

  constructor(opts: CorrelatorOptions = {}) {
    this.windowMs = opts.aggregationWindowMs ?? defaultAggregationWindowMs;
    this.burst = opts.spamBurst ?? defaultSpamBurst;
    this.refillMs = opts.spamRefillMs ?? defaultSpamRefillMs;
    this.nameSuffix = opts.nameSuffix ?? randomSuffix;
    this.onDetach = opts.onDetach ?? (() => undefined);
    const size = opts.cacheSize ?? defaultCacheSize;
    this.series = new LruCache(size, (_k, entry) => {
      this.detach(entry);
    });
    this.buckets = new LruCache(size);
  }

  get size(): number {
    return this.series.size;
  }

  /** Decides what one occurrence of input at now becomes. */
  observe(raw: EventInput, now: number): Decision {
    const input = normalizeEvent(raw);
    const key = aggregationKey(input);
    const existing = this.series.get(key);
    if (existing && now - existing.lastObserved <= this.windowMs) {
      existing.count++;
      existing.lastObserved = Math.max(existing.lastObserved, now);
      return { action: 'aggregate', entry: existing };
    }
    const objectKey = objectKeyOf(input.regarding);
    let bucket = this.buckets.get(objectKey);
    if (!bucket) {
      bucket = new TokenBucket(this.burst, this.refillMs, now);
      this.buckets.set(objectKey, bucket);
    }
    if (!bucket.tryTake(now)) return { action: 'drop', reason: 'spam' };
    if (existing) this.remove(existing);
    const entry: SeriesEntry = {
      key,
      input,
      namespace: eventNamespace(input.regarding),
      name: eventName(input.regarding.name, this.nameSuffix()),
      firstTime: now,
      count: 1,
      lastObserved: now,
      written: 0,
      busy: false,
      detached: false,
    };
    this.series.set(key, entry);
    return { action: 'create', entry };
  }

  /** Entries the apiserver is behind on and that have no write under way. */
  due(): SeriesEntry[] {
    return this.series.values().filter((e) => needsWrite(e) && !e.busy);
  }

  /** Ends the series whose last occurrence is older than the window; returns them. */
  expire(now: number): SeriesEntry[] {
    const ended = this.series.values().filter((e) => now - e.lastObserved > this.windowMs);
    for (const e of ended) this.remove(e);
    return ended;
  }

  /** Drops an entry whose Event could not be written, so a later repeat starts afresh. */
  forget(entry: SeriesEntry): void {
    if (this.series.peek(entry.key) === entry) this.series.delete(entry.key);
    entry.detached = true;
  }

  /** A new name for an entry, after the apiserver refused the old one as taken. */
  rename(entry: SeriesEntry): void {
    entry.name = eventName(entry.input.regarding.name, this.nameSuffix());
  }

  private remove(entry: SeriesEntry): void {
    this.series.delete(entry.key);
    this.detach(entry);
  }

  private detach(entry: SeriesEntry): void {
    entry.detached = true;
    this.onDetach(entry);
  }
}

// ---- the recorder ----

export type EventOutcome = 'emitted' | 'aggregated' | 'dropped_spam' | 'dropped_queue';

/** Hooks for metrics; every method is optional. */
export interface EventRecorderObserver {
  /** What became of one record() call. */
  onEvent?(outcome: EventOutcome): void;
  /** A write the recorder gave up on. */
  onWriteError?(operation: 'create' | 'patch'): void;
}

export interface EventRecorderStats {
  /** Occurrences that started a new Event. */
  emitted: number;
  /** Repeats folded into an existing Event's series. */
  aggregated: number;
  /** Occurrences dropped by the spam filter. */
  droppedSpam: number;
  /** New Events dropped because too many writes were waiting. */
  droppedQueue: number;
  /** Events created and series patched. */
  creates: number;
  patches: number;
  /** Writes given up on. */
  failures: number;
}

/** The two calls the recorder makes; an EventsV1Api has them. */
export type EventsApi = Pick<EventsV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

export interface EventRecorderOptions {
  /** Where to write; or pass api. */
  kubeConfig?: KubeConfig;
  api?: EventsApi;
  /** Default "pv-lifecycle-operator"; must be a qualified name. */
  reportingController?: string;
  /** Default `${reportingController}-${hostname}`, cut to 128 bytes. */
  reportingInstance?: string;
  log?: Log;
  observer?: EventRecorderObserver;
  /** Wall clock in ms since the epoch: decisions and the times written into Events. Timers stay real. */
  now?: () => number;
  /** Repeats within this long of the last occurrence are aggregated. Default 6 minutes. */
  aggregationWindowMs?: number;
  /** How often pending series updates are written. Default 30 s. */
  heartbeatMs?: number;
  /** New Events one object may produce at once. Default 25. */
  spamBurst?: number;
  /** Time for one more. Default 5 minutes. */
  spamRefillMs?: number;
  /** Entries of each LRU cache. Default 4096. */
  cacheSize?: number;
  /** Writes in flight at once. Default 4. */
  concurrency?: number;
  /** While this many writes wait, new Events are dropped and series updates put off. Default 1000. */
  maxQueued?: number;
  /** Tries of one write when the apiserver is unreachable or overloaded. Default 3. */
  maxAttempts?: number;
  /** Wait before the first retry; doubles after each. Default 1 s. */
  retryDelayMs?: number;
}

type WriteResult = 'ok' | 'gone' | 'failed';

/** No answer, throttled, or a server error: worth another try. */
function isTransient(err: unknown): boolean {
  const status = apiStatus(err);
  return status === undefined || status === 429 || status >= 500;
}

export class EventRecorder implements EventSink {
  readonly reportingController: string;
  readonly reportingInstance: string;
  private readonly api: EventsApi;
  private readonly log: Log;
  private readonly observer: EventRecorderObserver;
  private readonly now: () => number;
  private readonly correlator: EventCorrelator;
  private readonly queue: PQueue;
  private readonly maxQueued: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;
  private readonly timer: NodeJS.Timeout;
  private readonly counts: EventRecorderStats = {
    emitted: 0,
    aggregated: 0,
    droppedSpam: 0,
    droppedQueue: 0,
    creates: 0,
    patches: 0,
    failures: 0,
  };
  /** stop() was called: record() is a no-op and writes are not retried. */
  private closing = false;
  private lastFullWarning = Number.NEGATIVE_INFINITY;
  private stopped: Promise<void> | undefined;

  constructor(opts: EventRecorderOptions) {
    if (opts.api) this.api = opts.api;
    else if (opts.kubeConfig) this.api = opts.kubeConfig.makeApiClient(EventsV1Api);
    else throw new Error('EventRecorder needs a kubeConfig or an api');
    this.reportingController = opts.reportingController ?? defaultReportingController;
    this.reportingInstance = truncateUtf8(
      opts.reportingInstance ?? `${this.reportingController}-${hostname()}`,
      reportingInstanceMaxBytes,
    );
    this.log = opts.log ?? silentLog;
    this.observer = opts.observer ?? {};
    this.now = opts.now ?? (() => Date.now());
    this.maxQueued = opts.maxQueued ?? defaultMaxQueued;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 3);
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
    this.queue = new PQueue({ concurrency: opts.concurrency ?? defaultConcurrency });
    this.correlator = new EventCorrelator({
      aggregationWindowMs: opts.aggregationWindowMs,
      spamBurst: opts.spamBurst,
      spamRefillMs: opts.spamRefillMs,
      cacheSize: opts.cacheSize,
      onDetach: (entry) => {
        // Its last repeats would be lost otherwise.
        if (needsWrite(entry) && !entry.busy) this.schedule(entry);
      },
    });
    this.timer = setInterval(() => {
      this.heartbeat();
    }, opts.heartbeatMs ?? defaultHeartbeatMs);
    this.timer.unref();
  }

  /** Counts since construction. */
  get stats(): Readonly<EventRecorderStats> {
    return { ...this.counts };
  }

  /** Writes waiting or in flight. */
  get pendingWrites(): number {
    return this.queue.size + this.queue.pending;
  }

  record(regarding: ObjectRef, type: EventType, reason: string, action: string, note: string): void {
    if (this.closing) return;
    try {
      const decision = this.correlator.observe({ regarding, type, reason, action, note }, this.now());
      switch (decision.action) {
        case 'create':
          if (this.schedule(decision.entry)) {
            this.counted('emitted');
          } else {
            this.correlator.forget(decision.entry);
            this.counted('dropped_queue');
          }
          return;
        case 'aggregate':
          this.counted('aggregated');
          return;
        case 'drop':
          this.counted('dropped_spam');
          this.log.debug('event dropped by the spam filter', {
            object: describe(regarding),
            reason,
          });
          return;
      }
    } catch (err) {
      // Recording an event must never break the caller.
      this.log.error('could not record event', { object: describe(regarding), reason, error: String(err) });
    }
  }

  /** Writes every pending series update now, and resolves once no write is waiting or running. */
  async flush(): Promise<void> {
    // A write that was running while a repeat came in leaves the entry behind
    // again; another round catches it.
    for (let round = 0; round < 3; round++) {
      for (const entry of this.correlator.due()) this.schedule(entry);
      await this.queue.onIdle();
      if (this.correlator.due().length === 0) return;
    }
  }

  /** Flushes, stops the heartbeat; record() is a no-op from the call on. */
  stop(): Promise<void> {
    if (!this.stopped) {
      this.closing = true;
      clearInterval(this.timer);
      this.stopped = this.flush();
    }
    return this.stopped;
  }

  private counted(outcome: EventOutcome): void {
    switch (outcome) {
      case 'emitted':
        this.counts.emitted++;
        break;
      case 'aggregated':
        this.counts.aggregated++;
        break;
      case 'dropped_spam':
        this.counts.droppedSpam++;
        break;
      case 'dropped_queue':
        this.counts.droppedQueue++;
        break;
    }
    try {
      this.observer.onEvent?.(outcome);
    } catch {
      // A metrics bug must not break recording.
    }
  }

  private heartbeat(): void {
    try {
      // Expired entries with unwritten repeats are scheduled by onDetach.
      this.correlator.expire(this.now());
      for (const entry of this.correlator.due()) this.schedule(entry);
    } catch (err) {
      this.log.error('event heartbeat failed', { error: String(err) });
    }
  }

  /** Queues a write of entry; false when the queue is full. */
  private schedule(entry: SeriesEntry): boolean {
    if (entry.busy) return true;
    if (this.queue.size >= this.maxQueued) {
      // Said at most once a minute (pv_lifecycle_events_total counts every one), so a storm is seen but not echoed.
      const now = Date.now();
      if (now - this.lastFullWarning >= 60_000) {
        this.lastFullWarning = now;
        this.log.warn('event write queue full; new events are dropped until it drains', {
          event: `${entry.namespace}/${entry.name}`,
          waiting: this.queue.size,
          droppedSoFar: this.counts.droppedQueue,
        });
      }
      return false;
    }
    entry.busy = true;
    this.queue
      .add(() => this.write(entry))
      .catch((err: unknown) => {
        entry.busy = false;
        this.log.error('event write failed unexpectedly', { error: String(err) });
      });
    return true;
  }

  private async write(entry: SeriesEntry): Promise<void> {
    let result: WriteResult = 'failed';
    try {
      result = entry.written === 0 ? await this.create(entry) : await this.patchSeries(entry);
    } catch (err) {
      this.log.error('event write failed unexpectedly', { error: String(err) });
    } finally {
      entry.busy = false;
    }
    if (result === 'gone') {
      this.correlator.forget(entry);
    } else if (result === 'ok' && entry.detached && needsWrite(entry)) {
      // Repeats that came in while writing; nothing else would write them.
      this.schedule(entry);
    }
  }

  /** Creates the Event with every occurrence so far. */
  private async create(entry: SeriesEntry): Promise<WriteResult> {
    for (let renamed = false; ; renamed = true) {
      const count = entry.count;
      const body = this.eventBody(entry, count, entry.lastObserved);
      try {
        await this.withRetries(() => this.api.createNamespacedEvent({ namespace: entry.namespace, body }));
        entry.written = count;
        this.counts.creates++;
        return 'ok';
      } catch (err) {
        const failure = apiFailure(err);
        if (failure === 'alreadyExists' && !renamed) {
          // Someone has an Event by this name; ours is a different one.
          this.correlator.rename(entry);
          continue;
        }
        this.writeFailed('create', entry, err);
        // Not worth keeping: a repeat will try a fresh create.
        return 'gone';
      }
    }
  }

  /** Brings the Event's series up to date; an Event that is gone or refuses the patch is created anew. */
  private async patchSeries(entry: SeriesEntry): Promise<WriteResult> {
    const count = entry.count;
    const lastObserved = entry.lastObserved;
    try {
      await this.withRetries(() =>
        this.api.patchNamespacedEvent(
          {
            name: entry.name,
            namespace: entry.namespace,
            body: { series: { count, lastObservedTime: new V1MicroTime(lastObserved) } },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      );
      entry.written = count;
      this.counts.patches++;
      return 'ok';
    } catch (err) {
      if (isTransient(err)) {
        // Still behind; the next heartbeat tries again.
        this.writeFailed('patch', entry, err);
        return 'failed';
      }
      const failure = apiFailure(err);
      this.log.debug('event series patch failed; creating the event anew', {
        event: `${entry.namespace}/${entry.name}`,
        failure,
        error: apiMessage(err),
      });
      // Expired (events live an hour by default) or otherwise unpatchable: a
      // new Event carries the series on. One that still exists keeps its name.
      if (failure !== 'notFound') this.correlator.rename(entry);
      return this.create(entry);
    }
  }

  private eventBody(entry: SeriesEntry, count: number, lastObserved: number): EventsV1Event {
    const { regarding, type, reason, action, note } = entry.input;
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: entry.name, namespace: entry.namespace },
      eventTime: new V1MicroTime(entry.firstTime),
      // The apiserver takes a series only from the second occurrence on.
      ...(count >= 2 ? { series: { count, lastObservedTime: new V1MicroTime(lastObserved) } } : {}),
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.name,
        namespace: regarding.namespace || undefined,
        uid: regarding.uid,
        resourceVersion: regarding.resourceVersion,
      },
      type,
      reason,
      action,
      note,
      reportingController: this.reportingController,
      reportingInstance: this.reportingInstance,
    };
  }

  private async withRetries<T>(call: () => Promise<T>): Promise<T> {
    let delay = this.retryDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        if (attempt >= this.maxAttempts || this.closing || !isTransient(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, delay).unref());
        delay *= 2;
      }
    }
  }

  private writeFailed(operation: 'create' | 'patch', entry: SeriesEntry, err: unknown): void {
    this.counts.failures++;
    try {
      this.observer.onWriteError?.(operation);
    } catch {
      // As in counted().
    }
    const failure = apiFailure(err);
    const meta = {
      event: `${entry.namespace}/${entry.name}`,
      object: describe(entry.input.regarding),
      reason: entry.input.reason,
      status: apiStatus(err),
      error: apiMessage(err),
    };
    // A namespace that is gone or terminating takes its objects' events with
    // it; any other refusal (say, missing RBAC) is worth a warning.
    const namespaceGone =
      failure === 'notFound' || (failure === 'forbidden' && meta.error.includes('being terminated'));
    if (namespaceGone) this.log.debug(`event ${operation} refused`, meta);
    // The process is stopping and abandoned its requests: said once already.
    else if (isAbandoned(err)) this.log.debug(`event ${operation} abandoned`, meta);
    else this.log.warn(`could not ${operation} event`, meta);
  }
}

function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}
