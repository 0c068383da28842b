// The binder's matcher at scale: the indexed VolumeIndex against a linear scan
// that applies the same rules to every volume (as the upstream controller's
// per-access-mode-group scan does). Prints numbers; asserts nothing.
//   make bench-matcher [CLAIMS=2000]
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import {
  capacityOf,
  isBeingDeleted,
  requestOf,
  storageClassOf,
  volumeAttributesClassOf,
  volumeModeOf,
} from '../src/binding/objects.ts';
import { compileSelector } from '../src/binding/selector.ts';
import { VolumeIndex, isFree } from '../src/binding/volume-index.ts';

const claimsPerRun = Number(process.env.CLAIMS ?? '2000');

/** Small deterministic PRNG so every run measures the same inputs. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const classes = ['', 'fast', 'slow', 'nfs'];
const modeSets = [['ReadWriteOnce'], ['ReadWriteOnce', 'ReadOnlyMany'], ['ReadWriteMany'], ['ReadOnlyMany']];
const zones = ['a', 'b', 'c'];

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}

function makeVolumes(n: number, rand: () => number): V1PersistentVolume[] {
  return Array.from({ length: n }, (_, i) => {
    const bound = rand() < 0.1;
    return {
      metadata: { name: `pv-${i}`, labels: { zone: pick(rand, zones) } },
      spec: {
        capacity: { storage: `${1 + Math.floor(rand() * 1000)}Gi` },
        accessModes: pick(rand, modeSets),
        storageClassName: pick(rand, classes),
        volumeMode: rand() < 0.05 ? 'Block' : 'Filesystem',
        claimRef: bound ? { namespace: 'ns', name: `taken-${i}`, uid: `u-${i}` } : undefined,
        hostPath: { path: `/data/${i}` },
      },
      status: { phase: bound ? 'Bound' : 'Available' },
    };
  });
}

function makeClaims(n: number, rand: () => number): V1PersistentVolumeClaim[] {
  return Array.from({ length: n }, (_, i) => ({
    metadata: { name: `c-${i}`, namespace: 'ns', uid: `cu-${i}` },
    spec: {
      accessModes: [pick(rand, modeSets)[0] ?? 'ReadWriteOnce'],
      resources: { requests: { storage: `${1 + Math.floor(rand() * 1000)}Gi` } },
      storageClassName: pick(rand, classes),
      selector: rand() < 0.1 ? { matchLabels: { zone: pick(rand, zones) } } : undefined,
    },
  }));
}

interface Flat {
  v: V1PersistentVolume;
  name: string;
  modes: string[];
  cap: bigint;
  free: boolean;
  volumeMode: string;
  attributesClass: string;
  storageClass: string;
}

/** Volumes with their fields parsed once, so the linear scan pays for scanning, not parsing. */
function flatten(volumes: V1PersistentVolume[]): Flat[] {
  return volumes.map((v) => ({
    v,
    name: v.metadata?.name ?? '',
    modes: v.spec?.accessModes ?? [],
    cap: capacityOf(v).nano ?? -1n, // the index never offers an unusable capacity
    free: isFree(v) && !isBeingDeleted(v),
    volumeMode: volumeModeOf(v),
    attributesClass: volumeAttributesClassOf(v),
    storageClass: storageClassOf(v),
  }));
}

/** Same rules, no index: every volume is looked at for every claim. */
function linearMatch(volumes: Flat[], claim: V1PersistentVolumeClaim): V1PersistentVolume | undefined {
  const wanted = claim.spec?.accessModes ?? [];
  const request = requestOf(claim).nano ?? 0n;
  const selects = compileSelector(claim.spec?.selector);
  const mode = volumeModeOf(claim);
  const attributesClass = volumeAttributesClassOf(claim);
  const storageClass = storageClassOf(claim);
  let best: Flat | undefined;
  for (const f of volumes) {
    if (!f.free || f.cap < request || !wanted.every((m) => f.modes.includes(m))) continue;
    if (f.volumeMode !== mode || f.attributesClass !== attributesClass || f.storageClass !== storageClass)
      continue;
    if (!selects(f.v.metadata?.labels)) continue;
    const better =
      !best ||
      f.modes.length < best.modes.length ||
      (f.modes.length === best.modes.length &&
        (f.cap < best.cap || (f.cap === best.cap && f.name < best.name)));
    if (better) best = f;
  }
  return best?.v;
}

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const r = fn();
  return [r, performance.now() - t];
}

console.log(
  `claims per run: ${claimsPerRun}; volumes: 4 classes, 4 access-mode sets, 5% Block, 10% already bound`,
);
console.log('volumes  | index build | indexed match / claim | linear scan / claim | speed-up | same answers');
for (const n of [1_000, 10_000, 100_000]) {
  const rand = prng(42);
  const volumes = makeVolumes(n, rand);
  const claims = makeClaims(claimsPerRun, rand);
  const flat = flatten(volumes);
  const [index, buildMs] = time(() => {
    const idx = new VolumeIndex();
    for (const v of volumes) idx.upsert(v);
    return idx;
  });
  // Warm up both paths so the JIT has compiled them before timing.
  for (const c of claims.slice(0, 50)) {
    index.findBestMatch(c, { delayBinding: false });
    linearMatch(flat, c);
  }
  const [indexed, indexedMs] = time(() => claims.map((c) => index.findBestMatch(c, { delayBinding: false })));
  const linearClaims = claims.slice(0, Math.max(50, Math.floor(claimsPerRun / Math.max(1, n / 1000))));
  const [linear, linearMs] = time(() => linearClaims.map((c) => linearMatch(flat, c)));
  const agree = linear.every((v, i) => v?.metadata?.name === indexed[i]?.metadata?.name);
  const perIndexed = (indexedMs * 1000) / claims.length;
  const perLinear = (linearMs * 1000) / linearClaims.length;
  console.log(
    `${String(n).padStart(8)} | ${buildMs.toFixed(0).padStart(8)} ms | ${perIndexed.toFixed(1).padStart(16)} µs | ` +
      `${perLinear.toFixed(1).padStart(14)} µs | ${(perLinear / perIndexed).toFixed(0).padStart(7)}x | ` +
      `${agree ? 'yes' : 'NO'} (${linearClaims.length} compared)`,
  );
}
