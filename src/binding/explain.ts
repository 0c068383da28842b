// Why a Pending claim has no volume: for each volume, the first rule it
// fails, ranked so the nearest misses come first. Upstream only says "no
// persistent volumes available"; this names the candidates.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import {
  capacityOf,
  describeSize,
  isBeingDeleted,
  isVolumeBoundToClaim,
  requestOf,
  storageClassOf,
  volumeAttributesClassOf,
  volumeModeOf,
} from './objects.ts';
import { beyondInt64Nano, formatBytes } from '../kube/quantity.ts';
import { compileSelector } from './selector.ts';

export interface Miss {
  volume: string;
  reason: string;
  /** Higher is nearer: the volume passed more rules before failing this one. */
  nearness: number;
  /** Among misses of the same rule, smaller is nearer (size gap for "too small"). */
  gap: bigint;
}

export function whyNot(volume: V1PersistentVolume, claim: V1PersistentVolumeClaim): Miss | undefined {
  const name = volume.metadata?.name ?? '';
  const miss = (nearness: number, reason: string, gap = 0n): Miss => ({
    volume: name,
    reason,
    nearness,
    gap,
  });
  const ref = volume.spec?.claimRef;
  if (ref && !isVolumeBoundToClaim(volume, claim))
    return miss(0, `bound to ${ref.namespace ?? ''}/${ref.name ?? ''}`);
  if (isBeingDeleted(volume)) return miss(1, 'being deleted');
  const wantedClass = storageClassOf(claim);
  const cls = storageClassOf(volume);
  if (cls !== wantedClass) return miss(2, cls === '' ? 'no storage class' : `storage class "${cls}"`);
  if (volumeModeOf(volume) !== volumeModeOf(claim)) return miss(3, `volume mode ${volumeModeOf(volume)}`);
  const vac = volumeAttributesClassOf(volume);
  if (vac !== volumeAttributesClassOf(claim)) {
    return miss(4, vac === '' ? 'no volume attributes class' : `volume attributes class "${vac}"`);
  }
  const offered = new Set(volume.spec?.accessModes ?? []);
  const lacking = (claim.spec?.accessModes ?? []).filter((m) => !offered.has(m));
  if (lacking.length > 0) return miss(6, `lacks ${lacking.join(', ')}`);
  const size = capacityOf(volume);
  // Ranked behind every volume that is merely too small.
  if (size.nano === undefined) return miss(7, describeSize('capacity', size), 2n * beyondInt64Nano);
  const capacity = size.nano;
  // A claim whose own request is unusable is told so before any walk (planClaim).
  const request = requestOf(claim).nano ?? beyondInt64Nano;
  if (capacity < request) {
    return miss(7, `too small (${formatBytes(capacity)} < ${formatBytes(request)})`, request - capacity);
  }
  let selects: (labels: Record<string, string> | undefined) => boolean;
  try {
    selects = compileSelector(claim.spec?.selector);
  } catch {
    return miss(8, 'the claim selector is invalid');
  }
  if (!selects(volume.metadata?.labels)) return miss(8, 'labels do not match the selector');
  // Checked last: a new volume is Pending only until the binder marks it
  // Available, so for one that fits in every other way this is the whole story.
  if (!ref && volume.status?.phase !== 'Available') {
    return miss(9, `phase ${volume.status?.phase ?? 'unset'}`);
  }
  return undefined;
}

/** Misses beyond the named ones are counted by kind, not by their details. */
export function reasonGroup(reason: string): string {
  if (reason.startsWith('too small')) return 'too small';
  if (reason.startsWith('capacity ')) return 'unusable capacity';
  if (reason.startsWith('bound to ')) return 'bound to other claims';
  if (reason.startsWith('storage class ') || reason === 'no storage class') return 'other storage classes';
  if (reason.startsWith('volume attributes class ') || reason === 'no volume attributes class') {
    return 'other volume attributes classes';
  }
  return reason;
}

/**
 * One line for the FailedBinding event: the nearest `named` misses by name,
 * then the rest grouped by reason, most common first, within maxLength.
 */
export function explainNoMatch(
  claim: V1PersistentVolumeClaim,
  volumes: Iterable<V1PersistentVolume>,
  named = 3,
  maxLength = 400,
  blocked?: (volume: V1PersistentVolume) => string | undefined,
): string {
  const misses: Miss[] = [];
  for (const v of volumes) {
    let m = whyNot(v, claim);
    if (!m) {
      // It would fit: held back, the nearest miss of all.
      const reason = blocked?.(v);
      if (reason) m = { volume: v.metadata?.name ?? '', reason, nearness: 10, gap: 0n };
    }
    if (m) misses.push(m);
  }
  if (misses.length === 0) return 'no persistent volumes exist';
  misses.sort(
    (a, b) =>
      b.nearness - a.nearness ||
      (a.gap < b.gap ? -1 : a.gap > b.gap ? 1 : 0) ||
      (a.volume < b.volume ? -1 : a.volume > b.volume ? 1 : 0),
  );
  const parts = misses.slice(0, named).map((m) => `${m.volume}: ${m.reason}`);
  const rest = new Map<string, number>();
  for (const m of misses.slice(named)) {
    const group = reasonGroup(m.reason);
    rest.set(group, (rest.get(group) ?? 0) + 1);
  }
  const groups = [...rest.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  for (const [reason, count] of groups) {
    parts.push(`${count} other${count === 1 ? '' : 's'}: ${reason}`);
  }
  const full = parts.join('; ');
  if (full.length <= maxLength) return full;
  // Keep as many parts as fit together with the note of how many were left out.
  for (let kept = parts.length - 1; kept > 0; kept--) {
    const left = parts.length - kept;
    const text = `${parts.slice(0, kept).join('; ')}; and ${String(left)} more reason${left === 1 ? '' : 's'}`;
    if (text.length <= maxLength) return text;
  }
  return (parts[0] ?? '').slice(0, maxLength);
}
