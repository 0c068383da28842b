// Steady state, one binder at a time: N Available volumes, then claims created
// one at a time (each waited for until Bound), then an idle window in which
// nothing changes, then N volumes with N bound claims. For the in-tree binder
// (kube-controller-manager unthrottled, --kube-api-qps and burst 5000; its
// memory is all of kcm) and for pv-lifecycle-operator it prints the binder's
// resident memory after each step, claim -> Bound latency, and what a resync
// that changes nothing costs: the API requests (writes above all) the API
// server served in the window (apiserver_request_total before and after) and
// the binder's CPU seconds (/proc/<pid>/stat).
//   make bench-steady [N=10000] [CLAIMS=100] [IDLE_SECONDS=35] [BOUND_STATE=1]
//                     [WORKERS=4] [BINDERS=in-tree,operator] [INTREE_QPS=5000, 0 for kcm's default 20]
// Both binders resync every 15 s by default (kcm's --pvclaimbinder-sync-period,
// the operator's --resync-period), so the default idle window holds two resyncs.
// It asserts nothing about speed.
import { CoreV1Api } from '@kubernetes/client-node';
import PQueue from 'p-queue';

import { isWrite, onlyWrites, requestsBetween, total, verbOf } from './support/api-requests.ts';
import { type BinderName, binderLabel, bindersFromEnv, intFromEnv, startBinder } from './support/binders.ts';
import { scrapeApiServer } from './support/cluster-probe.ts';
import { benchClaim, benchVolume } from './support/objects.ts';
import { cpuSnapshot, cpuSpent, memory } from './support/proc.ts';
import { duration, markdownTable, mib, perBind, percentile, seconds } from './support/table.ts';
import { watchAvailableVolumes, watchBoundClaims } from './support/watch.ts';

const volumes = intFromEnv('N', 10_000, 1, 200_000);
const claimCount = Math.min(volumes, intFromEnv('CLAIMS', 100, 1, 100_000));
const idleSeconds = intFromEnv('IDLE_SECONDS', 35, 0, 3600);
const settleMs = intFromEnv('SETTLE_SECONDS', 5, 0, 600) * 1000;
const boundState = intFromEnv('BOUND_STATE', 1, 0, 1) === 1;
const workers = String(intFromEnv('WORKERS', 4, 1, 256));
const inTreeQpsSetting = intFromEnv('INTREE_QPS', 5000, 0, 100_000);
const inTreeQps = inTreeQpsSetting === 0 ? undefined : inTreeQpsSetting;
const claimTimeoutMs = intFromEnv('CLAIM_TIMEOUT_SECONDS', 60, 1, 3600) * 1000;
const timeoutMs = intFromEnv('TIMEOUT_SECONDS', 1800, 1, 86_400) * 1000;
const createConcurrency = intFromEnv('CREATE_CONCURRENCY', 100, 1, 10_000);
const binders = bindersFromEnv(process.env.BINDERS);
const storageClass = 'steady';
const ns = 'steady';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (line: string) => process.stderr.write(`  ${line}\n`);

interface SteadyResult {
  binder: BinderName;
  rssEmptyKiB: number;
  available: number;
  rssAfterSyncKiB: number;
  latencies: number[];
  rssAfterBindsKiB: number;
  idleRequests: Map<string, number>;
  idleBinderCpu: number;
  /** With N volumes and N bound claims; undefined when BOUND_STATE=0. */
  full?: { bound: number; seconds: number; rssKiB: number };
  peakRssKiB: number;
}

/** Creates objects with at most createConcurrency requests in flight. */
async function createAll(n: number, from: number, create: (i: number) => Promise<unknown>): Promise<void> {
  const queue = new PQueue({ concurrency: createConcurrency });
  for (let i = from; i < n; i++) void queue.add(() => create(i));
  await queue.onIdle();
}

