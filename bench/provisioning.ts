// Dynamic provisioning against nfs-ganesha, beside its two references, in one
// run on one local control plane and one ganesha on 127.0.0.1:
//   1. a StorageClass of pvlifecycle.io/nfs and N claims created at once
//      (created → Bound), then all N deleted at once (deleted → the directory
//      gone from the server's disk, polled; and → the claim and the volume
//      objects gone, watched);
//   2. today's path: N NfsExports declared beforehand and N claims bound to
//      their volumes (created → Bound);
//   3. the user-space NFSv4 client's own rate against the same server.
// The operator runs compiled with the Deployment's node flags (operator-build.ts),
// a fresh process for each of parts 1 and 2, so its peak RSS is the part's own.
//   make bench-provision [N=1000] [WORKERS: the operator's --workers, default its own 4]
//                        [TIMEOUT_SECONDS: per phase, default 600 or 0.5 s a claim]
//                        [KCM_QPS: kube-controller-manager's client rate, default its own 20;
//                         its pvc-protection controller removes each deleted claim's finalizer]
// It asserts nothing about speed.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  makeInformer,
} from '@kubernetes/client-node';
import PQueue from 'p-queue';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { closedPort } from '../test/support/fake-rpc-server.ts';
import { installCrds } from '../test/support/kubectl.ts';
import type { OperatorProcess } from '../test/support/operator-process.ts';
import { intFromEnv, startBenchOperator } from './support/binders.ts';
import { compareRequestKeys, minus, onlyWrites, requestsBetween, total } from './support/api-requests.ts';
import { componentPid, scrapeApiServer } from './support/cluster-probe.ts';
import { type Ganesha, startGanesha } from './support/ganesha.ts';
import { type RateRow, clientRates } from './support/nfs-client-rate.ts';
import { cpuSnapshot, cpuSpent, memory } from './support/proc.ts';
import { duration, markdownTable, mib, millis, perBind, percentile, seconds } from './support/table.ts';
import { watchAvailableVolumes, watchBoundClaims } from './support/watch.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const count = intFromEnv('N', 1000, 1, 100_000);
/** The operator's own --workers default (src/cli.ts); WORKERS passes another. */
const workers = intFromEnv('WORKERS', 4, 1, 256);
const workerArgs = process.env.WORKERS ? ['--workers', String(workers)] : [];
const timeoutSetting = intFromEnv('TIMEOUT_SECONDS', 0, 0, 86_400);
const timeoutMs = (timeoutSetting || Math.max(600, Math.ceil(0.5 * count))) * 1000;
const createConcurrency = 200;
const kcmQpsSetting = intFromEnv('KCM_QPS', 0, 0, 100_000);
/** kube-controller-manager's --kube-api-qps and burst; undefined keeps its default (20). */
const kcmQps = kcmQpsSetting === 0 ? undefined : kcmQpsSetting;
/** Every filledEvery-th directory gets files before the delete: 20 files and a subdirectory of 10. */
const filledEvery = 10;
const filesPerDir = 20;
const filesInSub = 10;
const provisioner = 'pvlifecycle.io/nfs';

interface Phase {
  done: number;
  seconds: number;
  latencies: number[];
  cpu: Record<string, number>;
  /** Requests the API server served over the phase, the bench's own creates or deletes of claims taken out. */
  requests: Map<string, number>;
}

/** How long until some other object was gone after its claim's delete. */
interface GoneRow {
  until: string;
  done: number;
  seconds: number;
  latencies: number[];
}

interface PartResult {
  label: string;
  bind: Phase;
  peakRssKiB: number;
  /** Part 1 only. */
  remove?: Phase & { also: GoneRow[] };
  /** Part 1 only: the Events on the claims once all were Bound, by reason. */
  claimEvents?: Map<string, number>;
  /** Part 2 only: declaring the exports until their volumes were Available. */
  setupSeconds?: number;
}

