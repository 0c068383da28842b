// Leader election on a coordination.k8s.io/v1 Lease, so that several replicas
// of the operator run with exactly one doing the work. The rules are those of
// client-go's leaderelection package, written anew:
//
// - A replica takes the lease when it is absent, has no holder, is already its
//   own, or has expired. Expiry is judged on the local clock: a holder's
//   record counts from the moment THIS replica first saw it (its renewTime as
//   written by another machine is never compared with our clock), and it
//   expires leaseDurationSeconds after that unless it changes again.
// - Every write carries the resourceVersion of the object it was based on; a
//   conflict means another replica wrote first, and this round is lost.
// - The leader renews every retryPeriod. If no renewal has succeeded within
//   renewDeadline (shorter than the lease duration), it stops leading at once,
//   before any other replica may consider the lease expired, and never leads
//   again in this process: the operator exits and its supervisor starts a
//   fresh process, which joins the election from scratch.
// - release() on a graceful shutdown clears the holder and shortens the
//   lease to one second, so a standby takes over at its next retry.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';

import { apiFailure, apiMessage } from '../kube/api-errors.ts';
import type { Log } from './log.ts';

/** The fields of a Lease's spec that the election reads and writes. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTimeMs: number | undefined;
  renewTimeMs: number | undefined;
  leaseTransitions: number;
}

/** A record as this replica saw it, and since when (local clock). */
export interface Observation {
  record: LeaseRecord;
  observedAtMs: number;
}

export type Decision =
  /** No Lease object yet: create it. */
  | { action: 'create' }
  /** Ours, free or expired: write ourselves in as holder. */
  | { action: 'write' }
  /** Another replica holds a live lease: wait. */
  | { action: 'wait'; holder: string; expiresInMs: number };

const sameRecord = (a: LeaseRecord, b: LeaseRecord): boolean =>
  a.holderIdentity === b.holderIdentity &&
  a.leaseDurationSeconds === b.leaseDurationSeconds &&
  a.acquireTimeMs === b.acquireTimeMs &&
  a.renewTimeMs === b.renewTimeMs &&
  a.leaseTransitions === b.leaseTransitions;

/** The observation after reading record at nowMs: its time moves only when the record changed. */
export function observe(previous: Observation | undefined, record: LeaseRecord, nowMs: number): Observation {
  if (previous && sameRecord(previous.record, record)) return previous;
  return { record, observedAtMs: nowMs };
}

/** Whether the observed holder's lease has run out, by the local clock. */
export function isExpired(observation: Observation, nowMs: number): boolean {
  return observation.observedAtMs + observation.record.leaseDurationSeconds * 1000 <= nowMs;
}

/** What to do with the lease as it stands. */
export function decide(observation: Observation | undefined, identity: string, nowMs: number): Decision {
  if (!observation) return { action: 'create' };
  const { holderIdentity } = observation.record;
  if (holderIdentity === '' || holderIdentity === identity || isExpired(observation, nowMs)) {
    return { action: 'write' };
  }
  return {
    action: 'wait',
    holder: holderIdentity,
    expiresInMs: observation.observedAtMs + observation.record.leaseDurationSeconds * 1000 - nowMs,
  };
}

/** The record to write to take or keep the lease. */
export function nextRecord(
  current: LeaseRecord | undefined,
  identity: string,
  leaseDurationSeconds: number,
  nowMs: number,
): LeaseRecord {
  const keeping = current !== undefined && current.holderIdentity === identity;
  return {
    holderIdentity: identity,
    leaseDurationSeconds,
    acquireTimeMs: keeping ? (current.acquireTimeMs ?? nowMs) : nowMs,
    renewTimeMs: nowMs,
    leaseTransitions:
      current === undefined ? 0 : keeping ? current.leaseTransitions : current.leaseTransitions + 1,
  };
}

/** The record to write on a graceful release: no holder, expiring at once. */
export function releasedRecord(current: LeaseRecord, nowMs: number): LeaseRecord {
  return {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTimeMs: nowMs,
    renewTimeMs: nowMs,
    leaseTransitions: current.leaseTransitions,
  };
}

