// The chaos bench's judge, pure: the objects it watched (claims, volumes, scrub
// Jobs and their pods) boiled down to what the invariants need, a replay of
// every watch event in resourceVersion order, and the checks.
//
// Ordering across kinds: with one etcd behind the apiserver, an object's
// resourceVersion is the etcd revision of its last write, one counter shared
// by every kind. Kubernetes calls it opaque; this bench relies on it being
// that counter (and says so if a value is not a number), because only then can
// "claim A was Bound while claim B was" be decided exactly rather than from
// when events happened to arrive on separate watches.
import { annClaimUid, annOperation, annVolumeName, annVolumeUid } from '../../src/reclaim/job.ts';

export type Kind = 'claim' | 'volume' | 'job' | 'pod';

export interface ClaimRec {
  uid: string;
  /** namespace/name */
  name: string;
  volumeName: string;
  phase: string;
  deleting: boolean;
}

export interface VolumeRec {
  uid: string;
  name: string;
  claimUid: string;
  /** namespace/name of spec.claimRef, for messages. */
  claim: string;
  phase: string;
  policy: string;
}

export interface JobRec {
  uid: string;
  name: string;
  volumeName: string;
  volumeUid: string;
  claimUid: string;
  operation: string;
}

export interface PodRec {
  uid: string;
  name: string;
  jobUid: string;
  phase: string;
  deleting: boolean;
}

export type Rec = ClaimRec | VolumeRec | JobRec | PodRec;

export interface WatchEvent {
  kind: Kind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  rv: number;
  /** Arrival order, to keep events of one revision in the order seen. */
  seq: number;
  /** ms since the run started, when the bench received it. */
  at: number;
  rec: Rec;
  /** Learnt from a list rather than a watch: its revision is an upper bound of when it happened. */
  listed?: boolean;
}

/** The fields of a Kubernetes object this file reads (typed client-node objects and raw JSON alike). */
export interface KubeObject {
  metadata?: {
    uid?: string;
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    deletionTimestamp?: unknown;
    annotations?: Record<string, string>;
    ownerReferences?: { uid?: string; controller?: boolean }[];
  };
  /** Any kind's spec; recordOf reads the fields of claims and volumes. */
  spec?: object;
  /** Any kind's status; claims, volumes and pods have a phase. */
  status?: object;
}

interface ClaimOrVolumeSpec {
  volumeName?: string;
  persistentVolumeReclaimPolicy?: string;
  claimRef?: { uid?: string; name?: string; namespace?: string };
}

export function revisionOf(o: KubeObject): number {
  const text = o.metadata?.resourceVersion ?? '';
  const rv = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(rv)) {
    throw new Error(`resourceVersion "${text}" is not an etcd revision; the chaos bench cannot order events`);
  }
  return rv;
}

export function recordOf(kind: Kind, o: KubeObject): Rec {
  const m = o.metadata ?? {};
  const uid = m.uid ?? '';
  const name = m.name ?? '';
  const deleting = m.deletionTimestamp !== undefined && m.deletionTimestamp !== null;
  const phase = (o.status as { phase?: string } | undefined)?.phase ?? '';
  const spec: ClaimOrVolumeSpec = o.spec ?? {};
  switch (kind) {
    case 'claim':
      return {
        uid,
        name: `${m.namespace ?? ''}/${name}`,
        volumeName: spec.volumeName ?? '',
        phase,
        deleting,
      };
    case 'volume': {
      const ref = spec.claimRef;
      return {
        uid,
        name,
        claimUid: ref?.uid ?? '',
        claim: ref ? `${ref.namespace ?? ''}/${ref.name ?? ''}` : '',
        phase,
        policy: spec.persistentVolumeReclaimPolicy ?? 'Retain',
      };
    }
    case 'job': {
      const a = m.annotations ?? {};
      return {
        uid,
        name,
        volumeName: a[annVolumeName] ?? '',
        volumeUid: a[annVolumeUid] ?? '',
        claimUid: a[annClaimUid] ?? '',
        operation: a[annOperation] ?? '',
      };
    }
    case 'pod':
      return {
        uid,
        name,
        jobUid: m.ownerReferences?.find((r) => r.controller === true)?.uid ?? '',
        phase,
        deleting,
      };
  }
}