const nfsPort = await closedPort();
const ganeshaStart = await startGanesha(join(repoRoot, '.cluster', 'bench-provision-nfs'), nfsPort);
if ('unavailable' in ganeshaStart) {
  console.log(
    `bench-provision: no NFS server on this machine, nothing measured: ${ganeshaStart.unavailable}`,
  );
  process.exit(0);
}
const ganesha: Ganesha = ganeshaStart;
let cluster: LocalCluster;
try {
  cluster = await LocalCluster.start({
    dir: join(repoRoot, '.cluster', 'bench-provision'),
    controllerManagerQps: kcmQps,
    tieToParent: true,
  });
  // The operator is ready only once its NfsExport informer syncs too.
  await installCrds(cluster.kubectl, cluster.kubeconfig);
} catch (err) {
  await ganesha.stop();
  throw err;
}

const kc = cluster.kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const storage = kc.makeApiClient(StorageV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const eventsApi = kc.makeApiClient(EventsV1Api);
// No portmapper answers on a closed port, so probes say Reachable without checking the path (NFSv4 only).
const operatorArgs = [
  ...workerArgs,
  '--nfs-port',
  String(nfsPort),
  '--portmapper-port',
  String(await closedPort()),
];

function pidsOf(operator: OperatorProcess): Record<string, number> {
  return {
    operator: operator.pid,
    apiserver: componentPid(cluster, 'kube-apiserver'),
    etcd: componentPid(cluster, 'etcd'),
    ganesha: ganesha.pid,
  };
}

/** Creates count objects, at most createConcurrency requests in flight; sentAt[i] when each was sent. */
async function createAll(make: (i: number) => Promise<unknown>): Promise<number[]> {
  const sentAt: number[] = [];
  const queue = new PQueue({ concurrency: createConcurrency });
  for (let i = 0; i < count; i++) {
    void queue.add(() => {
      sentAt[i] = performance.now();
      return make(i);
    });
  }
  await queue.onIdle();
  return sentAt;
}

function claimBody(name: string, storageClassName: string): V1PersistentVolumeClaim {
  return {
    metadata: { name },
    spec: { storageClassName, accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } } },
  };
}

/** Creates the claims and waits until all are Bound (or the timeout): created → Bound. */
async function bindClaims(ns: string, storageClass: string, operator: OperatorProcess): Promise<Phase> {
  const claims = watchBoundClaims(kc, ns);
  await claims.start();
  const metricsBefore = await scrapeApiServer(kc);
  const cpuBefore = cpuSnapshot(pidsOf(operator));
  const started = performance.now();
  const sentAt = await createAll((i) =>
    core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: claimBody(`c${String(i)}`, storageClass),
    }),
  );
  await claims.untilCount(count, timeoutMs);
  const end = performance.now();
  const cpu = cpuSpent(cpuBefore, cpuSnapshot(pidsOf(operator)));
  const requests = requestsBetween(metricsBefore, await scrapeApiServer(kc));
  await claims.stop();
  const latencies = [...claims.reachedAt].map(
    ([name, at]) => (at - (sentAt[Number(name.slice(1))] ?? started)) / 1000,
  );
  return {
    done: claims.reachedAt.size,
    seconds: (end - started) / 1000,
    latencies,
    cpu,
    requests: minus(requests, new Map([['POST persistentvolumeclaims', count]])),
  };
}

/** Plants files in every filledEvery-th directory, as a pod writing through a mount would. */
async function fill(dirs: string[]): Promise<number> {
  let entries = 0;
  for (const [i, dir] of dirs.entries()) {
    if (i % filledEvery !== 0) continue;
    const path = join(ganesha.exportDir, dir);
    for (let f = 0; f < filesPerDir; f++) await writeFile(join(path, `f${String(f)}`), 'x'.repeat(4096));
    await mkdir(join(path, 'sub'));
    for (let f = 0; f < filesInSub; f++) await writeFile(join(path, 'sub', `g${String(f)}`), 'y'.repeat(512));
    entries += filesPerDir + 1 + filesInSub;
  }
  return entries;
}

