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
import { OperatorProcess, quickLeaderElection } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

describe('binding storms (operator process)', function () {
  this.timeout(240_000);
  let core: CoreV1Api;
  let n = 0;
  let ns = '';
  const operators: OperatorProcess[] = [];

  const startOperator = async (extra: string[] = []) => {
    const p = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
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

  afterEach(async () => {
    await Promise.all(operators.splice(0).map((p) => p.stop()));
  });

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
    await waitAllBound(200, 120_000);
    expect(await watch.stop()).to.deep.equal([]);
    await converged(200);
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
    await waitAllBound(200, 120_000);
    expect(await watch.stop()).to.deep.equal([]);
    await converged(200);
  });
});
