import { type EventsV1Event, KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  OtherBinderWatch,
  eventsSyncGraceMs,
  describeSighting,
  eventTime,
  latestSighting,
  sightingOf,
  sightingWarning,
} from '../../../src/binding/other-binder.ts';
import { silentLog } from '../../../src/runtime/log.ts';
import { Manager } from '../../../src/runtime/manager.ts';
import { Metrics } from '../../../src/runtime/metrics.ts';

const at = (iso: string) => new Date(iso).getTime();

function event(over: Partial<EventsV1Event> = {}, regarding: Record<string, string> = {}): EventsV1Event {
  return {
    metadata: { name: 'c.1', namespace: 'team', creationTimestamp: new Date('2026-01-01T10:00:00Z') },
    eventTime: undefined as unknown as Date,
    reportingController: 'persistentvolume-controller',
    reason: 'ProvisioningFailed',
    regarding: {
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      namespace: 'team',
      name: 'c',
      uid: 'u1',
      ...regarding,
    },
    ...over,
  };
}

describe("noticing kube-controller-manager's PV binder by its events", () => {
  it('reads when an event last happened from whichever time it carries, as a Date or as text', () => {
    expect(eventTime(event())).to.equal(at('2026-01-01T10:00:00Z'));
    expect(eventTime(event({ deprecatedLastTimestamp: '2026-01-01T10:05:00Z' as unknown as Date }))).to.equal(
      at('2026-01-01T10:05:00Z'),
    );
    expect(
      eventTime(event({ series: { count: 3, lastObservedTime: new Date('2026-01-01T11:00:00Z') } })),
    ).to.equal(at('2026-01-01T11:00:00Z'));
    // null, garbage and nothing at all read as no time.
    expect(eventTime({ ...event(), eventTime: null as unknown as Date, metadata: {} })).to.equal(0);
    expect(eventTime({ ...event(), metadata: { creationTimestamp: 'soon' as unknown as Date } })).to.equal(0);
  });

  it('sees a claim or a volume the in-tree binder spoke about', () => {
    expect(sightingOf(event())).to.deep.include({
      kind: 'PersistentVolumeClaim',
      object: 'team/c',
      name: 'c',
      namespace: 'team',
      uid: 'u1',
      reason: 'ProvisioningFailed',
    });
    const v = sightingOf(
      event({ reason: 'RecyclerPod' }, { kind: 'PersistentVolume', namespace: '', name: 'pv-1', uid: 'u2' }),
    );
    expect(v).to.deep.include({ kind: 'PersistentVolume', object: 'pv-1', namespace: undefined });
  });

  it('ignores events of anyone else, of other kinds, and ones that name no object', () => {
    expect(sightingOf(event({ reportingController: 'pv-lifecycle-operator' }))).to.equal(undefined);
    expect(sightingOf(event({}, { kind: 'Pod' }))).to.equal(undefined);
    expect(sightingOf(event({}, { apiVersion: 'v2' }))).to.equal(undefined);
    expect(sightingOf(event({}, { uid: '' }))).to.equal(undefined);
    expect(sightingOf(event({ regarding: undefined as never }))).to.equal(undefined);
  });

  it('bounds what it repeats of a hostile event', () => {
    const s = sightingOf(
      event({ reason: 'R'.repeat(5000) }, { name: 'n'.repeat(5000), namespace: 'x'.repeat(500) }),
    );
    expect(s?.reason).to.have.length(64);
    expect(s?.object).to.have.length(63 + 1 + 253);
    if (!s) throw new Error('no sighting');
    expect(describeSighting(s).length).to.be.below(1000);
  });

  it('reports the newest sighting since a time, for readiness', () => {
    const old = event({ metadata: { name: 'a', creationTimestamp: new Date('2026-01-01T09:00:00Z') } });
    const newer = event(
      { metadata: { name: 'b', creationTimestamp: new Date('2026-01-01T10:30:00Z') } },
      { name: 'd', uid: 'u3' },
    );
    const mine = event({ reportingController: 'pv-lifecycle-operator' });
    expect(latestSighting([old, newer, mine], at('2026-01-01T08:00:00Z'))?.object).to.equal('team/d');
    expect(latestSighting([old, mine], at('2026-01-01T09:30:00Z'))).to.equal(undefined);
  });

  it('names the fix in what readiness and the Warning say', () => {
    const s = sightingOf(event());
    if (!s) throw new Error('no sighting');
    expect(describeSighting(s)).to.equal(
      'another PV binder acts on this cluster: persistentvolume-controller recorded ProvisioningFailed on claim ' +
        "team/c at 2026-01-01T10:00:00.000Z; turn off kube-controller-manager's binder " +
        '(--controllers=*,-persistentvolume-binder-controller), or run this operator with --controllers=*,-binder',
    );
    expect(sightingWarning(s)).to.equal(
      "kube-controller-manager's PV binder (persistentvolume-controller) acts on this claim too (its " +
        'ProvisioningFailed): two binders race for the same claims. To fix: turn off ' +
        "kube-controller-manager's binder (--controllers=*,-persistentvolume-binder-controller), or run this " +
        'operator with --controllers=*,-binder',
    );
  });

  it('fails readiness, saying what it needs, while leading without having listed the events', async () => {
    // Nothing answers on port 1 of loopback: the list never succeeds.
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const m = new Manager({
      kubeConfig,
      log: silentLog,
      metrics: new Metrics(),
      workers: 1,
      resyncPeriodMs: 0,
      requestTimeoutMs: 1000,
    });
    let now = 1_000_000;
    new OtherBinderWatch(m, {
      kubeConfig,
      events: { record: () => undefined },
      log: silentLog,
      now: () => now,
    });
    const check = () => m.readyChecks()['other-binder']?.();
    // A standby (not leading yet) watches nothing, and has nothing to say.
    expect(check()).to.equal(true);
    await m.start();
    // The first list is under way for a while: no flap to unready at every start.
    expect(check()).to.equal(true);
    now += eventsSyncGraceMs;
    expect(check).to.throw(
      'the watch of persistentvolume-controller events has not synced (it needs list and watch on events.k8s.io events)',
    );
    expect(m.ready()).to.equal(false);
    await m.stop(0);
  });
});