/**
 * Deletes every claim at once; times claim deleted → its directory gone from
 * disk, and (watches) → the claim object gone (kube-controller-manager's
 * pvc-protection removes its finalizer first) and → the volume object gone.
 */
async function deleteClaims(
  ns: string,
  dirOfClaim: Map<string, string>,
  volumeOfClaim: Map<string, string>,
  operator: OperatorProcess,
): Promise<NonNullable<PartResult['remove']>> {
  const volumeGoneAt = new Map<string, number>();
  const volumes = makeInformer<V1PersistentVolume>(kc, '/api/v1/persistentvolumes', () =>
    core.listPersistentVolume(),
  );
  volumes.on('delete', (v) => volumeGoneAt.set(v.metadata?.name ?? '', performance.now()));
  await volumes.start();
  const claimGoneAt = new Map<string, number>();
  const claims = makeInformer<V1PersistentVolumeClaim>(
    kc,
    `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
    () => core.listNamespacedPersistentVolumeClaim({ namespace: ns }),
  );
  claims.on('delete', (c) => claimGoneAt.set(c.metadata?.name ?? '', performance.now()));
  await claims.start();

  const pendingDirs = new Map([...dirOfClaim].map(([claim, dir]) => [dir, claim]));
  const dirGoneAt = new Map<string, number>();
  const deadline = performance.now() + timeoutMs;
  const metricsBefore = await scrapeApiServer(kc);
  const cpuBefore = cpuSnapshot(pidsOf(operator));
  const started = performance.now();
  // An object, so the loop below sees the change made in the promise's callback.
  const deleting = { sending: true };
  const sent = createAll((i) =>
    core.deleteNamespacedPersistentVolumeClaim({ name: `c${String(i)}`, namespace: ns }),
  ).finally(() => (deleting.sending = false));
  // One listing of the export's top directory every 20 ms tells which directories are gone.
  while ((pendingDirs.size > 0 || deleting.sending) && performance.now() < deadline) {
    const present = new Set(await readdir(ganesha.exportDir));
    const now = performance.now();
    for (const [dir, claim] of pendingDirs) {
      if (!present.has(dir)) {
        dirGoneAt.set(claim, now);
        pendingDirs.delete(dir);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const dirsEnd = performance.now();
  const sentAt = await sent;
  const volumeNames = new Set(volumeOfClaim.values());
  while ([...volumeNames].some((v) => !volumeGoneAt.has(v)) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const cpu = cpuSpent(cpuBefore, cpuSnapshot(pidsOf(operator)));
  const requests = requestsBetween(metricsBefore, await scrapeApiServer(kc));
  await volumes.stop();
  await claims.stop();
  const since = (claim: string, at: number) => (at - (sentAt[Number(claim.slice(1))] ?? started)) / 1000;
  const gone = (until: string, at: Map<string, number>, claimOf: (key: string) => string): GoneRow => ({
    until,
    done: at.size,
    seconds: ([...at.values()].reduce((a, b) => Math.max(a, b), started) - started) / 1000,
    latencies: [...at].map(([key, t]) => since(claimOf(key), t)),
  });
  const claimOfVolume = new Map([...volumeOfClaim].map(([c, v]) => [v, c]));
  const ownVolumes = new Map([...volumeGoneAt].filter(([v]) => claimOfVolume.has(v)));
  return {
    done: dirGoneAt.size,
    seconds: (dirsEnd - started) / 1000,
    latencies: [...dirGoneAt].map(([claim, at]) => since(claim, at)),
    cpu,
    requests: minus(requests, new Map([['DELETE persistentvolumeclaims', count]])),
    also: [
      gone('claim gone', claimGoneAt, (c) => c),
      gone('volume gone', ownVolumes, (v) => claimOfVolume.get(v) ?? ''),
    ],
  };
}

/** The Events on the namespace's claims by reason, once two listings 2 s apart agree (writes still queued land first). */
async function settledClaimEvents(ns: string): Promise<Map<string, number>> {
  const byReason = async () => {
    const out = new Map<string, number>();
    for (const e of (await eventsApi.listNamespacedEvent({ namespace: ns })).items) {
      if (e.regarding?.kind === 'PersistentVolumeClaim' && e.reason)
        out.set(e.reason, (out.get(e.reason) ?? 0) + 1);
    }
    return out;
  };
  let last = await byReason();
  for (let i = 0; i < 15; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const now = await byReason();
    if ([...now].every(([k, v]) => last.get(k) === v) && now.size === last.size) return now;
    last = now;
  }
  return last;
}

async function dynamicPart(): Promise<{ result: PartResult; filledEntries: number }> {
  const ns = 'dynamic';
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await storage.createStorageClass({
    body: {
      metadata: { name: 'nfs-bench' },
      provisioner,
      parameters: { server: '127.0.0.1', path: '/export' },
      reclaimPolicy: 'Delete',
    },
  });
  const operator = await startBenchOperator(cluster, 'bench-provision-dynamic', operatorArgs);
  try {
    process.stderr.write(`part 1: ${String(count)} claims of a pvlifecycle.io/nfs class...\n`);
    const bind = await bindClaims(ns, 'nfs-bench', operator);
    process.stderr.write(`  ${String(bind.done)}/${String(count)} Bound in ${bind.seconds.toFixed(1)} s\n`);
    // The operator's recorder drops new Events while 1,000 writes wait: this shows whether any were.
    const claimEvents = await settledClaimEvents(ns);
    const dirOfClaim = new Map<string, string>();
    const volumeOfClaim = new Map<string, string>();
    for (const v of (await core.listPersistentVolume()).items) {
      const claim = v.spec?.claimRef?.name;
      const dir = v.metadata?.annotations?.['pvlifecycle.io/nfs-directory'];
      if (v.spec?.claimRef?.namespace !== ns || !claim || !dir) continue;
      dirOfClaim.set(claim, dir);
      volumeOfClaim.set(claim, v.metadata?.name ?? '');
    }
    const onDisk = new Set(await readdir(ganesha.exportDir));
    const missing = [...dirOfClaim.values()].filter((d) => !onDisk.has(d));
    if (missing.length > 0)
      throw new Error(`${String(missing.length)} provisioned directories are not on the server's disk`);
    const filledEntries = await fill([...dirOfClaim.values()]);
    process.stderr.write(`part 1: deleting the ${String(count)} claims...\n`);
    const remove = await deleteClaims(ns, dirOfClaim, volumeOfClaim, operator);
    process.stderr.write(`  ${String(remove.done)} directories gone in ${remove.seconds.toFixed(1)} s\n`);
    return {
      result: {
        label: 'dynamic provisioning',
        bind,
        peakRssKiB: memory(operator.pid).peakRssKiB,
        remove,
        claimEvents,
      },
      filledEntries,
    };
  } finally {
    await operator.stop();
  }
}

