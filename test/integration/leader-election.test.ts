// Leader election between operator processes on a real Lease: of two
// replicas exactly one reconciles; a crashed leader is replaced once its lease
// runs out, a leader stopped with SIGTERM hands over at once, and a leader
// whose lease is taken from it exits 1.
import { join } from 'node:path';

import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { pv, pvc } from '../support/objects.ts';
import { OperatorProcess, quickLeaderElection } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

const leaseDurationMs = 4_000;

describe('leader election (operator processes)', function () {
  this.timeout(120_000);
  let core: CoreV1Api;
  let coordination: CoordinationV1Api;
  let n = 0;
  let ns = '';
  let id = '';
  const operators: OperatorProcess[] = [];

  before(() => {
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
    coordination = testCluster().kubeConfig().makeApiClient(CoordinationV1Api);
  });

  beforeEach(async () => {
    n += 1;
    ns = `leader-${String(n)}-${String(process.pid)}`;
    id = `pv-lifecycle-le-${String(n)}-${String(process.pid)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterEach(async () => {
    await Promise.all(operators.splice(0).map((p) => p.stop()));
  });

  const startOperator = async (tag: string) => {
    const p = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: quickLeaderElection(id),
      logFile: join(repoRoot, '.cluster', 'test-logs', `operator-${ns}-${tag}.log`),
    });
    operators.push(p);
    return p;
  };

  const cls = () => `class-${ns}`;
  async function createPair(name: string): Promise<void> {
    const v = pv(`${ns}-${name}`, { storageClass: cls() });
    delete v.status;
    const c = pvc(name, { storageClass: cls(), namespace: ns });
    delete c.metadata?.uid;
    await core.createPersistentVolume({ body: v });
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  }
  const bound = (name: string, timeoutMs = 30_000) =>
    eventually(
      `claim ${name} Bound`,
      async () => {
        const c = await core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
        return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
      },
      timeoutMs,
      100,
    );

  const status = (p: OperatorProcess) => p.leaderStatus(id);

  /** Waits until exactly one of the processes reports itself leader and the rest standby. */
  async function leaderAmong(ps: OperatorProcess[], timeoutMs = 15_000): Promise<OperatorProcess> {
    return eventually(
      'exactly one leader',
      async () => {
        const values = await Promise.all(ps.map(status));
        if (values.filter((v) => v === 1).length !== 1) return undefined;
        if (values.filter((v) => v === 0).length !== ps.length - 1) return undefined;
        return ps[values.indexOf(1)];
      },
      timeoutMs,
      50,
    );
  }

  const reconciles = async (p: OperatorProcess): Promise<number> => {
    const text = await p.metrics();
    let total = 0;
    for (const m of text.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\d+)$/gm)) {
      total += Number(m[1]);
    }
    return total;
  };

  it('lets only one of two operators reconcile', async () => {
    const a = await startOperator('a');
    const b = await startOperator('b');
    const leader = await leaderAmong([a, b]);
    const standby = leader === a ? b : a;
    await createPair('c1');
    await bound('c1');
    await sleep(1_500);
    expect(await leaderAmong([a, b])).to.equal(leader);
    expect(await reconciles(leader)).to.be.greaterThan(0);
    expect(await reconciles(standby), 'reconciles on the standby').to.equal(0);
    // The standby serves its probes all the same.
    expect((await standby.get('/readyz')).status).to.equal(200);
    const lease = await coordination.readNamespacedLease({ name: id, namespace: 'pv-lifecycle-system' });
    expect(lease.spec?.holderIdentity).to.be.a('string').and.not.equal('');
    expect(lease.spec?.leaseDurationSeconds).to.equal(4);
  });

  it('hands over within the lease duration when the leader is SIGKILLed', async () => {
    const a = await startOperator('a');
    const b = await startOperator('b');
    const leader = await leaderAmong([a, b]);
    const standby = leader === a ? b : a;
    await createPair('c1');
    await bound('c1');
    const killed = Date.now();
    await leader.kill();
    await eventually(
      'the standby leading',
      async () => ((await status(standby)) === 1 ? true : undefined),
      15_000,
      50,
    );
    const takeover = Date.now() - killed;
    process.stderr.write(`      takeover after SIGKILL: ${String(takeover)} ms\n`);
    // The lease runs out 4 s after the standby last saw it renewed (at most a
    // retry period before the kill), and the standby tries every second.
    expect(takeover).to.be.lessThan(leaseDurationMs + 2_500);
    await createPair('c2');
    await bound('c2');
  });

  it('hands over at once when the leader is stopped with SIGTERM', async () => {
    const a = await startOperator('a');
    const b = await startOperator('b');
    const leader = await leaderAmong([a, b]);
    const standby = leader === a ? b : a;
    const stopping = Date.now();
    const exit = await leader.stop('SIGTERM');
    expect(exit.code).to.equal(0);
    await eventually(
      'the standby leading',
      async () => ((await status(standby)) === 1 ? true : undefined),
      15_000,
      50,
    );
    const takeover = Date.now() - stopping;
    process.stderr.write(`      takeover after SIGTERM: ${String(takeover)} ms\n`);
    expect(takeover).to.be.lessThan(leaseDurationMs / 2);
    expect(leader.entries.some((e) => e.message === 'leader election: released the lease')).to.equal(true);
    await createPair('c1');
    await bound('c1');
  });

  it('exits 1 when its lease is taken from it', async () => {
    const a = await startOperator('a');
    await leaderAmong([a]);
    const lease = await coordination.readNamespacedLease({ name: id, namespace: 'pv-lifecycle-system' });
    await coordination.replaceNamespacedLease({
      name: id,
      namespace: 'pv-lifecycle-system',
      body: { ...lease, spec: { ...lease.spec, holderIdentity: 'someone-else' } },
    });
    await eventually('the operator to exit', () => (a.running ? undefined : true), 10_000, 50);
    expect(await a.stop()).to.deep.equal({ code: 1, signal: null });
    expect(a.entries.some((e) => e.level === 'error' && /lost/.test(e.message))).to.equal(true);
  });
});
