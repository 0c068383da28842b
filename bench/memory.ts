// The operator's memory at a steady state of many volumes, on a fresh local
// control plane (binder of kube-controller-manager off):
//   1. N Available volumes: after the caches synced, after 100 claims bound one
//      at a time, after two resync periods (counting the API writes they made);
//   2. the same N volumes each bound to a claim (written by the bench while the
//      operator is stopped), the operator started again: after sync and after
//      two resyncs.
// At each point: resident memory (VmRSS, VmHWM from /proc) and the V8 heap
// (heapUsed, heapTotal, external, from the operator's own nodejs_* metrics).
//   make bench-memory [VOLUMES=10000] [RESYNC_SECONDS=15] [HEAP_SNAPSHOTS=1]
//   OPERATOR_DIR=<another checkout> runs that checkout's operator (before/after).
//   The operator runs compiled with the Deployment's node flags, as in a
//   cluster; OPERATOR_RUNTIME=tsx and OPERATOR_NODE_OPTIONS change that
//   (bench/support/operator-build.ts).
// HEAP_SNAPSHOTS=1 writes a heap snapshot at each point (SIGUSR2, via
// --heapsnapshot-signal) into .cluster/bench-memory/snapshots; writing one
// raises the resident memory measured after it, so take the numbers from a
// run without. bench/heap-summary.ts summarises a snapshot.
// It asserts nothing.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { CoreV1Api, type V1PersistentVolume, type V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { ApiClients } from '../src/runtime/api-clients.ts';
import { Informer } from '../src/runtime/informer.ts';
import { installCrds } from '../test/support/kubectl.ts';
import { OperatorProcess } from '../test/support/operator-process.ts';
import { operatorRuntime } from './support/operator-build.ts';
import { writeLineChart } from './support/plot.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const volumes = Number(process.env.VOLUMES ?? '10000');
const binds = Math.min(volumes, Number(process.env.BINDS ?? '100'));
const resyncSeconds = Number(process.env.RESYNC_SECONDS ?? '15');
const snapshots = process.env.HEAP_SNAPSHOTS === '1';
const operatorDir = resolve(process.env.OPERATOR_DIR ?? repoRoot);
// BENCH_NAME keeps two runs at once apart (each has its own cluster).
const dir = join(repoRoot, '.cluster', process.env.BENCH_NAME ?? 'bench-memory');
const snapshotDir = join(dir, 'snapshots');
const ns = 'memory';
const sc = 'memory';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (bytes: number) => bytes / (1 << 20);

