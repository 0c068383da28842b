// The controller loop: a work queue of keys and a level-based reconcile that
// reads the world from informer stores and converges it. Resolving is
// success (optionally "requeue after"); throwing backs the key off.
import { isAbandoned } from './api-clients.ts';
import { apiMessage, isConflict } from '../kube/api-errors.ts';
import type { Log } from './log.ts';
import { type WorkQueueObserver, type WorkResult, WorkQueue } from './work-queue.ts';

export type ReconcileResult = WorkResult;
export type Reconcile = (key: string) => Promise<ReconcileResult>;

/** What the metrics layer records about reconciles. */
export interface ReconcileObserver {
  observe(result: 'success' | 'error' | 'requeue_after', seconds: number): void;
}

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  workers: number;
  log: Log;
  queueObserver?: WorkQueueObserver;
  reconcileObserver?: ReconcileObserver;
  /** For tests: the queue's backoff base and cap. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions;
  private started = false;
  private readonly pending: string[] = [];

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.queue = new WorkQueue((key) => this.run(key), {
      workers: opts.workers,
      observer: opts.queueObserver,
      baseDelayMs: opts.baseDelayMs,
      maxDelayMs: opts.maxDelayMs,
      onError: (key, err) => {
        const meta = {
          controller: opts.name,
          key,
          error: apiMessage(err),
          failures: this.queue.failures(key),
        };
        // Another writer changed the object since our cache saw it: expected
        // under concurrency, and the retry works from fresher state.
        if (isConflict(err)) opts.log.debug('conflict; will retry from fresher state', meta);
        // The process is stopping and said so once, listing what it abandoned.
        else if (isAbandoned(err)) opts.log.debug('reconcile abandoned', meta);
        else opts.log.warn('reconcile failed; will retry', meta);
      },
    });
  }

  /** Keys added before start() (while informers sync) wait until then. */
  enqueue(key: string): void {
    if (this.started) this.queue.add(key);
    else this.pending.push(key);
  }

  enqueueAfter(key: string, ms: number): void {
    // Before start (a standby, or informers syncing) the key waits for start().
    if (this.started) this.queue.addAfter(key, ms);
    else this.pending.push(key);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const key of this.pending.splice(0)) this.queue.add(key);
  }

  /** Stops taking work; in-flight reconciles finish, waiting keys are dropped. */
  async stop(): Promise<void> {
    await this.queue.shutdown({ drain: false });
  }

  private async run(key: string): Promise<ReconcileResult> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await this.opts.reconcile(key);
      this.opts.reconcileObserver?.observe(
        result?.requeueAfterMs !== undefined ? 'requeue_after' : 'success',
        seconds(),
      );
      return result;
    } catch (err) {
      this.opts.reconcileObserver?.observe('error', seconds());
      throw err;
    }
  }
}
