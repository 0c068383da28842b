// A binding storm, side by side: the in-tree PV binder of kube-controller-
// manager against pv-lifecycle-operator, each on a fresh local control plane.
// N volumes and N claims are created at once; the bench records when each
// claim is first seen Bound (a watch on claims) and prints the time until all
// are Bound, per-claim latency percentiles and the binder process's peak
// resident memory.
//   make bench-storm [COUNTS=300,1000] [WORKERS=4] [BINDERS=in-tree,operator]
// NODE_OPTIONS reaches the operator process (e.g. the Deployment's
// --max-old-space-size=384).
// It asserts nothing about speed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CoreV1Api, type V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { Informer } from '../src/runtime/informer.ts';
import { installCrds } from '../test/support/kubectl.ts';
import { pv, pvc } from '../test/support/objects.ts';
import { OperatorProcess } from '../test/support/operator-process.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const counts = (process.env.COUNTS ?? '300,1000').split(',').map(Number);
const workers = process.env.WORKERS ?? '4';
const timeoutMs = Number(process.env.TIMEOUT_SECONDS ?? '600') * 1000;
// BINDERS=operator skips the (slow) in-tree run.
const binders = (process.env.BINDERS ?? 'in-tree,operator')
  .split(',')
  .filter((b): b is 'in-tree' | 'operator' => b === 'in-tree' || b === 'operator');

interface Result {
  binder: string;
  count: number;
  allBoundSeconds: number;
  p50: number;
  p99: number;
  bound: number;
  /** Peak resident memory of the binder's process (VmHWM), MiB. */
  peakRssMiB: number;
}

/** A process's peak resident set (VmHWM) in MiB, from /proc. */
function peakRssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1] ?? 'NaN') / 1024;
  } catch {
    return NaN;
  }
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function storm(binder: 'in-tree' | 'operator', count: number): Promise<Result> {
  const cluster = await LocalCluster.start({
    dir: join(repoRoot, '.cluster', 'bench-storm'),
    inTreeBinder: binder === 'in-tree',
    tieToParent: true,
  });
  let operator: OperatorProcess | undefined;
  try {
    if (binder === 'operator') {
      // The operator is ready only once its NfsExport informer syncs too.
      const kubectlBin = join(cluster.state.binDir, 'kubectl');
      await installCrds(kubectlBin, cluster.kubeconfig);
      operator = await OperatorProcess.start({
        kubeconfig: cluster.kubeconfig,
        args: ['--workers', workers, '--log-level', 'info'],
      });
    }
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const ns = 'storm';
    await core.createNamespace({ body: { metadata: { name: ns } } });

    const boundAt = new Map<string, number>();
    let resolveAll: () => void = () => undefined;
    const allBound = new Promise<void>((resolve) => (resolveAll = resolve));
    const claims = new Informer<V1PersistentVolumeClaim>({
      name: 'bench-claims',
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      list: () => core.listNamespacedPersistentVolumeClaim({ namespace: ns }),
      model: 'V1PersistentVolumeClaim',
    });
    const seen = (c: V1PersistentVolumeClaim) => {
      const name = c.metadata?.name ?? '';
      if (c.status?.phase === 'Bound' && !boundAt.has(name)) {
        boundAt.set(name, performance.now());
        if (boundAt.size === count) resolveAll();
      }
    };
    claims.on({
      add: seen,
      update: (_old, c) => {
        seen(c);
      },
    });
    claims.start();
    await claims.waitForSync();

    const started = performance.now();
    const createdAt = new Map<string, number>();
    const creates: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const v = pv(`v${String(i)}`, { storageClass: 'storm', size: `${String(1 + (i % 7))}Gi` });
      delete v.status;
      const c = pvc(`c${String(i)}`, {
        storageClass: 'storm',
        namespace: ns,
        size: `${String(256 * (1 + (i % 4)))}Mi`,
      });
      delete c.metadata?.uid;
      creates.push(core.createPersistentVolume({ body: v }));
      creates.push(
        core
          .createNamespacedPersistentVolumeClaim({ namespace: ns, body: c })
          .then(() => createdAt.set(`c${String(i)}`, performance.now())),
      );
    }
    await Promise.all(creates);
    await Promise.race([allBound, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    const end = performance.now();
    // The operator's own process; for the in-tree binder, the whole
    // kube-controller-manager (all its controllers, not the binder alone).
    const binderPid =
      operator?.pid ?? cluster.state.processes.find((p) => p.name === 'kube-controller-manager')?.pid ?? 0;
    const peak = peakRssMiB(binderPid);
    await claims.stop();
    const latencies = [...boundAt].map(([name, at]) => (at - (createdAt.get(name) ?? started)) / 1000);
    return {
      binder,
      count,
      allBoundSeconds: (end - started) / 1000,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      bound: boundAt.size,
      peakRssMiB: peak,
    };
  } finally {
    await operator?.stop();
    await cluster.stop();
  }
}

const results: Result[] = [];
for (const count of counts) {
  for (const binder of binders) {
    process.stderr.write(`storm of ${String(count)} with the ${binder} binder...\n`);
    const r = await storm(binder, count);
    results.push(r);
    process.stderr.write(
      `  ${String(r.bound)}/${String(count)} bound in ${r.allBoundSeconds.toFixed(1)} s\n`,
    );
  }
}

console.log(`\nbinding storm, operator with --workers ${workers}; latency = claim created -> seen Bound`);
console.log(
  'claims  binder     all bound    p50 latency  p99 latency  bound  peak RSS (operator; in-tree: all of kube-controller-manager)',
);
for (const r of results) {
  console.log(
    `${String(r.count).padStart(6)}  ${r.binder.padEnd(9)}  ${r.allBoundSeconds.toFixed(1).padStart(8)} s  ` +
      `${r.p50.toFixed(2).padStart(9)} s  ${r.p99.toFixed(2).padStart(9)} s  ${String(r.bound).padStart(5)}  ` +
      `${r.peakRssMiB.toFixed(0).padStart(5)} MiB`,
  );
}