/** Runs fn over items, at most `width` at once. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
}

interface Point {
  state: string;
  rssMiB: number;
  hwmMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  note: string;
}

function procStatus(pid: number, field: string): number {
  const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? 'NaN') * 1024;
}

function metric(text: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 'NaN');
}

/** Sum of the metric's series whose labels match every pattern. */
function sumSeries(text: string, name: string, match: RegExp[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = line.slice(name.length, line.lastIndexOf('}') + 1);
    if (match.every((m) => m.test(labels))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function measure(op: OperatorProcess, state: string, note = ''): Promise<Point> {
  const text = await op.metrics();
  const p: Point = {
    state,
    rssMiB: MiB(procStatus(op.pid, 'VmRSS')),
    hwmMiB: MiB(procStatus(op.pid, 'VmHWM')),
    heapUsedMiB: MiB(metric(text, 'nodejs_heap_size_used_bytes')),
    heapTotalMiB: MiB(metric(text, 'nodejs_heap_size_total_bytes')),
    externalMiB: MiB(metric(text, 'nodejs_external_memory_bytes')),
    note,
  };
  process.stderr.write(
    `  ${state}: RSS ${p.rssMiB.toFixed(0)} MiB, heap used ${p.heapUsedMiB.toFixed(0)} MiB\n`,
  );
  if (snapshots) await snapshot(op, state);
  return p;
}

/** SIGUSR2 makes node write a snapshot; wait until the new file stops growing. */
async function snapshot(op: OperatorProcess, state: string): Promise<void> {
  const before = new Set(readdirSync(snapshotDir));
  op.child.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(1000);
    const fresh = readdirSync(snapshotDir).filter((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    const file = fresh[0];
    if (!file) continue;
    const size = statSync(join(snapshotDir, file)).size;
    // The file is made first and filled later.
    if (size === 0) continue;
    await sleep(2000);
    // The operator answers again once the snapshot is written (it blocks meanwhile).
    if (
      statSync(join(snapshotDir, file)).size === size &&
      (await op.get('/healthz').catch(() => undefined))
    ) {
      process.stderr.write(`  snapshot ${state}: ${file} (${MiB(size).toFixed(0)} MiB)\n`);
      return;
    }
  }
  throw new Error('no heap snapshot was written');
}

/** The apiserver's count of writes (POST, PUT, PATCH, DELETE) to volumes, claims and events. */
async function apiWrites(cluster: LocalCluster): Promise<number> {
  const { stdout } = await run(
    cluster.kubectl,
    ['--kubeconfig', cluster.kubeconfig, 'get', '--raw', '/metrics'],
    {
      maxBuffer: 256 << 20,
    },
  );
  return sumSeries(stdout, 'apiserver_request_total', [
    /verb="(POST|PUT|PATCH|DELETE)"/,
    /resource="(persistentvolumes|persistentvolumeclaims|events)"/,
  ]);
}

async function reconciles(op: OperatorProcess): Promise<number> {
  return sumSeries(await op.metrics(), 'controller_runtime_reconcile_total', [
    /controller="persistentvolume-binder"/,
  ]);
}

function volume(i: number): V1PersistentVolume {
  return {
    metadata: { name: `v${String(i)}`, labels: { bench: 'memory', zone: `z${String(i % 3)}` } },
    spec: {
      capacity: { storage: `${String(1 + (i % 7))}Gi` },
      accessModes: ['ReadWriteOnce'],
      storageClassName: sc,
      persistentVolumeReclaimPolicy: 'Retain',
      hostPath: { path: `/data/v${String(i)}` },
    },
  };
}

function claim(i: number, volumeName?: string): V1PersistentVolumeClaim {
  return {
    metadata: {
      name: `c${String(i)}`,
      namespace: ns,
      ...(volumeName ? { annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } } : {}),
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      storageClassName: sc,
      resources: { requests: { storage: '1Gi' } },
      ...(volumeName ? { volumeName } : {}),
    },
  };
}

const runtime = await operatorRuntime(process.env, operatorDir);

async function startOperator(cluster: LocalCluster): Promise<OperatorProcess> {
  return OperatorProcess.start({
    kubeconfig: cluster.kubeconfig,
    repoRoot: operatorDir,
    ...(runtime.script ? { script: runtime.script } : {}),
    nodeArgs: [
      ...runtime.nodeArgs,
      ...(snapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshotDir}`] : []),
    ],
    args: ['--log-level', 'info', '--resync-period', `${String(resyncSeconds)}s`],
    readyTimeoutMs: 600_000,
  });
}

/** Waits two resync periods; returns the API writes and volume reconciles in them. */
async function twoResyncs(cluster: LocalCluster, op: OperatorProcess): Promise<string> {
  const w0 = await apiWrites(cluster);
  const r0 = await reconciles(op);
  await sleep((2 * resyncSeconds + 2) * 1000);
  const writes = (await apiWrites(cluster)) - w0;
  const recs = (await reconciles(op)) - r0;
  return `${String(writes)} API writes, ${String(recs)} volume reconciles`;
}

// Resident memory over the whole run, every half second, for the chart; a series per operator process.
const overTime: { name: string; points: [number, number][] }[] = [];
let sampled: { op: OperatorProcess; points: [number, number][] } | undefined;
const benchStart = performance.now();
const sampler = setInterval(() => {
  if (!sampled?.op.running) return;
  try {
    sampled.points.push([(performance.now() - benchStart) / 1000, MiB(procStatus(sampled.op.pid, 'VmRSS'))]);
  } catch {
    // The process ended between the check and the read.
  }
}, 500);
sampler.unref();

function sample(op: OperatorProcess, name: string): void {
  sampled = { op, points: [] };
  overTime.push({ name, points: sampled.points });
}

async function main(): Promise<Point[]> {
  const points: Point[] = [];
  const cluster = await LocalCluster.start({ dir: join(dir, 'cluster'), tieToParent: true });
  mkdirSync(snapshotDir, { recursive: true });
  let op: OperatorProcess | undefined;
  try {
    await installCrds(cluster.kubectl, cluster.kubeconfig);
    const kc = cluster.kubeConfig();
    // The operator's clients, whose connections are kept (client-node's make one per request).
    const core = new ApiClients(kc, { timeoutMs: 60_000 }).make(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const indices = Array.from({ length: volumes }, (_, i) => i);
    process.stderr.write(`creating ${String(volumes)} Available volumes...\n`);
    await pool(indices, 48, async (i) => {
      const v = await core.createPersistentVolume({ body: volume(i) });
      await core.replacePersistentVolumeStatus({
        name: v.metadata?.name ?? '',
        body: { ...v, status: { phase: 'Available' } },
      });
    });

    process.stderr.write(`starting the operator from ${operatorDir}...\n`);
    let t = performance.now();
    op = await startOperator(cluster);
    sample(op, `${String(volumes)} Available volumes (binds ${String(binds)}, then resyncs)`);
    const syncSeconds = (performance.now() - t) / 1000;
    await sleep(3000);
    points.push(
      await measure(op, `${String(volumes)} Available: after sync`, `ready in ${syncSeconds.toFixed(1)} s`),
    );

    // Claims one at a time, each waited for until Bound.
    const boundAt = new Map<string, number>();
    let waiting: { name: string; resolve: () => void } | undefined;
    const claims = new Informer<V1PersistentVolumeClaim>({
      name: 'bench-claims',
      kubeConfig: kc,
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      list: () => core.listNamespacedPersistentVolumeClaim({ namespace: ns }),
    });
    const seen = (c: V1PersistentVolumeClaim) => {
      const name = c.metadata?.name ?? '';
      if (c.status?.phase !== 'Bound' || boundAt.has(name)) return;
      boundAt.set(name, performance.now());
      if (waiting?.name === name) waiting.resolve();
    };
    claims.on({
      add: seen,
      update: (_o, c) => {
        seen(c);
      },
    });
    claims.start();
    await claims.waitForSync();
    const latencies: number[] = [];
    for (let i = 0; i < binds; i++) {
      const name = `c${String(i)}`;
      const bound = new Promise<void>((r) => (waiting = { name, resolve: r }));
      t = performance.now();
      await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim(i) });
      await Promise.race([bound, sleep(60_000)]);
      latencies.push((boundAt.get(name) ?? NaN) - t);
    }
    await claims.stop();
    latencies.sort((a, b) => a - b);
    const pct = (p: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
    points.push(
      await measure(
        op,
        `after ${String(binds)} binds`,
        `claim -> Bound p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms`,
      ),
    );
    const note = await twoResyncs(cluster, op);
    points.push(await measure(op, 'after two resyncs', note));

    process.stderr.write('stopping the operator; binding the other volumes to claims...\n');
    await op.stop();
    op = undefined;
    await pool(indices.slice(binds), 48, async (i) => {
      const name = `v${String(i)}`;
      const c = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim(i, name) });
      const v = await core.readPersistentVolume({ name });
      const ref = {
        kind: 'PersistentVolumeClaim',
        apiVersion: 'v1',
        namespace: ns,
        name: c.metadata?.name,
        uid: c.metadata?.uid,
        resourceVersion: c.metadata?.resourceVersion,
      };
      const withRef = await core.replacePersistentVolume({
        name,
        body: { ...v, spec: { ...v.spec, claimRef: ref } },
      });
      await core.replacePersistentVolumeStatus({ name, body: { ...withRef, status: { phase: 'Bound' } } });
      await core.replaceNamespacedPersistentVolumeClaimStatus({
        name: c.metadata?.name ?? '',
        namespace: ns,
        body: {
          ...c,
          status: { phase: 'Bound', accessModes: v.spec?.accessModes, capacity: v.spec?.capacity },
        },
      });
    });
    t = performance.now();
    op = await startOperator(cluster);
    sample(op, `${String(volumes)} bound volumes and claims (restarted, then resyncs)`);
    const sync2 = (performance.now() - t) / 1000;
    await sleep(3000);
    points.push(
      await measure(
        op,
        `${String(volumes)} Bound, ${String(volumes)} claims: after sync`,
        `ready in ${sync2.toFixed(1)} s`,
      ),
    );
    points.push(await measure(op, 'after two resyncs', await twoResyncs(cluster, op)));
    return points;
  } finally {
    await op?.stop();
    await cluster.stop();
  }
}

const points = await main();
clearInterval(sampler);
const plotPath = join(
  process.env.PLOTS_DIR ?? join(repoRoot, 'bench', 'plots'),
  `memory-${String(volumes)}.svg`,
);
await writeLineChart(plotPath, {
  title: `Operator resident memory, ${String(volumes)} volumes`,
  x: 'seconds since the bench began',
  y: 'RSS (MiB)',
  series: overTime,
});
console.log(`\nplot: ${plotPath}`);
console.log(`\noperator memory (${operatorDir}, ${runtime.describe}; resync ${String(resyncSeconds)} s)\n`);
console.log('| state | RSS | peak RSS | heap used | heap total | external | notes |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const p of points) {
  const f = (x: number) => `${x.toFixed(0)} MiB`;
  console.log(
    `| ${p.state} | ${f(p.rssMiB)} | ${f(p.hwmMiB)} | ${f(p.heapUsedMiB)} | ${f(p.heapTotalMiB)} | ${f(p.externalMiB)} | ${p.note} |`,
  );
}
