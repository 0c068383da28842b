// The event recorder against the real apiserver: the Events it writes, series
// aggregation, the spam filter, recovery from a deleted Event, and failures
// that must stay in the log.
import { randomBytes } from 'node:crypto';

import {
  CoreV1Api,
  EventsV1Api,
  type EventsV1Event,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { EventRecorder, type EventRecorderOptions, type ObjectRef } from '../../src/runtime/events.ts';
import type { Log } from '../../src/runtime/log.ts';
import { testCluster } from './cluster-hooks.ts';
import { eventually, sleep } from '../support/wait.ts';

interface Line {
  level: string;
  message: string;
  meta: Record<string, unknown> | undefined;
}

function memoryLog(): Log & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (message: string, meta?: Record<string, unknown>): void => {
      lines.push({ level, message, meta });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('event recorder', function () {
  this.timeout(60_000);
  const id = randomBytes(3).toString('hex');
  const ns = `events-${id}`;
  let core: CoreV1Api;
  let eventsApi: EventsV1Api;
  let volume: V1PersistentVolume;
  let claim: V1PersistentVolumeClaim;
  let recorders: EventRecorder[] = [];
  let n = 0;

  const recorder = (opts: Partial<EventRecorderOptions> = {}): EventRecorder => {
    const r = new EventRecorder({
      kubeConfig: testCluster().kubeConfig(),
      reportingInstance: `pv-lifecycle-operator-test-${id}`,
      ...opts,
    });
    recorders.push(r);
    return r;
  };

  const refOf = (o: V1PersistentVolume | V1PersistentVolumeClaim, kind: string): ObjectRef => ({
    kind,
    apiVersion: 'v1',
    name: o.metadata?.name ?? '',
    namespace: o.metadata?.namespace,
    uid: o.metadata?.uid,
    resourceVersion: o.metadata?.resourceVersion,
  });

  /** A fresh volume per test, so spam-filter buckets and aggregation never carry over. */
  const newVolume = async (): Promise<V1PersistentVolume> =>
    core.createPersistentVolume({
      body: {
        metadata: { name: `events-${id}-${++n}` },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          hostPath: { path: `/tmp/events-${id}-${n}` },
          storageClassName: `events-${id}`,
        },
      },
    });

  const eventsAbout = async (namespace: string, uid: string | undefined): Promise<EventsV1Event[]> =>
    (await eventsApi.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.uid === uid);

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    volume = await newVolume();
    claim = await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: 'data' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '1Gi' } },
          storageClassName: `events-${id}`,
        },
      },
    });
  });

  afterEach(async () => {
    await Promise.all(recorders.map((r) => r.stop()));
    recorders = [];
  });

  after(async () => {
    const volumes = await core.listPersistentVolume();
    for (const v of volumes.items) {
      if (v.spec?.storageClassName === `events-${id}`) {
        await core.deletePersistentVolume({ name: v.metadata?.name ?? '' });
      }
    }
    for (const e of (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items) {
      if (e.regarding?.name?.startsWith(`events-${id}-`)) {
        await eventsApi.deleteNamespacedEvent({ name: e.metadata?.name ?? '', namespace: 'default' });
      }
    }
    await core.deleteNamespace({ name: ns });
  });

  it('writes an events.k8s.io/v1 Event about a PersistentVolume into default', async () => {
    const r = recorder();
    const before = Date.now();
    r.record(refOf(volume, 'PersistentVolume'), 'Normal', 'VolumeReady', 'Binding', 'the volume is ready');
    await r.flush();
    const events = await eventsAbout('default', volume.metadata?.uid);
    expect(events).to.have.length(1);
    const e = events[0] as EventsV1Event;
    expect(e.metadata?.name).to.match(new RegExp(`^${volume.metadata?.name ?? ''}\\.[0-9a-f]{16}$`));
    expect(e.metadata?.namespace).to.equal('default');
    expect(e.regarding).to.deep.include({
      kind: 'PersistentVolume',
      apiVersion: 'v1',
      name: volume.metadata?.name,
      uid: volume.metadata?.uid,
      resourceVersion: volume.metadata?.resourceVersion,
    });
    expect(e.regarding?.namespace).to.equal(undefined);
    expect(e).to.deep.include({
      type: 'Normal',
      reason: 'VolumeReady',
      action: 'Binding',
      note: 'the volume is ready',
      reportingController: 'pv-lifecycle-operator',
      reportingInstance: `pv-lifecycle-operator-test-${id}`,
    });
    expect(e.series).to.equal(undefined);
    // MicroTime, to the microsecond, of when it was recorded.
    const eventTime = new Date(e.eventTime).getTime();
    expect(eventTime).to.be.within(before - 1000, Date.now() + 1000);
    expect(r.stats).to.deep.include({ emitted: 1, creates: 1, patches: 0, failures: 0 });
  });

  it('writes an Event about a claim into its namespace, with the note cut to 1024 bytes', async () => {
    const r = recorder({ reportingController: 'example.com/events-test' });
    const note = `${'ü'.repeat(600)} and more`;
    r.record(refOf(claim, 'PersistentVolumeClaim'), 'Warning', 'ProvisioningFailed', 'Provisioning', note);
    await r.flush();
    const events = await eventsAbout(ns, claim.metadata?.uid);
    expect(events).to.have.length(1);
    const e = events[0] as EventsV1Event;
    expect(e.metadata?.namespace).to.equal(ns);
    expect(e.regarding).to.deep.include({ kind: 'PersistentVolumeClaim', name: 'data', namespace: ns });
    expect(e.type).to.equal('Warning');
    expect(e.reportingController).to.equal('example.com/events-test');
    expect(e.note).to.equal('ü'.repeat(512));
    expect(Buffer.byteLength(e.note ?? '')).to.equal(1024);
  });

  it('aggregates 5 repeats into one Event whose series.count is 5', async () => {
    const v = await newVolume();
    const r = recorder();
    for (let i = 0; i < 5; i++) {
      r.record(refOf(v, 'PersistentVolume'), 'Warning', 'VolumeFailed', 'Recycling', 'scrub job failed');
    }
    await r.flush();
    const events = await eventsAbout('default', v.metadata?.uid);
    expect(events).to.have.length(1);
    expect(events[0]?.series?.count).to.equal(5);
    const e = events[0] as EventsV1Event;
    const first = new Date(e.eventTime).getTime();
    const last = new Date(e.series?.lastObservedTime ?? 0).getTime();
    expect(last).to.be.at.least(first);
    expect(r.stats).to.deep.include({ emitted: 1, aggregated: 4 });
    // Everything the create missed went out in one patch, however many repeats there were.
    expect(r.stats.creates + r.stats.patches).to.be.at.most(2);
  });

  it('writes repeats once per heartbeat, not once per repeat', async () => {
    const v = await newVolume();
    const r = recorder({ heartbeatMs: 400 });
    const ref = refOf(v, 'PersistentVolume');
    r.record(ref, 'Normal', 'Tick', 'Binding', 'again');
    await r.flush();
    for (let i = 0; i < 50; i++) r.record(ref, 'Normal', 'Tick', 'Binding', 'again');
    await eventually(
      'the heartbeat to write the series',
      async () =>
        (await eventsAbout('default', v.metadata?.uid))[0]?.series?.count === 51 ? true : undefined,
      10_000,
    );
    await sleep(1000); // more heartbeats, with nothing left to write
    expect(r.stats).to.deep.include({ creates: 1, patches: 1, aggregated: 50 });
  });

  it('lets 40 distinct events about one object create at most 25 Events', async () => {
    const v = await newVolume();
    const r = recorder();
    for (let i = 0; i < 40; i++) {
      r.record(refOf(v, 'PersistentVolume'), 'Normal', `Reason${i}`, 'Binding', `event ${i}`);
    }
    await r.flush();
    const events = await eventsAbout('default', v.metadata?.uid);
    expect(events.length).to.be.at.most(25);
    expect(events).to.have.length(25);
    expect(r.stats).to.deep.include({ emitted: 25, droppedSpam: 15, creates: 25 });
  });

  it('creates the Event anew when the one it would patch is gone', async () => {
    const v = await newVolume();
    const r = recorder();
    const ref = refOf(v, 'PersistentVolume');
    r.record(ref, 'Normal', 'Again', 'Binding', 'same');
    await r.flush();
    const [created] = await eventsAbout('default', v.metadata?.uid);
    await eventsApi.deleteNamespacedEvent({ name: created?.metadata?.name ?? '', namespace: 'default' });
    r.record(ref, 'Normal', 'Again', 'Binding', 'same');
    r.record(ref, 'Normal', 'Again', 'Binding', 'same');
    await r.flush();
    const events = await eventsAbout('default', v.metadata?.uid);
    expect(events).to.have.length(1);
    expect(events[0]?.series?.count).to.equal(3);
    expect(events[0]?.metadata?.name).to.equal(created?.metadata?.name);
    expect(r.stats).to.deep.include({ creates: 2, failures: 0 });
  });

  it('logs, never throws, when the namespace does not exist, and does nothing after stop', async () => {
    const log = memoryLog();
    const r = recorder({ log });
    const ref: ObjectRef = {
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      name: 'orphan',
      namespace: `events-${id}-missing`,
      uid: 'no-such-uid',
    };
    expect(() => {
      r.record(ref, 'Warning', 'Orphaned', 'Binding', 'nobody will see this');
    }).not.to.throw();
    await r.flush();
    expect(r.stats).to.deep.include({ emitted: 1, creates: 0, failures: 1 });
    const line = log.lines.find((l) => l.message === 'event create refused');
    expect(line?.level).to.equal('debug');
    expect(line?.meta).to.include({ status: 404 });

    await r.stop();
    r.record(refOf(claim, 'PersistentVolumeClaim'), 'Normal', 'AfterStop', 'Binding', 'dropped');
    await r.flush();
    expect(r.stats.emitted).to.equal(1);
    expect((await eventsAbout(ns, claim.metadata?.uid)).map((e) => e.reason)).not.to.include('AfterStop');
  });
});
