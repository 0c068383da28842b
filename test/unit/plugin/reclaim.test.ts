import type { EventsV1Event } from '@kubernetes/client-node';
import { expect } from 'chai';

import { confirmed, progress, refusal, snapshot } from '../../../src/plugin/reclaim.ts';
import { pv } from '../../support/objects.ts';

describe('kubectl pvl release|recycle', () => {
  const released = pv('v', { phase: 'Released', claimRef: { namespace: 'ns', name: 'c', uid: 'u1' } });

  it('refuses what the operator would only drop, saying why', () => {
    expect(refusal(released, 'recycle')).to.equal(undefined);
    expect(refusal(pv('v'), 'release')).to.equal(
      'pvlifecycle.io/reclaim=release applies only to a Released volume; v is Available',
    );
    const bound = pv('v', { phase: 'Bound', claimRef: { namespace: 'ns', name: 'c', uid: 'u1' } });
    expect(refusal(bound, 'recycle')).to.match(/v is Bound$/);
    const asked = {
      ...released,
      metadata: { ...released.metadata, annotations: { 'pvlifecycle.io/reclaim': 'release' } },
    };
    expect(refusal(asked, 'recycle')).to.equal(
      'volume v already has the request pvlifecycle.io/reclaim=release',
    );
    const failedOnce = {
      ...released,
      metadata: {
        ...released.metadata,
        annotations: { 'pvlifecycle.io/reclaim-failures': 'u1/1/1700000000000' },
      },
      status: { phase: 'Failed' },
    };
    expect(refusal(failedOnce, 'recycle')).to.equal(undefined);
    expect(refusal(pv('v', { deleting: true, phase: 'Released' }), 'release')).to.equal(
      'volume v is being deleted',
    );
  });

  const ev = (name: string, reason: string, at: number, count?: number): EventsV1Event => ({
    metadata: { name },
    eventTime: new Date(at),
    type: reason.startsWith('Volume') ? 'Normal' : 'Warning',
    reason,
    note: `${reason} note`,
    series: count === undefined ? undefined : { count, lastObservedTime: new Date(at) },
  });

  it('waits for an outcome event that came after the request, a repeat counted up included', () => {
    const old = [ev('a', 'VolumeRecycled', 1), ev('b', 'ReclaimWaiting', 2, 2)];
    const before = snapshot(old);
    expect(progress('recycle', before, old)).to.deep.equal({ done: false, events: [] });
    const waiting = [old[0] as EventsV1Event, ev('b', 'ReclaimWaiting', 5, 3)];
    const p = progress('recycle', before, waiting);
    expect(p.done).to.equal(false);
    expect(p.events.map((e) => e.reason)).to.deep.equal(['ReclaimWaiting']);
    const done = progress('recycle', before, [...waiting, ev('c', 'VolumeRecycled', 9)]);
    expect(done).to.deep.include({ done: true, ok: true });
    expect(done.events.map((e) => e.reason)).to.deep.equal(['ReclaimWaiting', 'VolumeRecycled']);
  });

  it("a failure or a refusal ends the wait as not done; another request's outcome does not", () => {
    expect(progress('recycle', new Map(), [ev('x', 'VolumeFailedRecycle', 1)])).to.deep.include({
      done: true,
      ok: false,
    });
    expect(progress('release', new Map(), [ev('x', 'ReclaimRequestIgnored', 1)])).to.deep.include({
      done: true,
      ok: false,
    });
    expect(progress('release', new Map(), [ev('x', 'VolumeRecycled', 1)]).done).to.equal(false);
    expect(progress('release', new Map(), [ev('x', 'VolumeReleasedByRequest', 1)])).to.deep.include({
      done: true,
      ok: true,
    });
  });

  it('takes only y or yes as a confirmation', () => {
    for (const a of ['y', 'Y', 'yes', ' YES \n']) expect(confirmed(a), a).to.equal(true);
    for (const a of ['', 'n', 'no', 'yes please', 'ye']) expect(confirmed(a), a).to.equal(false);
  });
});
