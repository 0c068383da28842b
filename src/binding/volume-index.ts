// The binder's view of volumes, indexed so that finding the best volume for a
// claim costs O(log n) in the common case instead of a scan of every volume.
//
// Free volumes (Available, no claimRef, not being deleted) sit in buckets by
// storage class, volume mode and volumeAttributesClass; inside a bucket, in
// one list per access-mode set, sorted by capacity. A claim looks only at the
// lists whose mode set holds all its modes, fewest modes first, and in each
// binary-searches the smallest volume that is large enough; only a selector
// or a held-back volume can make it walk further. Volumes with a claimRef are
// indexed by the claim they name, for pre-binding and crash repair.
//
// The buckets are only a fast path: whether a candidate fits is the fit
// table's to say (fit.ts), and every volume the buckets leave out fails one
// of its rules (claimRef, deleting, phase, storageClass, volumeMode,
// attributesClass, accessModes, capacity, size, delayBinding).
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { namespacedName } from '../kube/refs.ts';
import { type FitContext, type VolumeFacts, claimFacts, fits, volumeFacts } from './fit.ts';
import { accessModesKey, isBeingDeleted } from './objects.ts';

interface Entry {
  name: string;
  /** For sorting; 0 for an unusable capacity, which never goes into a bucket. */
  capacity: bigint;
  volume: V1PersistentVolume;
  facts: VolumeFacts;
}

interface ModeGroup {
  modes: ReadonlySet<string>;
  key: string;
  /** Sorted by capacity, then name. */
  entries: Entry[];
}

export interface MatchOptions extends FitContext {
  /** The claim's class binds on first consumer: only volumes pre-bound to it qualify. */
  delayBinding: boolean;
}

const bucketKey = (storageClass: string, volumeMode: string, attributesClass: string) =>
  `${storageClass}\u0000${volumeMode}\u0000${attributesClass}`;