async function staticPart(): Promise<PartResult> {
  const ns = 'static';
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await storage.createStorageClass({
    body: { metadata: { name: 'nfs-static' }, provisioner: 'kubernetes.io/no-provisioner' },
  });
  await mkdir(join(ganesha.exportDir, 'static'));
  for (let i = 0; i < count; i++) await mkdir(join(ganesha.exportDir, 'static', `e${String(i)}`));
  const operator = await startBenchOperator(cluster, 'bench-provision-static', operatorArgs);
  try {
    process.stderr.write(`part 2: ${String(count)} NfsExports, then ${String(count)} claims...\n`);
    const available = watchAvailableVolumes(kc);
    await available.start();
    const setupStarted = performance.now();
    await createAll((i) =>
      custom.createClusterCustomObject({
        group: 'pvlifecycle.io',
        version: 'v1alpha1',
        plural: 'nfsexports',
        body: {
          apiVersion: 'pvlifecycle.io/v1alpha1',
          kind: 'NfsExport',
          metadata: { name: `e${String(i)}` },
          spec: {
            server: '127.0.0.1',
            path: `/export/static/e${String(i)}`,
            capacity: '1Gi',
            accessModes: ['ReadWriteMany'],
            storageClassName: 'nfs-static',
          },
        },
      }),
    );
    const exportVolumes = () => [...available.reachedAt.keys()].filter((n) => n.startsWith('nfsx-')).length;
    await available.until(() => exportVolumes() >= count, timeoutMs);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    await available.stop();
    process.stderr.write(`  ${String(exportVolumes())} volumes Available in ${setupSeconds.toFixed(1)} s\n`);
    const bind = await bindClaims(ns, 'nfs-static', operator);
    process.stderr.write(`  ${String(bind.done)}/${String(count)} Bound in ${bind.seconds.toFixed(1)} s\n`);
    return {
      label: "NfsExports (today's path)",
      bind,
      peakRssKiB: memory(operator.pid).peakRssKiB,
      setupSeconds,
    };
  } finally {
    await operator.stop();
  }
}

