// A keyed work queue for controllers, with the semantics of client-go's
// workqueue and default controller rate limiter: a key waits at most once,
// one key never runs on two workers at once, failures back off per key.
// p-queue supplies the bounded worker pool; the key bookkeeping lives here.

import PQueue from 'p-queue';

/** What a handler run asks for: another run after a delay, or (undefined) nothing. */
export type WorkResult = { requeueAfterMs?: number } | undefined;

/** Resolving is success, throwing is failure. */
// void, so that handlers declared Promise<void> fit; a union of two Promise types would reject
// handlers whose inferred result is Promise<void | { requeueAfterMs }>.
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type WorkHandler = (key: string) => Promise<WorkResult | void>;

/** Hooks for the metrics layer; every method is optional. */
export interface WorkQueueObserver {
  /** A key became waiting; adds of a key that is already waiting are not counted, as in client-go. */
  onAdd?(key: string): void;
  /** Time from a key's first add while waiting to the start of its run. */
  onQueueDuration?(ms: number, key: string): void;
  /** Time one handler run took, whether it succeeded or threw. */
  onWorkDuration?(ms: number, key: string): void;
  /** A failed key was scheduled for a rate-limited retry after delayMs. */
  onRetry?(key: string, delayMs: number): void;
}

export interface WorkQueueOptions {
  /** Handlers running at once. Default 1. */
  workers?: number;
  /** First retry delay of a failing key; doubles per consecutive failure. Default 5 ms. */
  baseDelayMs?: number;
  /** Cap of the per-key backoff. Default 1000 s. */
  maxDelayMs?: number;
  /** Refill rate of the token bucket shared by all retries. Default 10; Infinity turns it off. */
  qps?: number;
  /** Size of that bucket. Default 100. */
  burst?: number;
  observer?: WorkQueueObserver;
  /** Receives handler errors, which otherwise go nowhere: they must never crash the process. */
  onError?: (key: string, err: unknown) => void;
  /** Monotonic clock in ms, for durations, the bucket and comparing delayed adds. Timers stay real. */
  now?: () => number;
}

export interface ShutdownOptions {
  /** Run the keys still waiting before resolving (default), or drop them. */
  drain?: boolean;
}