/** The watched objects at one revision. */
export class World {
  readonly claims = new Map<string, ClaimRec>();
  /** By name: at most one volume of a name exists at a time. */
  readonly volumes = new Map<string, VolumeRec>();
  readonly jobs = new Map<string, JobRec>();
  readonly pods = new Map<string, PodRec>();
  /** Every Job ever seen, so a pod can be traced to its volume after its Job is gone. */
  readonly jobsEver = new Map<string, JobRec>();

  apply(e: WatchEvent): void {
    const gone = e.type === 'DELETED';
    switch (e.kind) {
      case 'claim':
        setOrDelete(this.claims, e.rec.uid, e.rec as ClaimRec, gone);
        break;
      case 'volume': {
        const v = e.rec as VolumeRec;
        // A DELETED for an older volume of the same name must not remove the newer one.
        if (gone) {
          if (this.volumes.get(v.name)?.uid === v.uid) this.volumes.delete(v.name);
        } else this.volumes.set(v.name, v);
        break;
      }
      case 'job':
        setOrDelete(this.jobs, e.rec.uid, e.rec as JobRec, gone);
        if (!gone) this.jobsEver.set(e.rec.uid, e.rec as JobRec);
        break;
      case 'pod':
        setOrDelete(this.pods, e.rec.uid, e.rec as PodRec, gone);
        break;
    }
  }

  /** Volume names an event may change the verdict for. */
  touched(e: WatchEvent, before: Rec | undefined): string[] {
    switch (e.kind) {
      case 'claim': {
        const c = e.rec as ClaimRec;
        const names = new Set([c.volumeName, (before as ClaimRec | undefined)?.volumeName ?? '']);
        for (const v of this.volumes.values()) if (v.claimUid === c.uid) names.add(v.name);
        names.delete('');
        return [...names];
      }
      case 'volume':
        return [e.rec.name];
      case 'job':
        return [(e.rec as JobRec).volumeName].filter(Boolean);
      case 'pod': {
        const job = this.jobsEver.get((e.rec as PodRec).jobUid);
        return job?.volumeName ? [job.volumeName] : [];
      }
    }
  }

  previous(e: WatchEvent): Rec | undefined {
    switch (e.kind) {
      case 'claim':
        return this.claims.get(e.rec.uid);
      case 'volume':
        return this.volumes.get(e.rec.name);
      case 'job':
        return this.jobs.get(e.rec.uid);
      case 'pod':
        return this.pods.get(e.rec.uid);
    }
  }
}

function setOrDelete<T>(map: Map<string, T>, key: string, value: T, gone: boolean): void {
  if (gone) map.delete(key);
  else map.set(key, value);
}

export type Rule =
  | 'two-claims-bound'
  | 'claimref-names-another-claim'
  | 'bound-claim-without-volume'
  | 'job-while-claim-exists'
  | 'job-for-retain-volume'
  | 'job-for-another-release'
  | 'scrub-pod-while-bound'
  | 'half-bound';

export interface Violation {
  rule: Rule;
  /** The revision at which it was first seen (0 for checks of the end state). */
  rv: number;
  /** ms since the run started when the event that showed it arrived. */
  at: number;
  volume: string;
  detail: string;
  /** How many events in a row kept showing it. */
  times: number;
}

const terminal = (p: PodRec) => p.phase === 'Succeeded' || p.phase === 'Failed';