let parts: PartResult[];
let filledEntries: number;
let rates: RateRow[];
try {
  const dynamic = await dynamicPart();
  filledEntries = dynamic.filledEntries;
  parts = [dynamic.result, await staticPart()];
  process.stderr.write(`part 3: the NFSv4 client's own rate, ${String(count)} calls each...\n`);
  rates = await clientRates({ port: nfsPort, count, workers, timeoutMs: 5_000 });
} finally {
  await ganesha.stop();
  await cluster.stop();
}

const perSecond = (n: number, s: number) => (s > 0 ? `${(n / s).toFixed(n / s < 100 ? 1 : 0)}/s` : '–');
const spread = (xs: number[]) => [50, 90, 99, 100].map((p) => duration(percentile(xs, p)));
const cpuCells = (p: Phase) => ['operator', 'apiserver', 'etcd', 'ganesha'].map((k) => seconds(p.cpu[k]));

console.log(
  `\n## Provisioning, ${String(count)} claims\n\nOne local control plane, one nfs-ganesha on 127.0.0.1, the operator` +
    ` compiled with the Deployment's node flags, ${String(workers)} workers, a fresh process per part.` +
    ` Latency is from sending a claim's create until the bench's watch sees it Bound; CPU seconds over the` +
    ` phase from /proc/<pid>/stat; peak RSS over the whole part.\n`,
);
console.log(
  markdownTable(
    [
      'path',
      'Bound',
      'all Bound',
      'volumes/s',
      'p50',
      'p90',
      'p99',
      'max',
      'operator CPU',
      'apiserver CPU',
      'etcd CPU',
      'ganesha CPU',
      'operator peak RSS',
    ],
    parts.map((r) => [
      r.label,
      `${String(r.bind.done)}/${String(count)}`,
      seconds(r.bind.seconds),
      perSecond(r.bind.done, r.bind.seconds),
      ...spread(r.bind.latencies),
      ...cpuCells(r.bind),
      mib(r.peakRssKiB),
    ]),
  ),
);
const setup = parts.find((r) => r.setupSeconds !== undefined)?.setupSeconds;
console.log(
  `\nToday's path: the ${String(count)} NfsExports had their volumes Available ${seconds(setup)} after they were sent, before any claim.`,
);

const claimEvents = parts.find((r) => r.claimEvents)?.claimEvents;
if (claimEvents) {
  const listed = [...claimEvents]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, n]) => `${reason} ${String(n)}`);
  console.log(
    `\nEvents on the ${String(count)} provisioned claims once all were Bound (each claim should have one of each): ${listed.join(', ') || 'none'}.`,
  );
}

