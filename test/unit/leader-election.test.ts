import type { V1Lease } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  type LeaseApi,
  type LeaseRecord,
  LeaderElector,
  decide,
  isExpired,
  nextRecord,
  observe,
  recordOf,
  releasedRecord,
  renewDeadlinePassed,
} from '../../src/runtime/leader-election.ts';
import { silentLog } from '../../src/runtime/log.ts';

const record = (over: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: 'other',
  leaseDurationSeconds: 15,
  acquireTimeMs: 1_000,
  renewTimeMs: 1_000,
  leaseTransitions: 0,
  ...over,
});

describe('leader election decisions', () => {
  it('creates the lease when there is none', () => {
    expect(decide(undefined, 'me', 0)).to.deep.equal({ action: 'create' });
  });

  it('waits while another holder renews, judged from when we first saw the record', () => {
    const seen = observe(undefined, record(), 100_000);
    // renewTime (1 s) is far behind our clock, but we saw it only at 100 s: not expired.
    expect(isExpired(seen, 100_000)).to.equal(false);
    expect(decide(seen, 'me', 114_999)).to.deep.equal({ action: 'wait', holder: 'other', expiresInMs: 1 });
  });

  it('keeps the first observation time while the record does not change', () => {
    const first = observe(undefined, record(), 10_000);
    const again = observe(first, record(), 20_000);
    expect(again.observedAtMs).to.equal(10_000);
    const renewed = observe(again, record({ renewTimeMs: 3_000 }), 21_000);
    expect(renewed.observedAtMs).to.equal(21_000);
  });

  it('takes over a lease not renewed for its duration', () => {
    const seen = observe(undefined, record(), 10_000);
    expect(isExpired(seen, 25_000)).to.equal(true);
    expect(decide(seen, 'me', 25_000)).to.deep.equal({ action: 'write' });
  });

  it('renews its own lease and takes a released one', () => {
    expect(decide(observe(undefined, record({ holderIdentity: 'me' }), 0), 'me', 0).action).to.equal('write');
    expect(decide(observe(undefined, record({ holderIdentity: '' }), 0), 'other', 0).action).to.equal(
      'write',
    );
  });

  it('counts a transition on a change of holder and keeps acquireTime on renewal', () => {
    expect(nextRecord(undefined, 'me', 15, 5)).to.deep.equal({
      holderIdentity: 'me',
      leaseDurationSeconds: 15,
      acquireTimeMs: 5,
      renewTimeMs: 5,
      leaseTransitions: 0,
    });
    const taken = nextRecord(record({ leaseTransitions: 3 }), 'me', 15, 50);
    expect(taken.leaseTransitions).to.equal(4);
    expect(taken.acquireTimeMs).to.equal(50);
    const renewed = nextRecord(taken, 'me', 15, 60);
    expect(renewed).to.deep.include({ leaseTransitions: 4, acquireTimeMs: 50, renewTimeMs: 60 });
  });

  it('releases with no holder and a one-second lease', () => {
    expect(releasedRecord(record({ holderIdentity: 'me', leaseTransitions: 2 }), 9)).to.deep.equal({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTimeMs: 9,
      renewTimeMs: 9,
      leaseTransitions: 2,
    });
  });

  it('gives up once the renew deadline has passed since the last successful renewal', () => {
    expect(renewDeadlinePassed(1_000, 10_000, 10_999)).to.equal(false);
    expect(renewDeadlinePassed(1_000, 10_000, 11_000)).to.equal(true);
  });
});

/** An in-memory Lease store with the API's resourceVersion preconditions. */
class FakeLeases implements LeaseApi {
  lease: V1Lease | undefined;
  failing = false;
  private rv = 0;

  readNamespacedLease(): Promise<V1Lease> {
    if (this.failing) return Promise.reject(new Error('connection refused'));
    if (!this.lease) return Promise.reject(Object.assign(new Error('not found'), { code: 404 }));
    return Promise.resolve(structuredClone(this.lease));
  }

  createNamespacedLease(p: { body: V1Lease }): Promise<V1Lease> {
    if (this.failing) return Promise.reject(new Error('connection refused'));
    if (this.lease) {
      return Promise.reject(Object.assign(new Error('exists'), { code: 409, body: 'AlreadyExists' }));
    }
    this.lease = this.stored(p.body);
    return Promise.resolve(structuredClone(this.lease));
  }

  replaceNamespacedLease(p: { body: V1Lease }): Promise<V1Lease> {
    if (this.failing) return Promise.reject(new Error('connection refused'));
    if (p.body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) {
      return Promise.reject(Object.assign(new Error('conflict'), { code: 409, body: 'Conflict' }));
    }
    this.lease = this.stored(p.body);
    return Promise.resolve(structuredClone(this.lease));
  }

  record(): LeaseRecord {
    if (!this.lease) throw new Error('no lease');
    return recordOf(this.lease);
  }