/** Invariant 1 and the scrub half of 2, for one volume name, in the world as it is now. */
export function volumeProblems(w: World, name: string): Omit<Violation, 'rv' | 'at' | 'times'>[] {
  const out: Omit<Violation, 'rv' | 'at' | 'times'>[] = [];
  const v = w.volumes.get(name);
  const bound = [...w.claims.values()].filter((c) => c.phase === 'Bound' && c.volumeName === name);
  if (bound.length > 1) {
    out.push({
      rule: 'two-claims-bound',
      volume: name,
      detail: `claims ${bound.map((c) => `${c.name} (${c.uid})`).join(', ')} are all Bound to it`,
    });
  }
  for (const c of bound) {
    if (!v) {
      out.push({
        rule: 'bound-claim-without-volume',
        volume: name,
        detail: `${c.name} is Bound to a volume that does not exist`,
      });
    } else if (v.claimUid !== c.uid) {
      out.push({
        rule: v.claimUid ? 'claimref-names-another-claim' : 'bound-claim-without-volume',
        volume: name,
        detail: v.claimUid
          ? `its claimRef names ${v.claim} (${v.claimUid}) while ${c.name} (${c.uid}) is Bound to it`
          : `${c.name} (${c.uid}) is Bound to it but its claimRef is empty (phase ${v.phase || 'none'})`,
      });
    }
  }
  const holder = v?.claimUid ? w.claims.get(v.claimUid) : undefined;
  if (v && holder) {
    for (const p of w.pods.values()) {
      if (terminal(p)) continue;
      const job = w.jobsEver.get(p.jobUid);
      if (job?.volumeName !== name) continue;
      out.push({
        rule: 'scrub-pod-while-bound',
        volume: name,
        detail: `scrub pod ${p.name} of Job ${job.name} (release of claim ${job.claimUid}) is ${p.phase || 'without a phase'}${p.deleting ? ' (being deleted)' : ''} while the volume's claimRef names live claim ${holder.name} (${holder.uid}, ${holder.phase || 'no phase'})`,
      });
    }
  }
  return out;
}

/** Invariant 2 at the moment a scrub Job appears. */
export function jobCreationProblems(w: World, job: JobRec): Omit<Violation, 'rv' | 'at' | 'times'>[] {
  const out: Omit<Violation, 'rv' | 'at' | 'times'>[] = [];
  const v = w.volumes.get(job.volumeName);
  const what = `Job ${job.name} (${job.operation || 'no operation'}, release of claim ${job.claimUid})`;
  const claim = w.claims.get(job.claimUid);
  if (claim) {
    out.push({
      rule: 'job-while-claim-exists',
      volume: job.volumeName,
      detail: `${what} created while that claim ${claim.name} still exists (${claim.phase || 'no phase'}${claim.deleting ? ', being deleted' : ''})`,
    });
  }
  if (!v || v.uid !== job.volumeUid) {
    out.push({
      rule: 'job-for-another-release',
      volume: job.volumeName,
      detail: `${what} created for volume uid ${job.volumeUid}, but ${v ? `the volume of that name is ${v.uid}` : 'no volume of that name exists'}`,
    });
    return out;
  }
  if (v.policy === 'Retain') {
    out.push({
      rule: 'job-for-retain-volume',
      volume: v.name,
      detail: `${what} created for a Retain volume`,
    });
  }
  if (v.claimUid !== job.claimUid) {
    out.push({
      rule: 'job-for-another-release',
      volume: v.name,
      detail: `${what} created while the volume's claimRef names ${v.claimUid ? `${v.claim} (${v.claimUid})` : 'no claim'}`,
    });
  }
  const holder = v.claimUid ? w.claims.get(v.claimUid) : undefined;
  if (holder && holder !== claim) {
    out.push({
      rule: 'job-while-claim-exists',
      volume: v.name,
      detail: `${what} created while the claim its claimRef names, ${holder.name}, exists`,
    });
  }
  return out;
}

export interface History {
  violations: Violation[];
  /** Job creations that could not be judged: the Job was first learnt of from a list after a gap. */
  unverified: string[];
  world: World;
}

