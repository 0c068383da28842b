// Exports that share data: two exports of one server whose paths are equal or
// nest (/a and /a/b) see the same files, so a scrub of one empties the other.
// At most one of them may have a volume that claims can take. The oldest
// (creationTimestamp, then name) is the one, unless another still holds a
// claim's data (a volume with a claimRef: bound, or released and not yet
// reclaimed): that volume is never taken away, and nothing overlapping it is
// offered until it is free.
import { posix } from 'node:path';

/** One export as the conflict check sees it. */
export interface Placement {
  name: string;
  /** creationTimestamp in ms; NaN or missing counts as the newest. */
  createdMs: number;
  server: string;
  path: string;
  /** The export's volume, if it exists; claim is namespace/name while a claimRef is set. */
  volume?: { name: string; claim?: string };
}

/**
 * What the export may do with a volume. ok: have one as usual. Otherwise no
 * volume may be offered for it: none (it has none, and none is made), keep
 * (its volume holds a claim's data and stays), withdraw (its unbound volume
 * is deleted, the data untouched).
 */
export type Verdict =
  { kind: 'ok' } | { kind: 'conflict'; with: string; volume: 'none' | 'keep' | 'withdraw'; message: string };

/** Lower case, without the trailing dot of a fully qualified name; IPv6 in its canonical form. */
export function normalServer(server: string): string {
  const host = server.toLowerCase().replace(/\.$/, '');
  if (!host.includes(':')) return host;
  try {
    return new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host;
  }
}

/** The path with "//", "." and ".." resolved and no trailing "/" (the API refuses other spellings). */
export function normalPath(path: string): string {
  const p = posix.normalize(`/${path}`);
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** Equal, or one below the other by whole segments (/a and /a/b, not /a and /ab). */
export function pathsOverlap(a: string, b: string): boolean {
  return normalOverlap(normalPath(a), normalPath(b));
}

function normalOverlap(x: string, y: string): boolean {
  if (x === y || x === '/' || y === '/') return true;
  return below(y, x) || below(x, y);
}

// Without building strings: this runs for every pair of exports of a server.
const slash = 0x2f;
const below = (inner: string, outer: string) =>
  inner.length > outer.length && inner.charCodeAt(outer.length) === slash && inner.startsWith(outer);

type Target = Pick<Placement, 'server' | 'path'>;

// Each sync compares an export with every other of its server: each object is
// normalized once (informers replace objects, they never change one in place).
const normalized = new WeakMap<Target, Target>();
function normalOf(t: Target): Target {
  let n = normalized.get(t);
  if (!n) normalized.set(t, (n = { server: normalServer(t.server), path: normalPath(t.path) }));
  return n;
}

export function overlaps(a: Target, b: Target): boolean {
  const x = normalOf(a);
  const y = normalOf(b);
  return x.server === y.server && normalOverlap(x.path, y.path);
}

const createdOf = (p: Placement) => (Number.isFinite(p.createdMs) ? p.createdMs : Number.POSITIVE_INFINITY);

/** a was created before b; equal times go by name. */
export function isOlder(a: Placement, b: Placement): boolean {
  const ta = createdOf(a);
  const tb = createdOf(b);
  return ta !== tb ? ta < tb : a.name < b.name;
}

const where = (p: Placement) => `${p.server}:${p.path}`;

/** The verdict for export e among all exports (e itself among them or not). */
export function decideConflict(e: Placement, all: readonly Placement[]): Verdict {
  const others = all.filter((o) => o.name !== e.name && overlaps(o, e));
  if (others.length === 0) return { kind: 'ok' };
  const older = others.filter((o) => isOlder(o, e)).sort((a, b) => (isOlder(a, b) ? -1 : 1));
  const holding = others.filter((o) => o.volume?.claim !== undefined);
  const head = `${where(e)} overlaps export`;

  if (older.length === 0 && holding.length === 0) {
    // The oldest, and nobody's data in the way: keep or make its volume, once
    // the newer ones have withdrawn theirs (each does on its own sync).
    const pending = others.find((o) => o.volume !== undefined);
    if (e.volume || !pending) return { kind: 'ok' };
    return {
      kind: 'conflict',
      with: pending.name,
      volume: 'none',
      message:
        `${head} ${pending.name} (${where(pending)}), which is newer: its volume ` +
        `${pending.volume?.name ?? ''} is being withdrawn; this export's volume is made after that`,
    };
  }

  const volume = !e.volume ? 'none' : e.volume.claim !== undefined ? 'keep' : 'withdraw';
  const outcome = {
    none: 'no volume is made for this export while the conflict lasts',
    keep: `its volume ${e.volume?.name ?? ''} stays while claim ${e.volume?.claim ?? ''} holds it, and is withdrawn once free`,
    withdraw: `its unbound volume ${e.volume?.name ?? ''} is withdrawn (the data on the server is untouched)`,
  }[volume];
  const first = older[0];
  if (first) {
    const inUse = first.volume?.claim !== undefined ? `, whose volume holds claim ${first.volume.claim}` : '';
    return {
      kind: 'conflict',
      with: first.name,
      volume,
      message: `${head} ${first.name} (${where(first)}), which is older${inUse}; a scrub of one would empty the other: ${outcome}`,
    };
  }
  // The oldest, but a newer export's volume holds a claim's data on the shared path.
  const holder = holding[0] as Placement;
  return {
    kind: 'conflict',
    with: holder.name,
    volume,
    message:
      `${head} ${holder.name} (${where(holder)}), whose volume ${holder.volume?.name ?? ''} holds claim ` +
      `${holder.volume?.claim ?? ''}; a scrub of one would empty the other: ${outcome}; a volume is made once that one is free`,
  };
}