async function steady(binder: BinderName): Promise<SteadyResult> {
  const run = await startBinder(binder, 'bench-steady', { inTreeQps, operatorArgs: ['--workers', workers] });
  try {
    const kc = run.cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const rss = () => memory(run.binderPid).rssKiB;
    const rssEmptyKiB = rss();

    // N volumes, made Available by the binder.
    const available = watchAvailableVolumes(kc);
    await available.start();
    await createAll(volumes, 0, (i) => core.createPersistentVolume({ body: benchVolume(i, storageClass) }));
    await available.untilCount(volumes, timeoutMs);
    say(`${String(available.reachedAt.size)}/${String(volumes)} volumes Available`);
    await available.stop();
    await sleep(settleMs);
    const rssAfterSyncKiB = rss();

    // Claims one at a time, each waited for.
    const claims = watchBoundClaims(kc, ns);
    await claims.start();
    const latencies: number[] = [];
    for (let i = 0; i < claimCount; i++) {
      // From the moment the create is sent: the watch may report the claim Bound
      // before the create's own response has been read.
      const sent = performance.now();
      const created = await core.createNamespacedPersistentVolumeClaim({
        namespace: ns,
        body: benchClaim(i, storageClass, ns),
      });
      const name = created.metadata?.name ?? '';
      if (await claims.untilName(name, claimTimeoutMs)) {
        latencies.push(((claims.reachedAt.get(name) ?? NaN) - sent) / 1000);
      }
    }
    say(`${String(latencies.length)}/${String(claimCount)} claims Bound one at a time`);
    await sleep(settleMs);
    const rssAfterBindsKiB = rss();

    // Nothing changes: what do resyncs cost? The bench's claim watch stays open
    // (it makes no requests while nothing changes).
    const metricsBefore = await scrapeApiServer(kc);
    const cpuBefore = cpuSnapshot({ binder: run.binderPid });
    await sleep(idleSeconds * 1000);
    const idleBinderCpu = cpuSpent(cpuBefore, cpuSnapshot({ binder: run.binderPid })).binder ?? NaN;
    const idleRequests = requestsBetween(metricsBefore, await scrapeApiServer(kc));
    say(`idle ${String(idleSeconds)} s: ${String(total(onlyWrites(idleRequests)))} API writes`);

    let full: SteadyResult['full'];
    if (boundState) {
      const started = performance.now();
      await createAll(volumes, claimCount, (i) =>
        core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: benchClaim(i, storageClass, ns) }),
      );
      await claims.untilCount(volumes, timeoutMs);
      const bindSeconds = (performance.now() - started) / 1000;
      say(`${String(claims.reachedAt.size)}/${String(volumes)} claims Bound`);
      await sleep(settleMs);
      full = { bound: claims.reachedAt.size, seconds: bindSeconds, rssKiB: rss() };
    }
    await claims.stop();
    return {
      binder,
      rssEmptyKiB,
      available: available.reachedAt.size,
      rssAfterSyncKiB,
      latencies,
      rssAfterBindsKiB,
      idleRequests,
      idleBinderCpu,
      full,
      peakRssKiB: memory(run.binderPid).peakRssKiB,
    };
  } finally {
    await run.stop();
  }
}

const results: SteadyResult[] = [];
for (const binder of binders) {
  process.stderr.write(`steady state of ${String(volumes)} volumes with the ${binder} binder...\n`);
  results.push(await steady(binder));
}

const label = (b: BinderName) =>
  b === 'operator' ? `${binderLabel(b, inTreeQps)}, ${workers} workers` : binderLabel(b, inTreeQps);
const N = String(volumes);
const C = String(claimCount);

console.log(
  `\n## Steady state: ${N} Available volumes, ${C} claims created one at a time\n\n` +
    `Resident memory (VmRSS) of the binder's process, ${String(settleMs / 1000)} s after each step;` +
    ` latency from sending a claim's create until the bench's watch sees it Bound.\n`,
);
console.log(
  markdownTable(
    [
      'binder',
      'RSS empty',
      `RSS after sync (${N} Available)`,
      `RSS after ${C} binds`,
      'p50 claim → Bound',
      'p99',
      'Bound',
    ],
    results.map((r) => [
      label(r.binder),
      mib(r.rssEmptyKiB),
      mib(r.rssAfterSyncKiB),
      mib(r.rssAfterBindsKiB),
      duration(percentile(r.latencies, 50)),
      duration(percentile(r.latencies, 99)),
      `${String(r.latencies.length)}/${C}`,
    ]),
  ),
);

const binderResources = new Set(['persistentvolumes', 'persistentvolumeclaims', 'events']);
const onBinderResources = (requests: Map<string, number>) =>
  total(
    new Map(
      [...requests].filter(([k]) => binderResources.has(k.slice(k.indexOf(' ') + 1).split('/')[0] ?? '')),
    ),
  );

console.log(
  `\n## Idle: ${String(idleSeconds)} s in which nothing changes\n\nAPI requests from apiserver_request_total over the` +
    ` window, from every client (kwok's node heartbeats and the other controllers included); writes are every verb` +
    ` but GET, LIST and WATCH.\n`,
);
console.log(
  markdownTable(
    ['binder', 'API writes', 'writes to volumes, claims, events', 'API requests', 'binder CPU'],
    results.map((r) => [
      label(r.binder),
      String(total(onlyWrites(r.idleRequests))),
      String(onBinderResources(onlyWrites(r.idleRequests))),
      String(total(r.idleRequests)),
      seconds(r.idleBinderCpu),
    ]),
  ),
);
const keys = [...new Set(results.flatMap((r) => [...r.idleRequests.keys()]))].sort();
console.log('\n### Requests in the idle window by verb and resource\n');
console.log(
  markdownTable(
    ['verb resource', 'write', ...results.map((r) => label(r.binder))],
    keys.map((k) => [
      k,
      isWrite(verbOf(k)) ? 'yes' : '',
      ...results.map((r) => perBind(r.idleRequests.get(k) ?? 0)),
    ]),
  ),
);

if (boundState) {
  console.log(`\n## ${N} volumes and ${N} bound claims\n`);
  console.log(
    markdownTable(
      [
        'binder',
        `time to bind the other ${String(volumes - claimCount)}`,
        'Bound',
        'RSS',
        'peak RSS (whole run)',
      ],
      results.map((r) => [
        label(r.binder),
        seconds(r.full?.seconds),
        `${String(r.full?.bound ?? 0)}/${N}`,
        mib(r.full?.rssKiB),
        mib(r.peakRssKiB),
      ]),
    ),
  );
}