const removal = parts.find((r) => r.remove)?.remove;
if (removal) {
  console.log(
    `\n### Deleting the ${String(count)} provisioned claims at once\n\nFrom sending a claim's delete until its directory` +
      ` is gone from the server's disk (a listing of the export every 20 ms); and until the claim object and the volume` +
      ` object are gone (watches: a claim goes once kube-controller-manager's pvc-protection controller removed its` +
      ` finalizer, ${kcmQps === undefined ? 'at its default 20 QPS' : `here at ${String(kcmQps)} QPS`}; only then is its volume Released).` +
      ` Before the delete, ${String(Math.ceil(count / filledEvery))} of the directories (every ${String(filledEvery)}th) got` +
      ` ${String(filesPerDir)} files of 4 KiB and a subdirectory of ${String(filesInSub)} files:` +
      ` ${String(filledEntries)} entries to remove besides the ${String(count)} directories.\n`,
  );
  console.log(
    markdownTable(
      [
        'until',
        'done',
        'all done',
        'per second',
        'p50',
        'p90',
        'p99',
        'max',
        'operator CPU',
        'apiserver CPU',
        'etcd CPU',
        'ganesha CPU',
      ],
      [
        [
          'directory gone',
          `${String(removal.done)}/${String(count)}`,
          seconds(removal.seconds),
          perSecond(removal.done, removal.seconds),
          ...spread(removal.latencies),
          ...cpuCells(removal),
        ],
        ...removal.also.map((g) => [
          g.until,
          `${String(g.done)}/${String(count)}`,
          seconds(g.seconds),
          perSecond(g.done, g.seconds),
          ...spread(g.latencies),
          '',
          '',
          '',
          '',
        ]),
      ],
    ),
  );
}

console.log(
  `\n### The user-space NFSv4 client against the same server\n\nThe limit provisioning can approach. makeDirectory and` +
    ` reclaimDirectory are the provisioner's own (src/provisioning/directories.ts), each opening and closing a` +
    ` connection, run one at a time and ${String(workers)} at a time as the operator's workers would.\n`,
);
console.log(
  markdownTable(
    ['call', 'calls', 'at once', 'per second', 'p50', 'p99', 'total'],
    rates.map((r) => [
      r.what,
      String(r.count),
      String(r.concurrency),
      perSecond(r.count, r.seconds),
      r.latencies.length ? millis(percentile(r.latencies, 50)) : '–',
      r.latencies.length ? millis(percentile(r.latencies, 99)) : '–',
      seconds(r.seconds),
    ]),
  ),
);

// Requests by verb and resource, per claim, one column per phase.
const phases: [string, Phase][] = [
  ...parts.map((r): [string, Phase] => [`${r.label}: to Bound`, r.bind]),
  ...(removal ? [['dynamic provisioning: delete', removal] as [string, Phase]] : []),
];
const keys = [...new Set(phases.flatMap(([, p]) => [...p.requests.keys()]))].sort(compareRequestKeys);
const perClaim = (n: number) => perBind(n / count);
console.log(
  `\n### API requests per claim\n\nFrom apiserver_request_total over each phase, divided by ${String(count)};` +
    ` the bench's own creates (or deletes) of the claims are taken out. Everything else on the control plane` +
    ` (kube-controller-manager, kwok's heartbeats, the bench's watches and /metrics scrapes) is in.\n`,
);
console.log(
  markdownTable(
    ['verb resource', ...phases.map(([label]) => label)],
    [
      ...keys.map((k) => [k, ...phases.map(([, p]) => perClaim(p.requests.get(k) ?? 0))]),
      ['all writes', ...phases.map(([, p]) => perClaim(total(onlyWrites(p.requests))))],
      ['all requests', ...phases.map(([, p]) => perClaim(total(p.requests)))],
    ],
  ),
);