function compareEntries(
  a: { capacity: bigint; name: string },
  b: { capacity: bigint; name: string },
): number {
  if (a.capacity !== b.capacity) return a.capacity < b.capacity ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** First index whose entry is not less than probe. */
function lowerBound(entries: Entry[], probe: { capacity: bigint; name: string }): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = entries[mid];
    if (e && compareEntries(e, probe) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function isSubset(wanted: ReadonlySet<string>, offered: ReadonlySet<string>): boolean {
  for (const m of wanted) if (!offered.has(m)) return false;
  return true;
}

export function isFree(volume: V1PersistentVolume): boolean {
  return volume.status?.phase === 'Available' && !volume.spec?.claimRef && !isBeingDeleted(volume);
}

export class VolumeIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly free = new Map<string, Map<string, ModeGroup>>();
  private readonly byClaim = new Map<string, Set<string>>();
  /** Volumes promised to a claim by a bind in progress: volume name -> claim key. */
  private readonly reservations = new Map<string, string>();

  get size(): number {
    return this.entries.size;
  }

  get(name: string): V1PersistentVolume | undefined {
    return this.entries.get(name)?.volume;
  }

  upsert(volume: V1PersistentVolume): void {
    const name = volume.metadata?.name;
    if (!name) return;
    this.remove(name);
    const facts = volumeFacts(volume);
    const entry: Entry = {
      name,
      capacity: facts.size.nano ?? 0n,
      volume,
      facts,
    };
    this.entries.set(name, entry);
    const ref = volume.spec?.claimRef;
    if (ref) {
      const key = namespacedName(ref.namespace, ref.name);
      let names = this.byClaim.get(key);
      if (!names) this.byClaim.set(key, (names = new Set()));
      names.add(name);
    }
    if (isFree(volume) && !this.reservations.has(name)) this.addFree(entry);
  }

  remove(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    const ref = entry.volume.spec?.claimRef;
    if (ref) {
      const key = namespacedName(ref.namespace, ref.name);
      const names = this.byClaim.get(key);
      names?.delete(name);
      if (names?.size === 0) this.byClaim.delete(key);
    }
    this.removeFree(entry);
  }

  /**
   * Takes a free volume out of matching while a bind to claim is in flight, so
   * that no other claim can be given it. Returns false if it is already reserved.
   */
  reserve(volumeName: string, forClaim: string): boolean {
    const holder = this.reservations.get(volumeName);
    if (holder !== undefined) return holder === forClaim;
    this.reservations.set(volumeName, forClaim);
    const entry = this.entries.get(volumeName);
    if (entry) this.removeFree(entry);
    return true;
  }

  release(volumeName: string): void {
    if (!this.reservations.delete(volumeName)) return;
    const entry = this.entries.get(volumeName);
    if (entry && isFree(entry.volume)) this.addFree(entry);
  }

  reservedFor(volumeName: string): string | undefined {
    return this.reservations.get(volumeName);
  }

  /** Volumes whose claimRef names this claim (by namespace and name). */
  volumesNamingClaim(namespace: string, name: string): V1PersistentVolume[] {
    const names = this.byClaim.get(namespacedName(namespace, name)) ?? new Set<string>();
    return [...names].flatMap((n) => {
      const v = this.entries.get(n)?.volume;
      return v ? [v] : [];
    });
  }

  *all(): Generator<V1PersistentVolume> {
    for (const e of this.entries.values()) yield e.volume;
  }

  /**
   * The volume the claim should bind to, by the upstream rules: the access-mode
   * groups whose set holds all the claim's modes are walked fewest modes first,
   * and the first group with any match wins. Inside a group, a volume pre-bound
   * to the claim (if it fits by the table's rules for pre-bound volumes) wins
   * outright; otherwise the smallest free volume of the claim's bucket that
   * fits by the whole table. So a pre-bound volume in a wider group loses to a
   * free one in a narrower group, and stays Available and reserved. Throws
   * SelectorError for a selector the apiserver would not accept.
   */
  findBestMatch(claim: V1PersistentVolumeClaim, opts: MatchOptions): V1PersistentVolume | undefined {
    const c = claimFacts(claim);
    const wanted = new Set(c.modes);
    const request = c.request;
    // planClaim reports an unusable request; nothing matches it.
    if (request === undefined) return undefined;

    interface Candidates {
      size: number;
      key: string;
      preBound?: Entry;
      free?: ModeGroup;
    }
    const byGroup = new Map<string, Candidates>();
    const groupOf = (modes: ReadonlySet<string>, key: string): Candidates => {
      let g = byGroup.get(key);
      if (!g) byGroup.set(key, (g = { size: modes.size, key }));
      return g;
    };
    for (const v of this.volumesNamingClaim(claim.metadata?.namespace ?? '', claim.metadata?.name ?? '')) {
      const e = this.entries.get(v.metadata?.name ?? '');
      if (e === undefined || !fits(c, e.facts, opts)) continue;
      // Upstream returns whichever it meets first; the smallest is as good and stable.
      const g = groupOf(e.facts.modes, accessModesKey([...e.facts.modes]));
      if (!g.preBound || compareEntries(e, g.preBound) < 0) g.preBound = e;
    }
    // WaitForFirstConsumer: free volumes are the scheduler's to pick.
    const bucket = opts.delayBinding
      ? undefined
      : this.free.get(bucketKey(c.storageClass, c.volumeMode, c.attributesClass));
    for (const group of bucket?.values() ?? []) {
      if (group.entries.length > 0 && isSubset(wanted, group.modes))
        groupOf(group.modes, group.key).free = group;
    }
    const groups = [...byGroup.values()].sort(
      (a, b) => a.size - b.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
    for (const g of groups) {
      if (g.preBound) return g.preBound.volume;
      if ('error' in c.selector) throw c.selector.error;
      const entries = g.free?.entries ?? [];
      for (let i = lowerBound(entries, { capacity: request, name: '' }); i < entries.length; i++) {
        const e = entries[i];
        if (e && fits(c, e.facts, opts)) return e.volume;
      }
    }
    return undefined;
  }

  private group(entry: Entry, create: boolean): ModeGroup | undefined {
    const f = entry.facts;
    const bKey = bucketKey(f.storageClass, f.volumeMode, f.attributesClass);
    let bucket = this.free.get(bKey);
    if (!bucket) {
      if (!create) return undefined;
      this.free.set(bKey, (bucket = new Map<string, ModeGroup>()));
    }
    const mKey = accessModesKey([...f.modes]);
    let group = bucket.get(mKey);
    if (!group && create) bucket.set(mKey, (group = { modes: f.modes, key: mKey, entries: [] }));
    return group;
  }

  private addFree(entry: Entry): void {
    // The capacity rule: an unusable one is never matched (see capacityOf).
    if (entry.facts.size.nano === undefined) return;
    const group = this.group(entry, true);
    if (!group) return;
    const at = lowerBound(group.entries, entry);
    if (group.entries[at]?.name !== entry.name) group.entries.splice(at, 0, entry);
  }

  private removeFree(entry: Entry): void {
    const group = this.group(entry, false);
    if (!group) return;
    const at = lowerBound(group.entries, entry);
    if (group.entries[at]?.name === entry.name) group.entries.splice(at, 1);
  }
}
