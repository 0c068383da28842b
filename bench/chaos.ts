// Chaos bench: repeated randomized runs, each on a fresh local control plane.
// A pool of Recycle and Retain hostPath volumes and Delete NfsExports; two
// operator replicas with leader election; a storm of claims created and
// deleted for a random while, during which the bench SIGKILLs the leading
// operator, restarts the kube-apiserver (SIGKILL, started again on its port)
// and pauses etcd (SIGSTOP for 1-5 s) at random moments. Then the faults and
// the storm stop and the bench waits until everything has settled.
//
// It watches claims, volumes, scrub Jobs and their pods for the whole run
// (bench/chaos/record.ts) and replays every event in revision order to check
// (bench/chaos/check.ts): never two claims Bound to one volume, nor a claim
// Bound to a volume whose claimRef names another; no scrub Job created while
// the released claim or the claim the volume names exists, nor for a Retain
// volume, nor a scrub pod running while the volume is bound; at the end no
// claim half-bound. It prints each run and a summary, and exits 1 on any
// violation, a run that does not settle, or a watch that missed something.
//   make bench-chaos [RUNS=20] [SEED=n] [CLAIMS=100] [VOLUMES=40] [STORM_SECONDS=15-30]
//                    [REPLICAS=2] [WORKERS=4] [CONVERGE_TIMEOUT_SECONDS=90]
// A run is repeated (as far as timing allows) with SEED=<its seed> RUNS=1.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { BatchV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { volumeNameFor } from '../src/nfs/export.ts';
import { apiFailure, apiMessage } from '../src/kube/api-errors.ts';
import { installCrds } from '../test/support/kubectl.ts';
import { pv, pvc } from '../test/support/objects.ts';
import { installOperatorIdentity } from '../test/support/operator-identity.ts';
import {
  type Kind,
  type KubeObject,
  type Pool,
  type Violation,
  type WatchEvent,
  World,
  convergenceProblems,
  halfBound,
  recordOf,
  replay,
  revisionOf,
} from './chaos/check.ts';
import { type Random, between, pick, seeded } from './chaos/random.ts';
import { Recorder } from './chaos/record.ts';
import { Replicas } from './chaos/replicas.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function knob(name: string, fallback: number, lo: number, hi: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < lo || n > hi) {
    throw new Error(`${name}=${text}: want a whole number from ${String(lo)} to ${String(hi)}`);
  }
  return n;
}

function range(name: string, fallback: [number, number], lo: number, hi: number): [number, number] {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const a = Number(m?.[1]);
  const b = Number(m?.[2] ?? m?.[1]);
  if (!m || a < lo || b > hi || a > b) {
    throw new Error(`${name}=${text}: want N or N-M seconds, from ${String(lo)} to ${String(hi)}`);
  }
  return [a, b];
}

const config = {
  runs: knob('RUNS', 20, 1, 1000),
  seed: knob('SEED', Date.now() % 1_000_000, 0, 2 ** 31 - 1),
  claims: knob('CLAIMS', 100, 1, 5000),
  volumes: knob('VOLUMES', 40, 3, 2000),
  storm: range('STORM_SECONDS', [15, 30], 1, 3600),
  replicas: knob('REPLICAS', 2, 1, 5),
  workers: knob('WORKERS', 4, 1, 64),
  convergeTimeoutMs: knob('CONVERGE_TIMEOUT_SECONDS', 90, 10, 3600) * 1000,
};

const claimNs = 'chaos';
const operatorNs = 'pv-lifecycle-system';
const storageClass = 'chaos';
const nfsApi = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };

type FaultKind = 'operator-kill' | 'apiserver-restart' | 'etcd-pause';
interface Fault {
  kind: FaultKind;
  startMs: number;
  endMs: number;
  detail: string;
}

