// Noticing another PV binder while this operator binds: kube-controller-manager's
// own (its events come from persistentvolume-controller) racing for the same
// claims. Said loudly, because the race is otherwise quiet: a Warning event on
// the claim or volume, a metric, and a failing readiness check naming the fix.
//
// Only events are watched, and the in-tree binder records none for a plain
// successful bind (only for claims it waits on, mismatches, reclaims): it is
// noticed once it has something to say about one of them.
import { EventsV1Api, type EventsV1Event, type KubeConfig } from '@kubernetes/client-node';

import type { ApiClients } from '../runtime/api-clients.ts';
import type { EventSink } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import type { Log } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import { withoutManagedFields } from '../runtime/store.ts';

/** The in-tree PV controller's event source. */
export const inTreeBinderComponent = 'persistentvolume-controller';
/** How long after its last event another binder still fails readiness. */
export const otherBinderWindowMs = 10 * 60_000;

export const otherBinderFix =
  "turn off kube-controller-manager's binder (--controllers=*,-persistentvolume-binder-controller), " +
  'or run this operator with --controllers=*,-binder';

export interface Sighting {
  kind: 'PersistentVolumeClaim' | 'PersistentVolume';
  /** namespace/name of a claim, name of a volume. */
  object: string;
  name: string;
  /** A claim's. */
  namespace?: string;
  uid: string;
  reason: string;
  /** ms since epoch. */
  at: number;
}

const bounded = (text: string | undefined, max: number) => (text ?? '').slice(0, max);

/** The latest time the event says it happened, in ms (0 when it says none). */
export function eventTime(e: EventsV1Event): number {
  const times = [
    e.series?.lastObservedTime,
    e.eventTime,
    e.deprecatedLastTimestamp,
    e.deprecatedFirstTimestamp,
    e.metadata?.creationTimestamp,
  ]
    // Absent or null (as the API sends them) reads as 0 and is left out.
    .map((t) => (t === undefined ? 0 : new Date(t as string | Date).getTime()))
    .filter((t) => Number.isFinite(t) && t > 0);
  return times.length === 0 ? 0 : Math.max(...times);
}

/** What an event of the in-tree binder says about a claim or volume, or undefined for any other event. */
export function sightingOf(e: EventsV1Event): Sighting | undefined {
  if (e.reportingController !== inTreeBinderComponent) return undefined;
  const r = e.regarding;
  if (!r || r.apiVersion !== 'v1' || !r.name || !r.uid) return undefined;
  if (r.kind !== 'PersistentVolumeClaim' && r.kind !== 'PersistentVolume') return undefined;
  const name = bounded(r.name, 253);
  const namespace = r.kind === 'PersistentVolumeClaim' ? bounded(r.namespace, 63) : undefined;
  return {
    kind: r.kind,
    object: namespace === undefined ? name : `${namespace}/${name}`,
    name,
    namespace,
    uid: bounded(r.uid, 128),
    reason: bounded(e.reason, 64),
    at: eventTime(e),
  };
}

/** The newest sighting at or after since, if any: what readiness reports. */
export function latestSighting(events: readonly EventsV1Event[], since: number): Sighting | undefined {
  let latest: Sighting | undefined;
  for (const e of events) {
    const s = sightingOf(e);
    if (s && s.at >= since && (!latest || s.at > latest.at)) latest = s;
  }
  return latest;
}

export function describeSighting(s: Sighting): string {
  const what = s.kind === 'PersistentVolumeClaim' ? 'claim' : 'volume';
  return (
    `another PV binder acts on this cluster: ${inTreeBinderComponent} recorded ${s.reason || 'an event'} ` +
    `on ${what} ${s.object} at ${new Date(s.at).toISOString()}; ${otherBinderFix}`
  );
}

/** The Warning recorded on the claim or volume itself. */
export function sightingWarning(s: Sighting): string {
  const what = s.kind === 'PersistentVolumeClaim' ? 'claim' : 'volume';
  return (
    `kube-controller-manager's PV binder (${inTreeBinderComponent}) acts on this ${what} too ` +
    `(its ${s.reason || 'event'}): two binders race for the same claims. To fix: ${otherBinderFix}`
  );
}

