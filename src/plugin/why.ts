// `kubectl pvl why CLAIM`: the binder's own decision (planClaim) over what the
// API holds now, and for each volume the first fit rule it fails (whyNot),
// nearest misses first. Pure: the caller lists the objects.
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';

import { planClaim } from '../binding/claim-sync.ts';
import { compareMisses, reasonGroup, whyNot } from '../binding/explain.ts';
import { storageClassOf } from '../binding/objects.ts';
import { type ClassLookup, waitsForFirstConsumer } from '../binding/storage-classes.ts';
import { VolumeIndex } from '../binding/volume-index.ts';
import { eventNote } from '../kube/planned-event.ts';
import { namespacedName } from '../kube/refs.ts';
import { type Cell, table } from './format.ts';

export interface Candidate {
  volume: string;
  /** The first fit rule the volume fails; undefined: it fits. */
  rule?: string;
  reason: string;
}

export interface WhyReport {
  claim: string;
  phase: string;
  storageClass: string;
  /** What the binder would do now: bind, pending, assignDefaultClass or lost. */
  decision: string;
  /** The volume it would bind, if any. */
  volume?: string;
  /** The event the binder would record, with its explanation. */
  event?: { type: string; reason: string; note: string };
  candidates: Candidate[];
  /** Facts the plugin cannot see from the API alone. */
  notes: string[];
}

export function classLookup(classes: readonly V1StorageClass[]): ClassLookup {
  const byName = new Map(classes.map((c) => [c.metadata?.name ?? '', c]));
  return { get: (name) => byName.get(name), list: () => [...classes] };
}

export function explainClaim(
  claim: V1PersistentVolumeClaim,
  volumes: readonly V1PersistentVolume[],
  classes: readonly V1StorageClass[],
): WhyReport {
  const lookup = classLookup(classes);
  const index = new VolumeIndex();
  for (const v of volumes) index.upsert(v);
  const plan = planClaim(claim, { volumes: index, classes: lookup });
  const className = storageClassOf(claim);
  const ctx = { delayBinding: waitsForFirstConsumer(className, lookup) };
  const fitting: Candidate[] = [];
  const misses = [];
  for (const v of volumes) {
    const miss = whyNot(v, claim, ctx);
    if (miss) misses.push(miss);
    else fitting.push({ volume: v.metadata?.name ?? '', reason: 'fits' });
  }
  misses.sort(compareMisses);
  fitting.sort((a, b) => (a.volume < b.volume ? -1 : a.volume > b.volume ? 1 : 0));
  const report: WhyReport = {
    claim: namespacedName(claim.metadata?.namespace, claim.metadata?.name),
    phase: claim.status?.phase ?? 'Pending',
    storageClass: className,
    decision: plan.action,
    candidates: [...fitting, ...misses.map((m) => ({ volume: m.volume, rule: m.rule, reason: m.reason }))],
    notes: [
      'volumes of an NfsExport whose server does not answer, and volumes a scrub may still be using, are ' +
        'held back by the running operator only; this view reads the API and cannot see them',
    ],
  };
  if (plan.action === 'bind') report.volume = plan.volume.metadata?.name;
  if (plan.action === 'lost') report.volume = plan.volumeName;
  if (plan.action === 'assignDefaultClass') {
    report.event = {
      type: 'Normal',
      reason: 'DefaultClass',
      note: `the default class "${plan.storageClass}" is set on the claim first`,
    };
  } else if ((plan.action === 'pending' || plan.action === 'lost') && plan.event) {
    report.event = { type: plan.event.type, reason: plan.event.reason, note: eventNote(plan.event) };
  }
  return report;
}

/** The first line of the answer, in words. */
export function verdict(r: WhyReport): string {
  if (r.phase === 'Bound') return `claim ${r.claim} is Bound to ${r.volume ?? 'its volume'}`;
  switch (r.decision) {
    case 'bind':
      return `claim ${r.claim} is ${r.phase}; the binder would bind it to ${r.volume ?? '?'} now (is the operator running?)`;
    case 'assignDefaultClass':
      return `claim ${r.claim} has no storage class; ${r.event?.note ?? ''}`;
    default:
      return `claim ${r.claim} is ${r.phase}: ${r.event ? `${r.event.reason}: ${r.event.note}` : 'waiting for its volume'}`;
  }
}

/** How many volumes the table names before it counts the rest by reason. */
export const shownCandidates = 20;

export function whyTable(r: WhyReport, colour: boolean): string {
  const lines = [verdict(r), ''];
  if (r.candidates.length === 0) lines.push('no PersistentVolumes exist');
  else {
    const rows: Cell[][] = r.candidates
      .slice(0, shownCandidates)
      .map((c) => [
        c.volume,
        c.rule === undefined ? { text: 'yes', tone: 'good' } : { text: 'no', tone: 'bad' },
        c.rule ?? '',
        c.reason,
      ]);
    lines.push(table(['volume', 'fits', 'rule', 'reason'], rows, colour));
    const rest = new Map<string, number>();
    for (const c of r.candidates.slice(shownCandidates)) {
      const g = c.rule === undefined ? 'fits' : reasonGroup(c.reason);
      rest.set(g, (rest.get(g) ?? 0) + 1);
    }
    for (const [g, n] of [...rest].sort((a, b) => b[1] - a[1])) lines.push(`... and ${String(n)} more: ${g}`);
  }
  lines.push('', ...r.notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}