/** Replays events in revision order, checking invariants 1 and 2 after each. */
export function replay(events: readonly WatchEvent[]): History {
  const sorted = [...events].sort((a, b) => a.rv - b.rv || a.seq - b.seq);
  const w = new World();
  const violations: Violation[] = [];
  const unverified: string[] = [];
  // Per volume, the states seen wrong at the previous event: one that lasts is
  // reported once (with a count), one that ends and comes back again anew.
  const ongoing = new Map<string, Map<string, Violation>>();
  const report = (e: WatchEvent, found: Omit<Violation, 'rv' | 'at' | 'times'>[]) => {
    for (const f of found) violations.push({ ...f, rv: e.rv, at: e.at, times: 1 });
  };
  for (const e of sorted) {
    const before = w.previous(e);
    if (e.kind === 'job' && e.type !== 'DELETED' && !w.jobsEver.has(e.rec.uid)) {
      const job = e.rec as JobRec;
      if (e.listed) unverified.push(`Job ${job.name} first seen in a list at revision ${String(e.rv)}`);
      else report(e, jobCreationProblems(w, job));
    }
    w.apply(e);
    for (const name of w.touched(e, before)) {
      const last = ongoing.get(name) ?? new Map<string, Violation>();
      const now = new Map<string, Violation>();
      for (const f of volumeProblems(w, name)) {
        const key = `${f.rule}: ${f.detail}`;
        const known = last.get(key);
        if (known) known.times++;
        else violations.push({ ...f, rv: e.rv, at: e.at, times: 1 });
        now.set(key, known ?? (violations.at(-1) as Violation));
      }
      ongoing.set(name, now);
    }
  }
  return { violations, unverified, world: w };
}

/** Invariant 3 in the end state: claims and volumes that point at each other only halfway. */
export function halfBound(w: World): Violation[] {
  const out: Violation[] = [];
  const add = (volume: string, detail: string) => {
    out.push({ rule: 'half-bound', rv: 0, at: 0, volume, detail, times: 1 });
  };
  for (const c of w.claims.values()) {
    if (!c.volumeName) continue;
    const v = w.volumes.get(c.volumeName);
    if (c.phase !== 'Bound')
      add(c.volumeName, `claim ${c.name} names the volume but is ${c.phase || 'without a phase'}`);
    else if (v?.claimUid !== c.uid) {
      add(
        c.volumeName,
        `claim ${c.name} is Bound to it but its claimRef names ${v?.claimUid ? v.claim : 'no claim'}`,
      );
    }
  }
  for (const v of w.volumes.values()) {
    const c = v.claimUid ? w.claims.get(v.claimUid) : undefined;
    if (c && c.volumeName !== v.name) {
      add(v.name, `its claimRef names ${c.name}, whose volumeName is ${c.volumeName || 'empty'}`);
    }
  }
  return out;
}

export interface Pool {
  /** Volumes that come back Available after a release (Recycle, and Delete ones made anew). */
  reusable: string[];
  /** Retain volumes: Released for good once their claim is gone. */
  retain: string[];
}

/**
 * Why the world has not converged yet (empty once it has): every claim Bound
 * to a volume that points back, every reusable volume Available or Bound,
 * every Retain volume Available, Bound or Released by a claim that is gone,
 * and no scrub Job left.
 */
export function convergenceProblems(w: World, pool: Pool): string[] {
  const out: string[] = [];
  for (const c of w.claims.values()) {
    const v = w.volumes.get(c.volumeName);
    if (c.phase !== 'Bound' || !v || v.claimUid !== c.uid || v.phase !== 'Bound') {
      out.push(
        `claim ${c.name} ${c.phase || 'without a phase'}${c.volumeName ? ` (volume ${c.volumeName} ${v?.phase ?? 'missing'})` : ''}`,
      );
    }
  }
  const volumeOk = (name: string, retain: boolean) => {
    const v = w.volumes.get(name);
    if (!v) return `volume ${name} missing`;
    const holder = v.claimUid ? w.claims.get(v.claimUid) : undefined;
    if (v.phase === 'Available' && !v.claimUid) return undefined;
    if (v.phase === 'Bound' && holder?.volumeName === name) return undefined;
    if (retain && v.phase === 'Released' && v.claimUid && !holder) return undefined;
    return `volume ${name} ${v.phase || 'without a phase'}${v.claim ? ` (claimRef ${v.claim}${holder ? '' : ', gone'})` : ''}`;
  };
  for (const name of pool.reusable) {
    const why = volumeOk(name, false);
    if (why) out.push(why);
  }
  for (const name of pool.retain) {
    const why = volumeOk(name, true);
    if (why) out.push(why);
  }
  for (const j of w.jobs.values()) out.push(`scrub Job ${j.name} still exists`);
  return out;
}
