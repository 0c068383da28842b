// The operator as a Deployment of N replicas with leader election would run
// it: whenever a replica exits (SIGKILLed by the bench, or on its own after
// losing the lease), a fresh one is started at once.
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { OperatorProcess, quickLeaderElection } from '../../test/support/operator-process.ts';

export const leaseId = 'pv-lifecycle-chaos';

export interface ReplicasOptions {
  count: number;
  kubeconfig: string;
  /** Flags besides leader election. */
  args: string[];
  /** Folder for the replicas' logs (replica-<n>.log). */
  logDir: string;
}

export class Replicas {
  /** Replicas that have started (answered /readyz) and still run. */
  readonly running = new Set<OperatorProcess>();
  /** Replicas that exited without the bench killing them, with how they ended. */
  readonly selfExits: string[] = [];
  started = 0;
  private readonly killed = new WeakSet<OperatorProcess>();
  private stopping = false;
  private readonly slots: Promise<void>[] = [];
  private readonly opts: ReplicasOptions;

  constructor(opts: ReplicasOptions) {
    this.opts = opts;
  }

  /** Starts the replicas; resolves once each answered /readyz for the first time. */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < this.opts.count; i++) {
      let first: () => void = () => undefined;
      ready.push(new Promise((resolve) => (first = resolve)));
      this.slots.push(this.slot(first));
    }
    await Promise.all(ready);
  }

  /** One replica slot: start, wait for its exit, start again, until stopped. */
  private async slot(onFirstReady: () => void): Promise<void> {
    while (!this.isStopping()) {
      let p: OperatorProcess;
      try {
        p = await OperatorProcess.start({
          kubeconfig: this.opts.kubeconfig,
          args: [...this.opts.args, ...quickLeaderElection(leaseId)],
          logFile: join(this.opts.logDir, `replica-${String(++this.started)}.log`),
          readyTimeoutMs: 120_000,
        });
      } catch (err) {
        this.selfExits.push(`a replica did not start: ${(err as Error).message.split('\n')[0] ?? ''}`);
        await sleep(1000);
        continue;
      }
      onFirstReady();
      if (this.isStopping()) {
        await p.stop();
        break;
      }
      this.running.add(p);
      if (p.running) await once(p.child, 'exit');
      this.running.delete(p);
      OperatorProcess.started.delete(p);
      if (!this.killed.has(p) && !this.isStopping()) {
        const why = p.entries.findLast((e) => e.level === 'error')?.message ?? 'no error logged';
        this.selfExits.push(`replica pid ${String(p.pid)} exited on its own (${why})`);
      }
    }
  }

  private isStopping(): boolean {
    return this.stopping;
  }

  /** The replica that reports itself leader, if one does right now. */
  async leader(): Promise<OperatorProcess | undefined> {
    const ps = [...this.running];
    const status = await Promise.all(ps.map((p) => p.leaderStatus(leaseId)));
    return ps[status.indexOf(1)];
  }

  /** SIGKILLs the leader (or, with none known, the replica pick chooses); says whom. */
  async killLeader(pick: (n: number) => number): Promise<string> {
    const leader = await this.leader();
    const ps = [...this.running];
    const victim = leader ?? ps[pick(ps.length)];
    if (!victim) return 'no replica running';
    this.killed.add(victim);
    await victim.kill();
    return `${leader ? 'leader' : 'no leader known, replica'} pid ${String(victim.pid)}`;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.running].map((p) => p.stop()));
    await Promise.all(this.slots);
  }
}
