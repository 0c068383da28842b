// Storms: hundreds of claims and volumes created at once, bound by the
// operator process with several workers; then the same while the operator is
// killed with SIGKILL again and again; then two operators at once. Every run
// must end with each claim Bound to a volume of its own and nothing half-bound,
// and at no moment may two claims name the same volume.
import { join } from 'node:path';

import { CoreV1Api, type V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { pv, pvc } from '../support/objects.ts';
import { type LogEntry, OperatorProcess, quickLeaderElection } from '../support/operator-process.ts';
import { apiServerOf, FreezableProxyProcess } from '../support/tcp-proxy.ts';
import { eventually, sleep } from '../support/wait.ts';

describe('binding storms (operator process)', function () {
  this.timeout(240_000);
  let core: CoreV1Api;
  let n = 0;
  let ns = '';
  const operators: OperatorProcess[] = [];

  const startOperator = async (extra: string[] = [], kubeconfig = operatorKubeconfig()) => {
    const p = await OperatorProcess.start({
      kubeconfig,
      args: ['--workers', '8', ...extra],
      logFile: join(repoRoot, '.cluster', 'test-logs', `operator-${ns}.log`),
    });
    operators.push(p);
    return p;
  };

  before(() => {
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
  });

  beforeEach(async () => {
    ns = `storm-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  let proxy: FreezableProxyProcess | undefined;

  afterEach(async () => {
    await proxy?.thaw();
    await Promise.all(operators.splice(0).map((p) => p.stop()));
    await proxy?.close();
    proxy = undefined;
  });

  /** An operator that reaches the API server through a proxy the test can freeze. */
  async function startCutOffable(extra: string[]): Promise<OperatorProcess> {
    proxy = await FreezableProxyProcess.start(apiServerOf(testCluster().kubeConfig()));
    const kubeconfig = proxy.kubeconfigVia(
      operatorKubeconfig(),
      join(repoRoot, '.cluster', 'test-logs', `operator-${ns}-via-proxy.kubeconfig`),
    );
    return startOperator(extra, kubeconfig);
  }

  const cls = () => `class-${ns}`;
  // Volumes of 1 to 7 Gi, claims of 256 to 1024 Mi: every volume fits every
  // claim, so however the race goes each claim gets one (with claims of
  // mixed sizes, a small claim may legitimately take the last large volume).
  const volumeSize = (i: number) => `${String(1 + (i % 7))}Gi`;
  const claimSize = (i: number) => `${String(256 * (1 + (i % 4)))}Mi`;

  async function createPairs(count: number): Promise<void> {
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const v = pv(`${ns}-v${String(i)}`, { storageClass: cls(), size: volumeSize(i) });
      delete v.status;
      const c = pvc(`c${String(i)}`, { storageClass: cls(), namespace: ns, size: claimSize(i) });
      delete c.metadata?.uid;
      jobs.push(core.createPersistentVolume({ body: v }));
      jobs.push(core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c }));
    }
    await Promise.all(jobs);
  }

  /** Watches for two claims naming one volume at any moment, until stopped. */
  function watchForDoubleBinding(): { stop: () => Promise<string[]> } {
    const problems: string[] = [];
    const state = { running: true };
    const loop = (async () => {
      while (state.running) {
        const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
        const holder = new Map<string, string>();
        for (const c of claims) {
          const v = c.spec?.volumeName;
          if (!v) continue;
          const other = holder.get(v);
          if (other) problems.push(`${v} named by ${other} and ${c.metadata?.name ?? ''}`);
          holder.set(v, c.metadata?.name ?? '');
        }
        await sleep(100);
      }
    })();
    return {
      stop: async () => {
        state.running = false;
        await loop;
        return problems;
      },
    };
  }

  async function waitAllBound(count: number, timeoutMs: number): Promise<void> {
    let last = -1;
    await eventually(
      `all ${String(count)} claims Bound`,
      async () => {
        const list = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
        const bound = list.items.filter((c) => c.status?.phase === 'Bound').length;
        if (bound !== last) {
          last = bound;
          process.stderr.write(`      ${String(bound)}/${String(count)} bound\n`);
        }
        return bound === count ? true : undefined;
      },
      timeoutMs,
      500,
    );
  }

  /** The end state: every claim Bound to a volume of its own, which points back; nothing half-bound. */
  async function expectConverged(count: number): Promise<void> {
    const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
    const volumes = (await core.listPersistentVolume()).items.filter(
      (v) => v.spec?.storageClassName === cls(),
    );
    expect(claims).to.have.length(count);
    const byUid = new Map<string, V1PersistentVolumeClaim>(claims.map((c) => [c.metadata?.uid ?? '', c]));
    const names = claims.map((c) => c.spec?.volumeName);
    expect(new Set(names).size, 'distinct volumes').to.equal(count);
    const byName = new Map(volumes.map((v) => [v.metadata?.name, v]));
    for (const c of claims) {
      const who = c.metadata?.name ?? '';
      expect(c.status?.phase, who).to.equal('Bound');
      expect(c.metadata?.annotations?.['pv.kubernetes.io/bind-completed'], who).to.equal('yes');
      const v = byName.get(c.spec?.volumeName);
      expect(v?.spec?.claimRef?.uid, who).to.equal(c.metadata?.uid);
      expect(v?.status?.phase, who).to.equal('Bound');
      // The claim's status reports the volume's capacity.
      expect(c.status?.capacity?.storage, who).to.equal(v?.spec?.capacity?.storage);
    }
    for (const v of volumes) {
      const ref = v.spec?.claimRef;
      if (!ref) {
        expect(v.status?.phase, v.metadata?.name).to.equal('Available');
        continue;
      }
      // A claimRef must lead to a claim that names this volume back.
      expect(byUid.get(ref.uid ?? '')?.spec?.volumeName, v.metadata?.name).to.equal(v.metadata?.name);
    }
  }

  /**
   * All claims Bound is not quite the end: a volume given a claimRef by a
   * writer that lost the race for the claim is freed again by volume sync.
   */
  const converged = (count: number) =>
    eventually(
      'a converged state',
      async () => {
        await expectConverged(count);
        return true;
      },
      30_000,
      500,
    );

  /** A storm of 200 ends well: all Bound, no two claims on a volume at any moment, converged. */
  async function stormFinished(watch: { stop: () => Promise<string[]> }): Promise<void> {
    await waitAllBound(200, 120_000);
    expect(await watch.stop()).to.deep.equal([]);
    await converged(200);
  }

  it('binds 300 claims and 300 volumes created at once to distinct volumes', async () => {
    await startOperator();
    const watch = watchForDoubleBinding();
    const started = Date.now();
    await createPairs(300);
    await waitAllBound(300, 120_000);
    process.stderr.write(`      converged in ${String(Date.now() - started)} ms\n`);
    expect(await watch.stop()).to.deep.equal([]);
    await expectConverged(300);
  });

  it('converges with no double binding when SIGKILLed again and again during the storm', async () => {
    let operator = await startOperator();
    const watch = watchForDoubleBinding();
    await createPairs(300);
    for (let kill = 0; kill < 4; kill++) {
      await sleep(300 + Math.floor(Math.random() * 1200));
      const status = await operator.kill();
      expect(status.signal).to.equal('SIGKILL');
      operator = await startOperator();
    }
    await waitAllBound(300, 120_000);
    expect(await watch.stop()).to.deep.equal([]);
    await converged(300);
  });

  it('stays correct with two operators binding the same storm at once', async () => {
    await Promise.all([startOperator(), startOperator()]);
    const watch = watchForDoubleBinding();
    await createPairs(200);
    await stormFinished(watch);
  });

  it('finishes the storm on the standby when the leader is SIGKILLed mid-storm, with no double binding', async () => {
    const election = quickLeaderElection(`storm-${ns}`);
    const [a, b] = await Promise.all([startOperator(election), startOperator(election)]);
    const isLeader = async (p: OperatorProcess) => (await p.leaderStatus(`storm-${ns}`)) === 1;
    const leader = await eventually('a leader', async () => {
      if (await isLeader(a)) return a;
      if (await isLeader(b)) return b;
      return undefined;
    });
    const standby = leader === a ? b : a;
    const watch = watchForDoubleBinding();
    await createPairs(200);
    await sleep(1500);
    expect((await leader.kill()).signal).to.equal('SIGKILL');
    await eventually(
      'the standby to lead',
      async () => ((await isLeader(standby)) ? true : undefined),
      15_000,
    );
    await stormFinished(watch);
  });

  /**
   * The leader behind the proxy leads a storm; the network is cut. The standby
   * (with its own connection) must finish, and nothing of the old leader may
   * land after the takeover: it abandons its requests before the lease expires.
   */
  async function leaderBehindProxy(extra: string[] = [], election = quickLeaderElection) {
    const id = `storm-${ns}`;
    const a = await startCutOffable([...election(id), ...extra]);
    await eventually('the proxied operator to lead', async () =>
      (await a.leaderStatus(id)) === 1 ? true : undefined,
    );
    const b = await startOperator(election(id));
    expect(await b.leaderStatus(id)).to.equal(0);
    const watch = watchForDoubleBinding();
    await createPairs(200);
    // Cut once the leader is binding (on a loaded machine its watch may lag
    // the creates by seconds), with most of the storm still ahead of it.
    await eventually(
      'the leader to bind the first claims',
      async () => {
        const claims = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
        return claims.items.filter((c) => c.status?.phase === 'Bound').length >= 5 ? true : undefined;
      },
      60_000,
      50,
    );
    await proxy?.freeze();
    return { id, a, b, watch, cutAt: Date.now() };
  }

  const at = (entry: LogEntry | undefined) => Date.parse(String(entry?.timestamp));

  /** The operator's one warning on abandoning its in-flight work, if it logged it. */
  const abandonment = (p: OperatorProcess) =>
    p.logged('abandoning in-flight work: its requests are aborted; the next leader picks it up');

  const standbyLeads = (b: OperatorProcess) =>
    eventually(
      'the standby to lead',
      () => Promise.resolve(b.logged('leader election: became the leader')),
      15_000,
    );

  /** SIGTERM to the cut-off leader 0.3 s after the cut; its exit, and how long after the signal. */
  async function sigtermAfterCut(a: OperatorProcess, timeoutMs: number) {
    await sleep(300);
    const termAt = Date.now();
    const exit = await a.stop('SIGTERM', timeoutMs);
    return { exit, exitMs: Date.now() - termAt };
  }

  /**
   * For the SIGTERM tests: an 8 s lease and a 6 s renew deadline, so that the
   * signal, sent 0.3 s after the cut, always arrives well before the leader
   * could lose the lease on its own (with 3 s, a renewal slowed by a loaded
   * machine left too little room, and the leader exited 1 on its own first).
   */
  const slowerElection = (id: string) =>
    quickLeaderElection(id).map((arg, i, all) => {
      if (all[i - 1] === '--leader-election-lease-duration') return '8s';
      if (all[i - 1] === '--leader-election-renew-deadline') return '6s';
      return arg;
    });

  it('a leader cut off from the API server mid-storm abandons its requests and exits 1 before the standby takes over', async () => {
    const { a, b, watch, cutAt } = await leaderBehindProxy();
    const exit = await a.exit(30_000);
    const exitMs = Date.now() - cutAt;
    expect(exit, `the cut-off leader still runs:\n${a.tail()}`).to.deep.equal({ code: 1, signal: null });
    const abandoned = abandonment(a);
    expect(abandoned, a.tail()).to.not.equal(undefined);
    expect(abandoned?.why).to.equal('lost the lease');
    expect(abandoned?.running, 'reconciles were in flight when the network went').to.not.deep.equal([]);
    const took = await standbyLeads(b);
    process.stderr.write(
      `      cut-off leader exited ${String(exitMs)} ms after the cut, abandoning ${String((abandoned?.running as string[]).length)} reconciles; standby led ${String(at(took) - cutAt)} ms after the cut\n`,
    );
    expect(at(abandoned), 'the old leader abandoned its work before the standby led').to.be.below(at(took));
    await stormFinished(watch);
  });

  it('on SIGTERM with the API server unreachable, abandons in-flight work after the grace period and exits 0', async () => {
    const { a, b, watch } = await leaderBehindProxy(['--graceful-shutdown-timeout', '1s'], slowerElection);
    const { exit, exitMs } = await sigtermAfterCut(a, 30_000);
    expect(exit, a.tail()).to.deep.equal({ code: 0, signal: null });
    const abandoned = abandonment(a);
    // Abandoned when the 1 s grace period ran out, long before the lease
    // could be lost (6 s renew deadline).
    expect(abandoned?.why, a.tail()).to.equal('the operator is stopping (grace period 1s over)');
    expect(abandoned?.running, 'reconciles were in flight').to.not.deep.equal([]);
    // The lease cannot be handed back through a cut network: it runs out
    // instead (the release fails, or the renew deadline passed first).
    expect(a.logged('leader election: released the lease')).to.equal(undefined);
    expect(
      a.logged('leader election: could not release the lease; it will expire') ??
        a.logged('leader election: lost the lease'),
      a.tail(),
    ).to.not.equal(undefined);
    process.stderr.write(
      `      exited ${String(exitMs)} ms after SIGTERM (grace 1s, lease requests limited to 3s)\n`,
    );
    // Grace period, then the lease requests of the release (each limited to
    // half the renew deadline, together at most the renew deadline), and
    // slack: far from the request limit that bounded it before.
    expect(exitMs).to.be.below(1_000 + 6_000 + 3_000);
    await standbyLeads(b);
    await stormFinished(watch);
  });

  it('on SIGTERM with a long grace period, abandons at once when the lease is lost meanwhile', async () => {
    const { a, b, watch } = await leaderBehindProxy(['--graceful-shutdown-timeout', '20s'], slowerElection);
    const { exit, exitMs } = await sigtermAfterCut(a, 40_000);
    expect(exit, a.tail()).to.deep.equal({ code: 0, signal: null });
    const abandoned = abandonment(a);
    // The renew deadline (6 s) passes long before the 20 s grace period: from
    // then on a standby may lead, so nothing more of this process may land.
    expect(abandoned?.why, a.tail()).to.equal('lost the lease while stopping');
    const lost = a.logged('leader election: lost the lease');
    expect(at(abandoned) - at(lost)).to.be.below(1_000);
    process.stderr.write(`      exited ${String(exitMs)} ms after SIGTERM (grace 20s, renew deadline 6s)\n`);
    expect(exitMs, 'it waited out the grace period after losing the lease').to.be.below(12_000);
    const took = await standbyLeads(b);
    expect(at(abandoned), 'abandoned before the standby led').to.be.below(at(took));
    await stormFinished(watch);
  });
});