/** Whether a leader whose last successful renewal began at lastRenewMs must give up. */
export function renewDeadlinePassed(lastRenewMs: number, renewDeadlineMs: number, nowMs: number): boolean {
  return nowMs - lastRenewMs >= renewDeadlineMs;
}

const timeMs = (t: unknown): number | undefined => {
  if (t === undefined || t === null) return undefined;
  // The client returns MicroTime fields as strings; accept Dates too.
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
};

export function recordOf(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTimeMs: timeMs(spec.acquireTime),
    renewTimeMs: timeMs(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function specOf(record: LeaseRecord): V1Lease['spec'] {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: record.acquireTimeMs === undefined ? undefined : new V1MicroTime(record.acquireTimeMs),
    renewTime: record.renewTimeMs === undefined ? undefined : new V1MicroTime(record.renewTimeMs),
    leaseTransitions: record.leaseTransitions,
  };
}

/** The Lease calls the elector makes; CoordinationV1Api satisfies it. */
export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

export interface LeaderElectorOptions {
  kubeConfig?: KubeConfig;
  /** Used instead of one made from kubeConfig (tests). */
  api?: LeaseApi;
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** Default: hostname_random. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Log;
  /** The local clock, in ms (tests). */
  now?: () => number;
  onStartedLeading: () => void;
  /** Called once when leadership ends: lost (released false) or handed back by release(). */
  onStoppedLeading: (how: { released: boolean }) => void;
  metrics?: { setLeader(name: string, leader: boolean): void };
}

export const leaderElectionDefaults = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
} as const;