interface RunResult {
  run: number;
  seed: number;
  stormMs: number;
  created: number;
  deleted: number;
  deletedUnbound: number;
  boundClaims: number;
  scrubJobs: Record<string, number>;
  faults: Fault[];
  selfExits: string[];
  reconnects: number;
  gaps: number;
  listedChanges: number;
  /** Claims at the end, all Bound once converged. */
  claimsLeft: number;
  unverified: string[];
  violations: Violation[];
  /** ms from the end of the last fault to convergence; undefined if it never settled. */
  convergedMs: number | undefined;
  afterStormMs: number | undefined;
  problems: string[];
  errors: string[];
  /** Where the replicas' logs and the run's events (events.json) are kept. */
  logDir: string;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const secs = (ms: number) => (ms / 1000).toFixed(1);

/**
 * Calls fn until it succeeds or fails for good. The apiserver may be down or
 * etcd paused: anything but a refusal is tried again. done names the outcomes
 * that count as success (a create that landed before its answer was lost).
 */
async function persist(
  what: string,
  fn: () => Promise<unknown>,
  done: string[],
  deadline: number,
): Promise<void> {
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      const failure = apiFailure(err);
      if (done.includes(failure)) return;
      if (failure === 'invalid') throw new Error(`${what}: refused: ${apiMessage(err)}`, { cause: err });
      if (performance.now() > deadline)
        throw new Error(`${what}: still failing: ${apiMessage(err)}`, { cause: err });
      await sleep(200);
    }
  }
}

/** A World built from the recorders' current view. */
function liveWorld(recorders: Recorder[]): World {
  const w = new World();
  for (const r of recorders) {
    for (const { rec, rv } of r.state.values())
      w.apply({ kind: r.kind, type: 'ADDED', rv, seq: 0, at: 0, rec });
  }
  return w;
}

interface Clients {
  core: CoreV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
}

function listers(
  c: Clients,
): Record<Kind, () => Promise<{ items: KubeObject[]; metadata?: { resourceVersion?: string } }>> {
  return {
    claim: () => c.core.listNamespacedPersistentVolumeClaim({ namespace: claimNs }),
    volume: () => c.core.listPersistentVolume(),
    job: () => c.batch.listNamespacedJob({ namespace: operatorNs }),
    pod: () => c.core.listNamespacedPod({ namespace: operatorNs }),
  };
}

const paths: Record<Kind, string> = {
  claim: `/api/v1/namespaces/${claimNs}/persistentvolumeclaims`,
  volume: '/api/v1/persistentvolumes',
  job: `/apis/batch/v1/namespaces/${operatorNs}/jobs`,
  pod: `/api/v1/namespaces/${operatorNs}/pods`,
};

/** Fresh lists of every watched kind, as a World, and each object's revision by uid. */
async function listedWorld(c: Clients): Promise<{ world: World; revisions: Map<string, number> }> {
  const world = new World();
  const revisions = new Map<string, number>();
  const l = listers(c);
  for (const kind of ['claim', 'volume', 'job', 'pod'] as const) {
    const list = await l[kind]();
    for (const item of list.items) {
      const rv = revisionOf(item);
      const rec = recordOf(kind, item);
      revisions.set(`${kind}/${rec.uid}`, rv);
      world.apply({ kind, type: 'ADDED', rv, seq: 0, at: 0, rec });
    }
  }
  return { world, revisions };
}

interface Storm {
  created: number;
  deleted: number;
  deletedUnbound: number;
}

/**
 * Creates and deletes claims until endAt: creations spread over the storm up
 * to the claim budget, never more live claims than volumes that can take them;
 * deletions mostly of claims seen Bound (releases), some of claims not yet
 * bound (a race with the binder).
 */