/** How long the leader's first list of events may take before readiness fails for it. */
export const eventsSyncGraceMs = 10_000;

export interface OtherBinderWatchOptions {
  kubeConfig: KubeConfig;
  events: EventSink;
  log: Log;
  metrics?: { otherBinderEvent(kind: string): void };
  /** For tests: ms since epoch. */
  now?: () => number;
}

/** Warned about, per object uid, kept to this many (then the oldest are forgotten). */
const maxRemembered = 10_000;

/**
 * Watches the in-tree binder's events once this replica leads (a runnable,
 * with a field-selected watch of its own: it is no cache any feature reads).
 */
export class OtherBinderWatch {
  private readonly informer: Informer<EventsV1Event>;
  private readonly opts: OtherBinderWatchOptions;
  private readonly warned = new Set<string>();
  /** Per event (namespace/name), the time last counted, so a series counts once per repeat. */
  private readonly counted = new Map<string, number>();
  private startedAt = Number.POSITIVE_INFINITY;

  constructor(manager: Manager, options: OtherBinderWatchOptions) {
    this.opts = options;
    const fieldSelector = `reportingController=${inTreeBinderComponent}`;
    const api: ApiClients = manager.api;
    this.informer = new Informer<EventsV1Event>({
      name: 'in-tree-binder-events',
      kubeConfig: options.kubeConfig,
      path: '/apis/events.k8s.io/v1/events',
      list: (page) => api.make(EventsV1Api).listEventForAllNamespaces({ ...page, fieldSelector }),
      fieldSelector,
      model: 'EventsV1Event',
      transform: withoutManagedFields,
      resyncPeriodMs: 0,
      log: options.log,
    });
    this.informer.on({
      add: (e) => {
        this.seen(e);
      },
      update: (_old, e) => {
        this.seen(e);
      },
      delete: (e) => {
        this.counted.delete(keyOf(e));
      },
    });
    manager.add({
      name: 'other-binder-watch',
      leaderOnly: true,
      start: () => {
        this.startedAt = this.now();
        this.informer.start();
      },
      stop: () => this.informer.stop(),
    });
    manager.addReadyCheck('other-binder', () => {
      // Started (leading) but not listed within the grace: say so, rather than
      // only log the retries. Within it, the first list is simply under way.
      if (
        Number.isFinite(this.startedAt) &&
        !this.informer.hasSynced() &&
        this.now() - this.startedAt >= eventsSyncGraceMs
      ) {
        throw new Error(
          `the watch of ${inTreeBinderComponent} events has not synced (it needs list and watch on events.k8s.io events)`,
        );
      }
      const since = Math.max(this.startedAt, this.now() - otherBinderWindowMs);
      const s = latestSighting(this.informer.store.list(), since);
      if (s) throw new Error(describeSighting(s));
      return true;
    });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Events older than this watch are history (the binder may be off since): only new ones count. */
  private seen(e: EventsV1Event): void {
    const s = sightingOf(e);
    if (!s || s.at < this.startedAt) return;
    const key = keyOf(e);
    if ((this.counted.get(key) ?? -1) >= s.at) return;
    this.counted.set(key, s.at);
    this.opts.metrics?.otherBinderEvent(s.kind);
    if (this.warned.has(s.uid)) return;
    const oldest = this.warned.values().next();
    if (this.warned.size >= maxRemembered && !oldest.done) this.warned.delete(oldest.value);
    this.warned.add(s.uid);
    this.opts.log.warn('another PV binder acts on this cluster', {
      object: `${s.kind} ${s.object}`,
      reason: s.reason,
      fix: otherBinderFix,
    });
    void this.opts.events.record(
      { kind: s.kind, apiVersion: 'v1', name: s.name, namespace: s.namespace, uid: s.uid },
      'Warning',
      'OtherBinderDetected',
      'Binding',
      sightingWarning(s),
    );
  }
}

const keyOf = (e: EventsV1Event) => `${e.metadata?.namespace ?? ''}/${e.metadata?.name ?? ''}`;
