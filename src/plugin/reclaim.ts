// `kubectl pvl release|recycle PV`: whether the operator would take the
// request (the same test as planReclaim), and which of the volume's events
// answer it. Pure: the caller writes the annotation and reads the events.
import type { EventsV1Event, V1PersistentVolume } from '@kubernetes/client-node';

import { type ReclaimRequest, annReclaimRequest, failuresOf, releasedClaimUid } from '../reclaim/decide.ts';

/** Why the request would only be refused (ReclaimRequestIgnored), or undefined when the volume takes it. */
export function refusal(volume: V1PersistentVolume, request: ReclaimRequest): string | undefined {
  const name = volume.metadata?.name ?? '';
  const phase = volume.status?.phase;
  if (volume.metadata?.deletionTimestamp) return `volume ${name} is being deleted`;
  const released = phase === 'Released' || (phase === 'Failed' && failuresOf(volume).count > 0);
  if (!released || !releasedClaimUid(volume)) {
    return `${annReclaimRequest}=${request} applies only to a Released volume; ${name} is ${phase ?? 'without a phase'}`;
  }
  const pending = volume.metadata?.annotations?.[annReclaimRequest];
  if (pending !== undefined) return `volume ${name} already has the request ${annReclaimRequest}=${pending}`;
  return undefined;
}

/** The events that end the wait, and whether each means the request was done. */
const outcomes: Record<ReclaimRequest, Record<string, boolean>> = {
  release: { VolumeReleasedByRequest: true, ReclaimRequestIgnored: false, ReclaimRequestInvalid: false },
  recycle: {
    VolumeRecycled: true,
    VolumeFailedRecycle: false,
    ReclaimRequestIgnored: false,
    ReclaimRequestInvalid: false,
  },
};

export interface SeenEvent {
  type: string;
  reason: string;
  note: string;
}

export type Progress =
  { done: false; events: SeenEvent[] } | { done: true; ok: boolean; events: SeenEvent[]; outcome: SeenEvent };

/** What each event looked like before the request: its name and how often it had happened. */
export type Before = ReadonlyMap<string, number>;

const count = (e: EventsV1Event) => e.series?.count ?? 1;

export function snapshot(events: readonly EventsV1Event[]): Map<string, number> {
  return new Map(events.map((e) => [e.metadata?.name ?? '', count(e)]));
}

/**
 * The volume's events since the snapshot (new ones, or repeats counted up),
 * oldest first, and whether one of them answers the request. Comparing with
 * a snapshot rather than times keeps a skewed client clock out of it.
 */
export function progress(
  request: ReclaimRequest,
  before: Before,
  events: readonly EventsV1Event[],
): Progress {
  const fresh = events
    .filter((e) => (before.get(e.metadata?.name ?? '') ?? 0) < count(e))
    .sort((a, b) => timeOf(a) - timeOf(b))
    .map((e) => ({ type: e.type ?? '', reason: e.reason ?? '', note: e.note ?? '' }));
  const outcome = fresh.find((e) => e.reason in outcomes[request]);
  if (!outcome) return { done: false, events: fresh };
  return { done: true, ok: outcomes[request][outcome.reason] === true, events: fresh, outcome };
}

function timeOf(e: EventsV1Event): number {
  // The types promise eventTime; a hostile or old writer may leave it out.
  const t = new Date(e.series?.lastObservedTime ?? e.eventTime).getTime();
  return Number.isNaN(t) ? 0 : t;
}

export function confirmed(answer: string): boolean {
  return /^\s*(y|yes)\s*$/i.test(answer);
}
