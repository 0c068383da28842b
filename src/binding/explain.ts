// Why a Pending claim has no volume: for each volume, the first rule of the
// fit table (fit.ts) it fails, ranked so the nearest misses come first.
// Upstream only says "no persistent volumes available"; this names the
// candidates.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { type ClaimFacts, type FitContext, claimFacts, firstMisfit, fitRules, volumeFacts } from './fit.ts';

export interface Miss {
  volume: string;
  /** The first rule of the fit table (fit.ts) the volume fails. */
  rule: string;
  reason: string;
  /** Higher is nearer: the rule's place in the table (the volume passed the rules before it). */
  nearness: number;
  /** Among misses of the same rule, smaller is nearer (size gap for "too small"). */
  gap: bigint;
}

export function whyNot(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim,
  ctx: FitContext = {},
  facts: ClaimFacts = claimFacts(claim),
): Miss | undefined {
  const v = volumeFacts(volume);
  const rule = firstMisfit(facts, v, ctx, fitRules);
  if (!rule) return undefined;
  return {
    volume: v.name,
    rule: rule.name,
    reason: rule.says(facts, v, ctx),
    nearness: fitRules.indexOf(rule),
    gap: rule.gap?.(facts, v) ?? 0n,
  };
}

/** Nearest misses first: the later rule failed, then the smaller gap, then the name. */
export function compareMisses(a: Miss, b: Miss): number {
  return (
    b.nearness - a.nearness ||
    (a.gap < b.gap ? -1 : a.gap > b.gap ? 1 : 0) ||
    (a.volume < b.volume ? -1 : a.volume > b.volume ? 1 : 0)
  );
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
  ctx: FitContext = {},
): string {
  const facts = claimFacts(claim);
  const misses: Miss[] = [];
  for (const v of volumes) {
    const m = whyNot(v, claim, ctx, facts);
    if (m) misses.push(m);
  }
  if (misses.length === 0) return 'no persistent volumes exist';
  misses.sort(compareMisses);
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
