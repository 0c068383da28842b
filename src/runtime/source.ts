// What a controller can watch: an informer's changes, or a trigger another
// part of the process fires (a probe's answer, a scrub Job's change), and how
// each change maps to the keys to reconcile.
import type { Informer, InformerHandlers } from './informer.ts';
import type { StoredObject } from './store.ts';

export type ChangeType = 'add' | 'update' | 'delete' | 'resync';

export interface Change<T> {
  type: ChangeType;
  obj: T;
  /** The stored copy an update replaced. */
  old?: T;
}

/** Something whose readiness gates reconciling: an informer's cache is synced. */
export interface Syncable {
  readonly name: string;
  hasSynced(): boolean;
  waitForSync(): Promise<void>;
}

/** A watch: connects a source to a controller's enqueue; the manager calls subscribe once. */
export interface Watch {
  readonly source: Syncable;
  subscribe(enqueue: (key: string) => void): void;
}

export interface WatchOptions {
  /** The change types that map to keys (default all): a predicate on the kind of change. */
  types?: readonly ChangeType[];
}

/** Keys to reconcile for each change of the informer's objects. */
export function watchInformer<T extends StoredObject>(
  informer: Informer<T>,
  keys: (change: Change<T>) => Iterable<string>,
  options: WatchOptions = {},
): Watch {
  const types = new Set(options.types ?? ['add', 'update', 'delete', 'resync']);
  return {
    source: informer,
    subscribe(enqueue) {
      const on = (change: Change<T>) => {
        if (!types.has(change.type)) return;
        for (const key of keys(change)) enqueue(key);
      };
      const handlers: InformerHandlers<T> = {
        add: (obj) => {
          on({ type: 'add', obj });
        },
        update: (old, obj) => {
          on({ type: 'update', obj, old });
        },
        delete: (obj) => {
          on({ type: 'delete', obj });
        },
        resync: (obj) => {
          on({ type: 'resync', obj });
        },
      };
      informer.on(handlers);
    },
  };
}

/**
 * A signal one part of the process fires and controllers watch, so features
 * tell each other of a change without importing each other or holding each
 * other's objects: the composition root creates it and hands it to both.
 */
export class Trigger<T> implements Syncable {
  readonly name: string;
  private readonly listeners: ((value: T) => void)[] = [];

  constructor(name: string) {
    this.name = name;
  }

  fire(value: T): void {
    for (const listen of this.listeners) listen(value);
  }

  listen(listener: (value: T) => void): void {
    this.listeners.push(listener);
  }

  /** Nothing to sync: a trigger has no cache. */
  hasSynced(): boolean {
    return true;
  }

  waitForSync(): Promise<void> {
    return Promise.resolve();
  }
}

/** Keys to reconcile each time the trigger fires. */
export function watchTrigger<T>(trigger: Trigger<T>, keys: (value: T) => Iterable<string>): Watch {
  return {
    source: trigger,
    subscribe(enqueue) {
      trigger.listen((value) => {
        for (const key of keys(value)) enqueue(key);
      });
    },
  };
}

/** The clock a CoalescingTrigger schedules with (the real one but in tests). */
export interface TriggerClock {
  now(): number;
  after(ms: number, fn: () => void): void;
}

const realClock: TriggerClock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    setTimeout(fn, ms).unref();
  },
};

/**
 * A trigger that fires each value at most once per interval: the first time at
 * once, and every fire within the interval after it folded into one at its
 * end. For signals whose work grows with what they wake, such as a free volume
 * waking every Pending claim of its class: in a storm of N new volumes that
 * was N wakes of up to N claims each.
 */
export class CoalescingTrigger extends Trigger<string> {
  private readonly intervalMs: number;
  private readonly clock: TriggerClock;
  /** When each value last fired. */
  private readonly last = new Map<string, number>();
  /** Values with a fire scheduled at the end of their interval. */
  private readonly scheduled = new Set<string>();

  constructor(name: string, intervalMs: number, clock: TriggerClock = realClock) {
    super(name);
    this.intervalMs = intervalMs;
    this.clock = clock;
  }

  override fire(value: string): void {
    if (this.scheduled.has(value)) return;
    const now = this.clock.now();
    const since = now - (this.last.get(value) ?? Number.NEGATIVE_INFINITY);
    if (since >= this.intervalMs) {
      this.fireNow(value, now);
      return;
    }
    this.scheduled.add(value);
    this.clock.after(this.intervalMs - since, () => {
      this.scheduled.delete(value);
      this.fireNow(value, this.clock.now());
    });
  }

  private fireNow(value: string, now: number): void {
    this.last.set(value, now);
    // Only values fired within the interval matter; the rest are forgotten.
    if (this.last.size > 1024) {
      for (const [v, at] of this.last) if (now - at >= this.intervalMs) this.last.delete(v);
    }
    super.fire(value);
  }
}