async function storm(
  r: Random,
  clients: Clients,
  recorders: Recorder[],
  pool: Pool,
  clock: () => number,
  endAt: number,
): Promise<Storm> {
  const live = new Set<string>();
  const s: Storm = { created: 0, deleted: 0, deletedUnbound: 0 };
  const stormStart = clock();
  const deadline = performance.now() + (endAt - clock()) + 120_000;
  const worker = async () => {
    while (clock() < endAt) {
      const w = liveWorld(recorders);
      const lostRetain = pool.retain.filter((n) => {
        const v = w.volumes.get(n);
        return v?.claimUid && !w.claims.has(v.claimUid);
      }).length;
      const capacity = pool.reusable.length + pool.retain.length - lostRetain - 1;
      const budget = Math.ceil(
        config.claims * Math.min(1, (clock() - stormStart + 2000) / (endAt - stormStart)),
      );
      const bound = [...live].filter((n) =>
        [...w.claims.values()].some((c) => c.name === `${claimNs}/${n}` && c.phase === 'Bound'),
      );
      const canCreate = s.created < budget && live.size < capacity;
      if (canCreate && (r() < 0.6 || bound.length === 0)) {
        const name = `c-${String(s.created++)}`;
        live.add(name);
        const body = pvc(name, { storageClass, namespace: claimNs, size: '1Gi' });
        delete body.metadata?.uid;
        await persist(
          `create claim ${name}`,
          () => clients.core.createNamespacedPersistentVolumeClaim({ namespace: claimNs, body }),
          ['alreadyExists'],
          deadline,
        );
      } else if (
        live.size > 0 &&
        (bound.length > 0 || r() < 0.15) &&
        (live.size > capacity / 3 || r() < 0.5)
      ) {
        const unbound = bound.length === 0 || r() < 0.15;
        const name = unbound ? pick(r, [...live]) : pick(r, bound);
        live.delete(name);
        s.deleted++;
        if (!bound.includes(name)) s.deletedUnbound++;
        await persist(
          `delete claim ${name}`,
          () => clients.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: claimNs }),
          ['notFound'],
          deadline,
        );
      }
      await sleep(between(r, 50, 250));
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return s;
}

/** Injects one fault at a time, at random moments, until endAt. */
async function faults(
  r: Random,
  cluster: LocalCluster,
  replicas: Replicas,
  clock: () => number,
  endAt: number,
): Promise<Fault[]> {
  const out: Fault[] = [];
  for (;;) {
    await sleep(between(r, 500, 5000));
    if (clock() >= endAt) return out;
    const kind = pick(r, ['operator-kill', 'apiserver-restart', 'etcd-pause'] as const);
    const f: Fault = { kind, startMs: clock(), endMs: 0, detail: '' };
    if (kind === 'operator-kill') {
      f.detail = await replicas.killLeader((n) => Math.floor(r() * n));
    } else if (kind === 'apiserver-restart') {
      await cluster.restartComponent('kube-apiserver');
      f.detail = `ready again after ${secs(clock() - f.startMs)} s`;
    } else {
      const ms = between(r, 1000, 5000);
      cluster.pauseComponent('etcd');
      try {
        await sleep(ms);
      } finally {
        cluster.resumeComponent('etcd');
      }
      f.detail = `${secs(ms)} s`;
    }
    f.endMs = clock();
    out.push(f);
  }
}

async function createPool(clients: Clients, deadline: number): Promise<Pool> {
  const nRetain = Math.max(1, Math.round(config.volumes * 0.1));
  const nDelete = Math.max(1, Math.round(config.volumes * 0.3));
  const nRecycle = Math.max(1, config.volumes - nRetain - nDelete);
  const pool: Pool = { reusable: [], retain: [] };
  const hostPath = async (name: string, policy: string) => {
    const body = pv(name, { storageClass, size: '1Gi', reclaimPolicy: policy });
    delete body.status;
    await persist(
      `create volume ${name}`,
      () => clients.core.createPersistentVolume({ body }),
      ['alreadyExists'],
      deadline,
    );
  };
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < nRecycle; i++) {
    pool.reusable.push(`recycle-${String(i)}`);
    jobs.push(hostPath(`recycle-${String(i)}`, 'Recycle'));
  }
  for (let i = 0; i < nRetain; i++) {
    pool.retain.push(`retain-${String(i)}`);
    jobs.push(hostPath(`retain-${String(i)}`, 'Retain'));
  }
  for (let i = 0; i < nDelete; i++) {
    const name = `delete-${String(i)}`;
    pool.reusable.push(volumeNameFor(name));
    const body = {
      apiVersion: 'pvlifecycle.io/v1alpha1',
      kind: 'NfsExport',
      metadata: { name },
      // No such servers: the operator runs without probes, and kwok mounts nothing.
      spec: {
        server: `nfs-${String(i)}.example.com`,
        path: `/exports/${name}`,
        capacity: '1Gi',
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: storageClass,
      },
    };
    jobs.push(
      persist(
        `create NfsExport ${name}`,
        () => clients.custom.createClusterCustomObject({ ...nfsApi, body }),
        ['alreadyExists'],
        deadline,
      ),
    );
  }
  await Promise.all(jobs);
  return pool;
}