export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(6).toString('hex')}`;
}

type State = 'candidate' | 'leading' | 'stopped';

export class LeaderElector {
  readonly identity: string;
  private readonly opts: LeaderElectorOptions;
  private readonly api: LeaseApi;
  private readonly now: () => number;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private state: State = 'candidate';
  private observation: Observation | undefined;
  /** When the last successful write of ours began. */
  private lastRenewMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private running = false;
  private round: Promise<unknown> | undefined;

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.identity = opts.identity ?? defaultIdentity();
    this.now = opts.now ?? Date.now;
    this.leaseDurationMs = opts.leaseDurationMs ?? leaderElectionDefaults.leaseDurationMs;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? leaderElectionDefaults.renewDeadlineMs;
    this.retryPeriodMs = opts.retryPeriodMs ?? leaderElectionDefaults.retryPeriodMs;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) {
      throw new Error('leader election: the renew deadline must be shorter than the lease duration');
    }
    if (!(this.retryPeriodMs < this.renewDeadlineMs)) {
      throw new Error('leader election: the retry period must be shorter than the renew deadline');
    }
    if (opts.api) this.api = opts.api;
    else if (opts.kubeConfig) this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    else throw new Error('leader election: give kubeConfig or api');
    opts.metrics?.setLeader(opts.name, false);
  }

  get isLeader(): boolean {
    return this.state === 'leading';
  }

  /** Whether this process may still lead: false once leadership was lost or released. */
  get active(): boolean {
    return this.state !== 'stopped';
  }

  /** Runs the election in the background: a round now, then one every retry period. */
  start(): void {
    if (this.running || this.state === 'stopped') return;
    this.running = true;
    const loop = async () => {
      this.timer = undefined;
      if (!this.looping()) return;
      this.round = this.tick();
      await this.round;
      if (this.looping()) {
        this.timer = setTimeout(() => void loop(), this.retryPeriodMs);
      }
    };
    void loop();
  }

  private looping(): boolean {
    return this.running && this.state !== 'stopped';
  }

  /**
   * One round: read the lease, decide, write if due. Resolves whether this
   * replica leads afterwards. Never throws; failures are logged.
   */
  async tick(): Promise<boolean> {
    if (this.state === 'stopped') return false;
    const started = this.now();
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew(started);
    } catch (err) {
      this.opts.log.warn('leader election: lease update failed', {
        lease: this.where(),
        error: apiMessage(err),
      });
    }
    // A late answer after giving up changes nothing.
    if ((this.state as State) === 'stopped') return false;
    if (ok) {
      this.lastRenewMs = started;
      if (this.state === 'candidate') {
        this.state = 'leading';
        this.opts.log.info('leader election: became the leader', {
          lease: this.where(),
          identity: this.identity,
        });
        this.opts.metrics?.setLeader(this.opts.name, true);
        this.opts.onStartedLeading();
      }
      this.armWatchdog();
      return true;
    }
    if (this.state === 'leading' && renewDeadlinePassed(this.lastRenewMs, this.renewDeadlineMs, this.now())) {
      this.lose('no successful renewal within the renew deadline');
    }
    return this.state === 'leading';
  }

  /** Stops the background rounds; does not touch the lease (see release). */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearTimeout(this.watchdog);
    this.timer = undefined;
    this.watchdog = undefined;
  }

  /**
   * Graceful shutdown: stops the rounds and, if leading, hands the lease
   * back so a standby takes it at once; then calls onStoppedLeading.
   */
  async release(): Promise<void> {
    this.stop();
    await this.round;
    if (this.state !== 'leading') {
      this.state = 'stopped';
      return;
    }
    this.state = 'stopped';
    try {
      const lease = await this.api.readNamespacedLease({
        name: this.opts.name,
        namespace: this.opts.namespace,
      });
      const record = recordOf(lease);
      if (record.holderIdentity === this.identity) {
        await this.api.replaceNamespacedLease({
          name: this.opts.name,
          namespace: this.opts.namespace,
          body: { ...lease, spec: specOf(releasedRecord(record, this.now())) },
        });
        this.opts.log.info('leader election: released the lease', { lease: this.where() });
      }
    } catch (err) {
      this.opts.log.warn('leader election: could not release the lease; it will expire', {
        lease: this.where(),
        error: apiMessage(err),
      });
    }
    this.opts.metrics?.setLeader(this.opts.name, false);
    this.opts.onStoppedLeading({ released: true });
  }

  private where(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  private lose(reason: string): void {
    if (this.state !== 'leading') return;
    this.state = 'stopped';
    this.stop();
    this.opts.log.error('leader election: lost the lease', { lease: this.where(), reason });
    this.opts.metrics?.setLeader(this.opts.name, false);
    this.opts.onStoppedLeading({ released: false });
  }

  /** Gives up at lastRenew + renewDeadline even if a request hangs. */
  private armWatchdog(): void {
    if (!this.running) return;
    if (this.watchdog) clearTimeout(this.watchdog);
    const wait = Math.max(0, this.lastRenewMs + this.renewDeadlineMs - this.now());
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      if (renewDeadlinePassed(this.lastRenewMs, this.renewDeadlineMs, this.now())) {
        this.lose('no successful renewal within the renew deadline');
      } else {
        this.armWatchdog();
      }
    }, wait);
  }

  private async tryAcquireOrRenew(nowMs: number): Promise<boolean> {
    const { name, namespace } = this.opts;
    const seconds = Math.ceil(this.leaseDurationMs / 1000);
    let lease: V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (apiFailure(err) !== 'notFound') throw err;
    }
    if (!lease) {
      this.observation = undefined;
      const record = nextRecord(undefined, this.identity, seconds, nowMs);
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: specOf(record) },
        });
      } catch (err) {
        if (apiFailure(err) === 'alreadyExists' || apiFailure(err) === 'conflict') return false;
        throw err;
      }
      this.observation = observe(undefined, record, nowMs);
      return true;
    }
    this.observation = observe(this.observation, recordOf(lease), this.now());
    const decision = decide(this.observation, this.identity, this.now());
    if (decision.action === 'wait') {
      if (this.state === 'leading') {
        // Someone else holds it: our lease was taken from us.
        this.lose(`the lease is held by ${decision.holder}`);
      } else {
        this.opts.log.debug('leader election: the lease is held by another replica', {
          lease: this.where(),
          holder: decision.holder,
          expiresInMs: decision.expiresInMs,
        });
      }
      return false;
    }
    const record = nextRecord(this.observation.record, this.identity, seconds, nowMs);
    try {
      // The read object carries its resourceVersion: a concurrent writer makes this a 409.
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { ...lease, spec: specOf(record) },
      });
    } catch (err) {
      if (apiFailure(err) === 'conflict') {
        this.opts.log.debug('leader election: another replica wrote the lease first', {
          lease: this.where(),
        });
        return false;
      }
      throw err;
    }
    this.observation = observe(this.observation, record, nowMs);
    return true;
  }
}
