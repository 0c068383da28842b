// A binding storm, side by side: the in-tree PV binder of kube-controller-
// manager (unthrottled: --kube-api-qps and burst 5000) against
// pv-lifecycle-operator, each on a fresh local control plane, in one run.
// N volumes and N claims are created at once (at most CREATE_CONCURRENCY
// requests in flight); a watch on claims records when each is first seen Bound.
// Over the storm it measures the CPU seconds of the binder's process (all of
// kube-controller-manager for the in-tree binder), kube-apiserver and etcd
// (/proc/<pid>/stat), the binder's peak resident memory, and the requests the
// API server served by verb and resource (apiserver_request_total before and
// after, the bench's own creates taken out).
//   make bench-storm [COUNTS=300,1000] [WORKERS=4] [BINDERS=in-tree,operator]
//                    [INTREE_QPS=5000, 0 for kcm's default 20]
//                    [TIMEOUT_SECONDS: how long a storm may take to bind, default
//                     600 or 0.3 s a claim, whichever is longer (a 10,000 storm: 50 min)]
// NODE_OPTIONS reaches the operator process (e.g. the Deployment's
// --max-old-space-size=384). It asserts nothing about speed.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CoreV1Api } from '@kubernetes/client-node';
import PQueue from 'p-queue';

import { compareRequestKeys, minus, onlyWrites, requestsBetween, total } from './support/api-requests.ts';
import { type BinderName, binderLabel, bindersFromEnv, intFromEnv, startBinder } from './support/binders.ts';
import { scrapeApiServer } from './support/cluster-probe.ts';
import { benchClaim, benchVolume } from './support/objects.ts';
import { cpuSnapshot, cpuSpent, memory } from './support/proc.ts';
import { duration, markdownTable, mib, millis, perBind, percentile, seconds } from './support/table.ts';
import { watchBoundClaims } from './support/watch.ts';
import { cumulative, writeLineChart } from './support/plot.ts';

const counts = (process.env.COUNTS ?? '300,1000').split(',').map((c) => {
  if (!/^\d{1,6}$/.test(c.trim()) || Number(c) < 1 || Number(c) > 100_000) {
    throw new Error(`COUNTS takes whole numbers from 1 to 100000, comma-separated: ${c.slice(0, 40)}`);
  }
  return Number(c);
});
const workers = String(intFromEnv('WORKERS', 4, 1, 256));
const inTreeQpsSetting = intFromEnv('INTREE_QPS', 5000, 0, 100_000);
const inTreeQps = inTreeQpsSetting === 0 ? undefined : inTreeQpsSetting;
const timeoutSetting = intFromEnv('TIMEOUT_SECONDS', 0, 0, 86_400);
const timeoutMs = (count: number) => (timeoutSetting || Math.max(600, Math.ceil(0.3 * count))) * 1000;
const createConcurrency = intFromEnv('CREATE_CONCURRENCY', 200, 1, 10_000);
const binders = bindersFromEnv(process.env.BINDERS);

interface StormResult {
  binder: BinderName;
  count: number;
  bound: number;
  allBoundSeconds: number;
  p50: number;
  p99: number;
  /** CPU seconds over the storm, by process. */
  cpu: Record<string, number>;
  peakRssKiB: number;
  /** Requests the API server served during the storm but the bench's own creates. */
  requests: Map<string, number>;
  /** Each claim's seconds from its create to Bound. */
  latencies: number[];
}

async function storm(binder: BinderName, count: number): Promise<StormResult> {
  const run = await startBinder(binder, 'bench-storm', { inTreeQps, operatorArgs: ['--workers', workers] });
  try {
    const kc = run.cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const ns = 'storm';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const claims = watchBoundClaims(kc, ns);
    await claims.start();

    const metricsBefore = await scrapeApiServer(kc);
    const cpuBefore = cpuSnapshot(run.pids);
    const started = performance.now();
    const createdAt = new Map<string, number>();
    const queue = new PQueue({ concurrency: createConcurrency });
    for (let i = 0; i < count; i++) {
      void queue.add(() => core.createPersistentVolume({ body: benchVolume(i, 'storm') }));
      // Latency counts from the moment the create is sent: the watch may report a
      // claim Bound before the create's own response has been read.
      void queue.add(() => {
        const claim = benchClaim(i, 'storm', ns);
        createdAt.set(claim.metadata?.name ?? '', performance.now());
        return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: claim });
      });
    }
    await queue.onIdle();
    await claims.untilCount(count, timeoutMs(count));
    const end = performance.now();
    const cpu = cpuSpent(cpuBefore, cpuSnapshot(run.pids));
    const metricsAfter = await scrapeApiServer(kc);
    const peakRssKiB = memory(run.binderPid).peakRssKiB;
    await claims.stop();

    const own = new Map([
      ['POST persistentvolumes', count],
      ['POST persistentvolumeclaims', count],
    ]);
    const latencies = [...claims.reachedAt].map(
      ([name, at]) => (at - (createdAt.get(name) ?? started)) / 1000,
    );
    return {
      binder,
      count,
      bound: claims.reachedAt.size,
      allBoundSeconds: (end - started) / 1000,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      cpu,
      peakRssKiB,
      requests: minus(requestsBetween(metricsBefore, metricsAfter), own),
      latencies,
    };
  } finally {
    await run.stop();
  }
}