async function runOnce(run: number, seed: number): Promise<RunResult> {
  const r = seeded(seed);
  const dir = join(repoRoot, '.cluster', 'bench-chaos');
  const logDir = join(repoRoot, '.cluster', 'bench-chaos-logs', `run-${String(run)}-seed-${String(seed)}`);
  mkdirSync(logDir, { recursive: true });
  const cluster = await LocalCluster.start({ dir, tieToParent: true });
  const result: RunResult = {
    run,
    seed,
    stormMs: 0,
    created: 0,
    deleted: 0,
    deletedUnbound: 0,
    boundClaims: 0,
    scrubJobs: {},
    faults: [],
    selfExits: [],
    reconnects: 0,
    gaps: 0,
    listedChanges: 0,
    claimsLeft: 0,
    unverified: [],
    violations: [],
    convergedMs: undefined,
    afterStormMs: undefined,
    problems: [],
    errors: [],
    logDir: relative(repoRoot, logDir),
  };
  let replicas: Replicas | undefined;
  const recorders: Recorder[] = [];
  try {
    await installCrds(cluster.kubectl, cluster.kubeconfig);
    const operatorKubeconfig = await installOperatorIdentity(cluster, join(dir, 'operator.kubeconfig'));
    const kc: KubeConfig = cluster.kubeConfig();
    const clients: Clients = {
      core: kc.makeApiClient(CoreV1Api),
      batch: kc.makeApiClient(BatchV1Api),
      custom: kc.makeApiClient(CustomObjectsApi),
    };
    await clients.core.createNamespace({ body: { metadata: { name: claimNs } } });

    // Times are printed from the storm's start (events before it are negative).
    let t0 = performance.now();
    const clock = () => performance.now() - t0;
    const events: WatchEvent[] = [];
    const l = listers(clients);
    for (const kind of ['claim', 'volume', 'job', 'pod'] as const) {
      recorders.push(
        new Recorder({ kind, kubeConfig: kc, path: paths[kind], list: l[kind], sink: events, clock }),
      );
    }
    await Promise.all(recorders.map((x) => x.start()));

    const pool = await createPool(clients, performance.now() + 60_000);
    replicas = new Replicas({
      count: config.replicas,
      kubeconfig: operatorKubeconfig,
      args: [
        '--namespace',
        operatorNs,
        '--probe-interval',
        '0',
        '--workers',
        String(config.workers),
        '--log-level',
        'info',
      ],
      logDir,
    });
    await replicas.start();
    const poolReady = performance.now() + 60_000;
    for (;;) {
      const w = liveWorld(recorders);
      if ([...pool.reusable, ...pool.retain].every((n) => w.volumes.get(n)?.phase === 'Available')) break;
      if (performance.now() > poolReady) throw new Error('the volume pool did not become Available in 60 s');
      await sleep(100);
    }

    const stormMs = between(r, config.storm[0] * 1000, config.storm[1] * 1000);
    t0 = performance.now();
    const stormStart = clock();
    const endAt = stormStart + stormMs;
    const [s, f] = await Promise.all([
      storm(r, clients, recorders, pool, clock, endAt),
      faults(r, cluster, replicas, clock, endAt),
    ]);
    const stormEnd = clock();
    Object.assign(result, s, { stormMs: stormEnd - stormStart, faults: f });
    const lastFault = Math.max(stormStart, ...f.map((x) => x.endMs));

    // Settle: the watches' view first (fast), then confirmed by fresh lists.
    const deadline = clock() + config.convergeTimeoutMs;
    for (;;) {
      const problems = convergenceProblems(liveWorld(recorders), pool);
      if (problems.length === 0) {
        const at = clock();
        const fresh = await listedWorld(clients).catch(() => undefined);
        const again = fresh ? convergenceProblems(fresh.world, pool) : ['list failed'];
        if (again.length === 0) {
          result.convergedMs = at - lastFault;
          result.afterStormMs = at - stormEnd;
          break;
        }
      }
      if (clock() > deadline) {
        result.problems = problems;
        result.errors.push(`did not settle within ${secs(config.convergeTimeoutMs)} s of the storm's end`);
        break;
      }
      await sleep(100);
    }

    // The watches must have seen everything the lists show, or the replay judges too little.
    const complete = clock() + 20_000;
    for (let tries = 0; ; tries++) {
      const { revisions } = await listedWorld(clients);
      const seen = new Map<string, number>();
      for (const x of recorders) for (const [uid, { rv }] of x.state) seen.set(`${x.kind}/${uid}`, rv);
      const missing = [...revisions].filter(([k, rv]) => seen.get(k) !== rv);
      const extra = [...seen.keys()].filter((k) => !revisions.has(k));
      if (missing.length === 0 && extra.length === 0) break;
      if (clock() > complete) {
        result.errors.push(
          `the watches disagree with the lists: ${[...missing.map(([k]) => k), ...extra].slice(0, 5).join(', ')}`,
        );
        break;
      }
      if (tries === 20) for (const x of recorders) x.reconnect();
      await sleep(250);
    }
    await Promise.all(recorders.map((x) => x.stop()));
    result.reconnects = recorders.reduce((n, x) => n + x.reconnects, 0);
    result.gaps = recorders.reduce((n, x) => n + x.gaps.length, 0);
    // Changes learnt from a relist, not a watch: their intermediate states went unseen.
    result.listedChanges = events.filter((e) => e.listed && e.at >= 0).length;

    const history = replay(events);
    result.violations = [...history.violations, ...halfBound(history.world)];
    result.unverified = history.unverified;
    result.claimsLeft = history.world.claims.size;
    for (const j of history.world.jobsEver.values())
      result.scrubJobs[j.operation] = (result.scrubJobs[j.operation] ?? 0) + 1;
    result.boundClaims = new Set(
      events
        .filter((e) => e.kind === 'claim' && 'phase' in e.rec && e.rec.phase === 'Bound')
        .map((e) => e.rec.uid),
    ).size;
    result.selfExits = [...replicas.selfExits];
    writeFileSync(join(logDir, 'events.json'), JSON.stringify(events));
  } catch (err) {
    result.errors.push((err as Error).message);
  } finally {
    await replicas?.stop();
    await Promise.all(recorders.map((x) => x.stop()));
    await cluster.stop();
  }
  return result;
}

