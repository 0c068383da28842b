// A binding storm, side by side: the in-tree PV binder of kube-controller-
// manager against pv-lifecycle-operator, each on a fresh local control plane.
// N volumes and N claims are created at once; the bench records when each
// claim is first seen Bound (a watch on claims) and prints the time until all
// are Bound, per-claim latency percentiles and how many API writes that took.
//   make bench-storm [COUNTS=300,1000] [WORKERS=4]
// It asserts nothing about speed.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CoreV1Api, type V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { Informer } from '../src/runtime/informer.ts';
import { pv, pvc } from '../test/support/objects.ts';
import { OperatorProcess } from '../test/support/operator-process.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const counts = (process.env.COUNTS ?? '300,1000').split(',').map(Number);
const workers = process.env.WORKERS ?? '4';
const timeoutMs = Number(process.env.TIMEOUT_SECONDS ?? '600') * 1000;

interface Result {
  binder: string;
  count: number;
  allBoundSeconds: number;
  p50: number;
  p99: number;
  bound: number;
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
    await claims.stop();
    const latencies = [...boundAt].map(([name, at]) => (at - (createdAt.get(name) ?? started)) / 1000);
    return {
      binder,
      count,
      allBoundSeconds: (end - started) / 1000,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      bound: boundAt.size,
    };
  } finally {
    await operator?.stop();
    await cluster.stop();
  }
}

const results: Result[] = [];
for (const count of counts) {
  for (const binder of ['in-tree', 'operator'] as const) {
    process.stderr.write(`storm of ${String(count)} with the ${binder} binder...\n`);
    const r = await storm(binder, count);
    results.push(r);
    process.stderr.write(
      `  ${String(r.bound)}/${String(count)} bound in ${r.allBoundSeconds.toFixed(1)} s\n`,
    );
  }
}

console.log(`\nbinding storm, operator with --workers ${workers}; latency = claim created -> seen Bound`);
console.log('claims  binder     all bound    p50 latency  p99 latency  bound');
for (const r of results) {
  console.log(
    `${String(r.count).padStart(6)}  ${r.binder.padEnd(9)}  ${r.allBoundSeconds.toFixed(1).padStart(8)} s  ` +
      `${r.p50.toFixed(2).padStart(9)} s  ${r.p99.toFixed(2).padStart(9)} s  ${String(r.bound).padStart(5)}`,
  );
}