// Node fires longer timeouts after 1 ms instead, so longer waits are cut to this.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  private readonly handler: WorkHandler;
  private readonly pool: PQueue;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly observer: WorkQueueObserver;
  private readonly onError: ((key: string, err: unknown) => void) | undefined;
  private readonly now: () => number;

  /** Keys waiting for a worker. Each has exactly one pool task, so the pool's FIFO order is the queue's. */
  private readonly waiting = new Set<string>();
  /** Keys added while running: they run once more when the current run ends. */
  private readonly dirty = new Set<string>();
  /** Running keys and when their run started. */
  private readonly running = new Map<string, number>();
  /** When each waiting or dirty key was first added, for the queue duration. */
  private readonly addedAt = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failureCounts = new Map<string, number>();
  private tokens: number;
  private tokensAt: number;
  private closed = false;

  constructor(handler: WorkHandler, options: WorkQueueOptions = {}) {
    this.handler = handler;
    this.pool = new PQueue({ concurrency: options.workers ?? 1 });
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 1_000_000;
    this.qps = options.qps ?? 10;
    this.burst = options.burst ?? 100;
    this.observer = options.observer ?? {};
    this.onError = options.onError;
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.tokensAt = this.now();
  }

  /** Keys waiting to run, including running keys that are due to run again. */
  get depth(): number {
    return this.waiting.size + this.dirty.size;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** How long each running key has been running, for unfinished-work metrics. */
  inFlightDurationsMs(): number[] {
    const now = this.now();
    return [...this.running.values()].map((start) => now - start);
  }

  /** Consecutive failures of key; 0 once it has succeeded. */
  failures(key: string): number {
    return this.failureCounts.get(key) ?? 0;
  }

  add(key: string): void {
    if (this.closed) return;
    // The run this add causes supersedes a delayed one: a handler that still
    // wants a later run says so again in its result.
    this.cancelDelayed(key);
    if (this.waiting.has(key) || this.dirty.has(key)) return;
    this.addedAt.set(key, this.now());
    this.notify(key, (o) => o.onAdd?.(key));
    if (this.running.has(key)) this.dirty.add(key);
    else this.enqueue(key);
  }

  /** Adds key after ms; of several pending delayed adds of one key, the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    this.cancelDelayed(key);
    const timer = setTimeout(
      () => {
        this.delayed.delete(key);
        this.add(key);
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    // A pending retry alone should not keep the process alive.
    timer.unref();
    this.delayed.set(key, { at, timer });
  }

  /** The keys whose handlers run now. */
  runningKeys(): string[] {
    return [...this.running.keys()];
  }

  /**
   * Stops accepting adds and cancels delayed ones, then resolves once nothing
   * runs. Running handlers are always awaited; waiting keys are run unless
   * drain is false.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    this.closed = true;
    for (const key of [...this.delayed.keys()]) this.cancelDelayed(key);
    if (options.drain === false) {
      // Their pool tasks stay queued but find nothing to do.
      this.waiting.clear();
      this.dirty.clear();
      this.addedAt.clear();
    }
    await this.pool.onIdle();
  }

  private enqueue(key: string): void {
    this.waiting.add(key);
    // process() catches everything it calls; this is a last guard against an
    // unhandled rejection, which would crash the process.
    this.pool
      .add(() => this.process(key))
      .catch((err: unknown) => {
        this.report(key, err);
      });
  }

  private async process(key: string): Promise<void> {
    // Run the handler on a later tick, never inside the stack of whoever called add().
    await Promise.resolve();
    if (!this.waiting.delete(key)) return; // dropped by shutdown({ drain: false })
    const start = this.now();
    this.running.set(key, start);
    const queued = start - (this.addedAt.get(key) ?? start);
    this.addedAt.delete(key);
    this.notify(key, (o) => o.onQueueDuration?.(queued, key));
    let again: number | undefined;
    let failed = false;
    try {
      const result = await this.handler(key);
      this.failureCounts.delete(key);
      again = result?.requeueAfterMs;
    } catch (err) {
      failed = true;
      again = this.retryDelay(key);
      this.report(key, err);
    }
    this.running.delete(key);
    const worked = this.now() - start;
    this.notify(key, (o) => o.onWorkDuration?.(worked, key));
    // A dirty key runs now, which makes any requested later run redundant.
    if (this.dirty.delete(key)) this.enqueue(key);
    else if (again !== undefined && !this.closed) {
      const delay = again;
      if (failed) this.notify(key, (o) => o.onRetry?.(key, delay));
      this.addAfter(key, delay);
    }
  }

  /** Records a failure and returns when to retry: the later of the key's backoff and the shared bucket. */
  private retryDelay(key: string): number {
    const failures = this.failures(key);
    this.failureCounts.set(key, failures + 1);
    const backoff = Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs);
    return Math.max(backoff, this.takeToken());
  }

  /**
   * Takes a token from the bucket and returns how long to wait for it. Like
   * golang.org/x/time/rate's reservations, tokens may go negative, so retries
   * beyond the burst are spread out at qps.
   */
  private takeToken(): number {
    if (this.qps === Infinity) return 0;
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.tokensAt) * this.qps) / 1000);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  private cancelDelayed(key: string): void {
    const pending = this.delayed.get(key);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.delayed.delete(key);
  }

  /** Calls an observer hook; a metrics bug must not break the queue's bookkeeping. */
  private notify(key: string, call: (observer: WorkQueueObserver) => void): void {
    try {
      call(this.observer);
    } catch (err) {
      this.report(key, err);
    }
  }

  private report(key: string, err: unknown): void {
    try {
      this.onError?.(key, err);
    } catch {
      // A throwing error callback has nowhere left to report to.
    }
  }
}