  // As the API returns it: times as strings, a new resourceVersion.
  private stored(body: V1Lease): V1Lease {
    const json = JSON.parse(JSON.stringify(body)) as V1Lease;
    json.metadata = { ...json.metadata, resourceVersion: String(++this.rv) };
    return json;
  }
}

describe('LeaderElector (fake clock, in-memory lease)', () => {
  let clock = 0;
  let api: FakeLeases;
  const events: string[] = [];
  const status = new Map<string, boolean>();

  const elector = (identity: string) =>
    new LeaderElector({
      api,
      namespace: 'ns',
      name: 'lease',
      identity,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      log: silentLog,
      now: () => clock,
      onStartedLeading: () => events.push(`${identity} started`),
      onStoppedLeading: ({ released }) =>
        events.push(`${identity} stopped ${released ? 'released' : 'lost'}`),
      metrics: {
        setLeader: (name, leader) => status.set(`${name}/${identity}`, leader),
      },
    });

  beforeEach(() => {
    clock = 1_000_000;
    api = new FakeLeases();
    events.length = 0;
    status.clear();
  });

  it('acquires an absent lease and reports it', async () => {
    const a = elector('a');
    expect(status.get('lease/a')).to.equal(false);
    expect(await a.tick()).to.equal(true);
    expect(a.isLeader).to.equal(true);
    expect(events).to.deep.equal(['a started']);
    expect(status.get('lease/a')).to.equal(true);
    expect(api.record()).to.deep.include({
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
    });
  });

  it('respects a live lease of another holder, and takes it over once expired', async () => {
    const a = elector('a');
    const b = elector('b');
    await a.tick();
    expect(await b.tick()).to.equal(false);
    clock += 14_999;
    expect(await b.tick()).to.equal(false);
    clock += 1;
    expect(await b.tick()).to.equal(true);
    expect(api.record()).to.deep.include({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(events).to.deep.equal(['a started', 'b started']);
    // The old leader, renewing late, sees the new holder and stops for good.
    expect(await a.tick()).to.equal(false);
    expect(events).to.deep.equal(['a started', 'b started', 'a stopped lost']);
  });

  it('does not take over a lease that keeps being renewed', async () => {
    const a = elector('a');
    const b = elector('b');
    await a.tick();
    for (let i = 0; i < 20; i++) {
      clock += 2_000;
      expect(await a.tick()).to.equal(true);
      expect(await b.tick()).to.equal(false);
    }
    expect(api.record()).to.deep.include({ holderIdentity: 'a', leaseTransitions: 0 });
    expect(api.record().renewTimeMs).to.equal(clock);
  });

  it('gives up after the renew deadline without a successful renewal, and never leads again', async () => {
    const a = elector('a');
    await a.tick();
    api.failing = true;
    clock += 9_999;
    expect(await a.tick()).to.equal(true);
    clock += 1;
    expect(await a.tick()).to.equal(false);
    expect(events).to.deep.equal(['a started', 'a stopped lost']);
    expect(status.get('lease/a')).to.equal(false);
    api.failing = false;
    expect(await a.tick()).to.equal(false);
    expect(a.active).to.equal(false);
  });

  it('loses a race for the lease on a resourceVersion conflict', async () => {
    const a = elector('a');
    const b = elector('b');
    await a.tick();
    clock += 15_000;
    await b.tick(); // observes a's record: its lease counts from now
    clock += 15_000;
    // a renews between b's read and b's write.
    const read = api.readNamespacedLease.bind(api);
    api.readNamespacedLease = async () => {
      const lease = await read();
      api.readNamespacedLease = read;
      await a.tick();
      return lease;
    };
    expect(await b.tick()).to.equal(false);
    expect(api.record().holderIdentity).to.equal('a');
  });

  it('release hands the lease over at once', async () => {
    const a = elector('a');
    const b = elector('b');
    await a.tick();
    await b.tick();
    await a.release();
    expect(events).to.deep.equal(['a started', 'a stopped released']);
    expect(api.record()).to.deep.include({ holderIdentity: '', leaseDurationSeconds: 1 });
    expect(await b.tick()).to.equal(true);
    expect(api.record()).to.deep.include({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('release by a standby leaves the lease alone', async () => {
    const a = elector('a');
    const b = elector('b');
    await a.tick();
    await b.tick();
    await b.release();
    expect(events).to.deep.equal(['a started']);
    expect(api.record().holderIdentity).to.equal('a');
  });

  it('rejects timings where the renew deadline or the retry period is too long', () => {
    expect(
      () =>
        new LeaderElector({
          api,
          namespace: 'ns',
          name: 'x',
          leaseDurationMs: 10_000,
          renewDeadlineMs: 10_000,
          log: silentLog,
          onStartedLeading: () => undefined,
          onStoppedLeading: () => undefined,
        }),
    ).to.throw(/renew deadline/);
  });
});