const results: StormResult[] = [];
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

const label = (b: BinderName) =>
  b === 'operator' ? `${binderLabel(b, inTreeQps)}, ${workers} workers` : binderLabel(b, inTreeQps);
const cpuCell = (r: StormResult, p: string) => seconds(r.cpu[p]);

console.log(
  `\n## Binding storm\n\nLatency is from sending a claim's create until the bench's watch sees it Bound; CPU seconds are` +
    ` over the storm (from /proc/<pid>/stat). The in-tree binder's CPU and memory are all of kube-controller-manager;` +
    ` kcm CPU is the controller manager's in either run (beside the operator it runs every controller but the binder).\n`,
);
console.log(
  markdownTable(
    [
      'claims',
      'binder',
      'Bound',
      'all Bound',
      'p50',
      'p99',
      'binder CPU',
      'apiserver CPU',
      'etcd CPU',
      'binder peak RSS',
      'kcm CPU',
    ],
    results.map((r) => [
      String(r.count),
      label(r.binder),
      `${String(r.bound)}/${String(r.count)}`,
      seconds(r.allBoundSeconds),
      duration(r.p50),
      duration(r.p99),
      cpuCell(r, 'binder'),
      cpuCell(r, 'apiserver'),
      cpuCell(r, 'etcd'),
      mib(r.peakRssKiB),
      cpuCell(r, 'kcm'),
    ]),
  ),
);

const per = (r: StormResult, x: number) => (r.bound > 0 ? x / r.bound : NaN);
console.log('\n### Per bind\n');
console.log(
  markdownTable(
    ['claims', 'binder', 'binder CPU', 'apiserver CPU', 'etcd CPU', 'API requests', 'API writes'],
    results.map((r) => [
      String(r.count),
      label(r.binder),
      millis(per(r, r.cpu.binder ?? NaN)),
      millis(per(r, r.cpu.apiserver ?? NaN)),
      millis(per(r, r.cpu.etcd ?? NaN)),
      perBind(per(r, total(r.requests))),
      perBind(per(r, total(onlyWrites(r.requests)))),
    ]),
  ),
);

// The latency distributions side by side, one chart per storm size (PLOTS_DIR, default bench/plots).
const plotsDir = process.env.PLOTS_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'plots');
for (const count of counts) {
  const path = join(plotsDir, `storm-${String(count)}.svg`);
  await writeLineChart(path, {
    title: `Binding storm of ${String(count)} claims: share Bound by latency`,
    x: "seconds from the claim's create to Bound",
    y: 'share of claims Bound',
    step: true,
    series: results
      .filter((r) => r.count === count)
      .map((r) => ({ name: label(r.binder), points: cumulative(r.latencies) })),
  });
  console.log(`\nplot: ${path}`);
}

// Requests by verb and resource, one column per binder, one table per storm size.
for (const count of counts) {
  const row = results.filter((r) => r.count === count);
  const keys = [...new Set(row.flatMap((r) => [...r.requests.keys()]))].sort(compareRequestKeys);
  console.log(
    `\n### API requests per bind, storm of ${String(count)}\n\nFrom apiserver_request_total over the storm,` +
      ` divided by the claims Bound; the bench's own creates (one volume and one claim per bind) are taken out.` +
      ` Everything else on the control plane (other controllers, kwok's node heartbeats, the bench's watch) is in.\n`,
  );
  console.log(
    markdownTable(
      ['verb resource', ...row.map((r) => label(r.binder))],
      [
        ...keys.map((k) => [k, ...row.map((r) => perBind(per(r, r.requests.get(k) ?? 0)))]),
        ['all writes', ...row.map((r) => perBind(per(r, total(onlyWrites(r.requests)))))],
        ['all requests', ...row.map((r) => perBind(per(r, total(r.requests))))],
      ],
    ),
  );
}