function describeRun(x: RunResult): string {
  const lines = [
    `run ${String(x.run)} seed ${String(x.seed)}: storm ${secs(x.stormMs)} s, ${String(x.created)} claims created, ` +
      `${String(x.deleted)} deleted (${String(x.deletedUnbound)} before they were Bound), ${String(x.boundClaims)} ever Bound, ` +
      `${String(x.claimsLeft)} left; ` +
      `scrub Jobs ${
        Object.entries(x.scrubJobs)
          .map(([k, n]) => `${k} ${String(n)}`)
          .join(', ') || 'none'
      }`,
    `  faults (${String(x.faults.length)}): ${x.faults.map((f) => `${secs(f.startMs)} s ${f.kind} (${f.detail})`).join('; ') || 'none'}`,
    `  operator exits on its own: ${String(x.selfExits.length)}${x.selfExits.length ? ` (${x.selfExits.slice(0, 3).join('; ')})` : ''}; ` +
      `watch reconnects ${String(x.reconnects)}, relists after 410: ${String(x.gaps)} ` +
      `(changes seen only in a relist: ${String(x.listedChanges)}), unjudged Job creations: ${String(x.unverified.length)}`,
    `  violations: ${String(x.violations.length)}; ` +
      (x.convergedMs === undefined
        ? 'did NOT converge'
        : `converged ${secs(x.convergedMs)} s after the last fault (${secs(x.afterStormMs ?? 0)} s after the storm)`),
  ];
  for (const v of x.violations) {
    const before = x.faults.filter((f) => f.startMs <= v.at).at(-1);
    lines.push(
      `  VIOLATION ${v.rule} on ${v.volume} at revision ${String(v.rv)} (${secs(v.at)} s${before ? `, last fault ${before.kind} at ${secs(before.startMs)} s` : ''}, seen ${String(v.times)}x): ${v.detail}`,
    );
  }
  for (const p of x.problems.slice(0, 10)) lines.push(`  not settled: ${p}`);
  for (const e of x.errors) lines.push(`  ERROR ${e}`);
  if (x.violations.length > 0 || x.errors.length > 0) lines.push(`  logs and events: ${x.logDir}`);
  return lines.join('\n');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

say(
  `chaos bench: ${String(config.runs)} runs from seed ${String(config.seed)}; ${String(config.claims)} claims, ` +
    `${String(config.volumes)} volumes, storms of ${String(config.storm[0])}-${String(config.storm[1])} s, ` +
    `${String(config.replicas)} operator replicas with ${String(config.workers)} workers`,
);
const results: RunResult[] = [];
for (let i = 0; i < config.runs; i++) {
  const seed = (config.seed + i) % 2 ** 31;
  const started = performance.now();
  const x = await runOnce(i + 1, seed);
  results.push(x);
  say(`${describeRun(x)}\n  (run took ${secs(performance.now() - started)} s)`);
}

const converged = results.flatMap((x) => (x.convergedMs === undefined ? [] : [x.convergedMs]));
const count = (k: FaultKind) => results.reduce((n, x) => n + x.faults.filter((f) => f.kind === k).length, 0);
const violations = results.reduce((n, x) => n + x.violations.length, 0);
const failed = results.filter((x) => x.errors.length > 0 || x.violations.length > 0);
console.log(`\nchaos bench, ${String(results.length)} runs from seed ${String(config.seed)}`);
console.log(
  'run  seed      storm  claims  deleted  scrubs  faults (kill/api/etcd)  violations  converged after last fault',
);
for (const x of results) {
  const byKind = (k: FaultKind) => x.faults.filter((f) => f.kind === k).length;
  console.log(
    `${String(x.run).padStart(3)}  ${String(x.seed).padEnd(8)}  ${secs(x.stormMs).padStart(5)}  ${String(x.created).padStart(6)}  ` +
      `${String(x.deleted).padStart(7)}  ${String(Object.values(x.scrubJobs).reduce((a, b) => a + b, 0)).padStart(6)}  ` +
      `${`${String(byKind('operator-kill'))}/${String(byKind('apiserver-restart'))}/${String(byKind('etcd-pause'))}`.padStart(22)}  ` +
      `${String(x.violations.length).padStart(10)}  ${x.convergedMs === undefined ? 'did not converge' : `${secs(x.convergedMs)} s`}`,
  );
}
console.log(
  `\nfaults: ${String(count('operator-kill'))} operator kills, ${String(count('apiserver-restart'))} apiserver restarts, ${String(count('etcd-pause'))} etcd pauses; ` +
    `violations: ${String(violations)}; converged ${String(converged.length)}/${String(results.length)}` +
    (converged.length
      ? `; time from the last fault to convergence: min ${secs(Math.min(...converged))} s, median ${secs(median(converged))} s, max ${secs(Math.max(...converged))} s`
      : ''),
);
writeFileSync(
  join(repoRoot, '.cluster', 'bench-chaos-logs', 'results.json'),
  JSON.stringify(results, null, 2),
);
if (failed.length > 0) {
  console.log(
    `\n${String(failed.length)} run(s) failed: ${failed.map((x) => `run ${String(x.run)} (seed ${String(x.seed)})`).join(', ')}`,
  );
  process.exitCode = 1;
}
