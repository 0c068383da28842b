import type { V1Job, V1Lease } from '@kubernetes/client-node';
import { expect } from 'chai';

import { leaseLive, statusTable, summarise } from '../../../src/plugin/status.ts';
import { pv } from '../../support/objects.ts';

describe('kubectl pvl status', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  const lease = (renewed: string): V1Lease => ({
    spec: { holderIdentity: 'pod-a_1', renewTime: new Date(renewed), leaseDurationSeconds: 15 },
  });
  const job = (
    name: string,
    conditions: { type: string; status: string; reason?: string; message?: string }[],
  ): V1Job => ({
    metadata: { name, annotations: { 'pvlifecycle.io/volume-name': `pv-${name}` } },
    status: { conditions: conditions.map((c) => ({ ...c, lastTransitionTime: new Date(0) })) },
  });
  const input = {
    leaseName: 'pv-lifecycle-system/pv-lifecycle-operator',
    lease: lease('2026-01-01T00:00:50Z'),
    exports: [
      {
        metadata: { name: 'e1' },
        status: {
          phase: 'Bound',
          conditions: [{ type: 'ServerReachable', status: 'True', reason: 'Reachable' }],
        },
      },
      {
        metadata: { name: 'e2' },
        status: {
          phase: 'Available',
          conditions: [
            { type: 'ServerReachable', status: 'False', reason: 'Timeout', message: 'no answer in 5s' },
          ],
        },
      },
      { metadata: { name: 'e3' } },
    ],
    volumes: [pv('a'), pv('b', { phase: 'Bound' }), pv('c', { phase: 'Bound' })],
    jobs: [
      job('run', []),
      job('bad', [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'too slow' }]),
      job('ok', [{ type: 'Complete', status: 'True' }]),
    ],
    now,
  };

  it('a Lease is held only while younger than its duration', () => {
    expect(leaseLive(lease('2026-01-01T00:00:50Z'), now)).to.equal(true);
    expect(leaseLive(lease('2026-01-01T00:00:40Z'), now)).to.equal(false);
    expect(leaseLive({ spec: { renewTime: new Date(now), leaseDurationSeconds: 15 } }, now)).to.equal(false);
  });

  it('sums up exports, servers, volumes, scrubs and the leader', () => {
    const r = summarise(input);
    expect(r.leader).to.deep.equal({
      lease: input.leaseName,
      holder: 'pod-a_1',
      renewed: '2026-01-01T00:00:50.000Z',
      live: true,
    });
    expect(r.exports?.byPhase).to.deep.equal({ Bound: 1, Available: 1, Pending: 1 });
    expect(r.exports?.byReachability).to.deep.equal({ Reachable: 1, Unreachable: 1, NotProbed: 1 });
    expect(r.exports?.unreachable).to.deep.equal([
      { name: 'e2', reason: 'Timeout', message: 'no answer in 5s' },
    ]);
    expect(r.volumes).to.deep.equal({ total: 3, byPhase: { Available: 1, Bound: 2 } });
    expect(r.scrubs.inFlight.map((s) => s.volume)).to.deep.equal(['pv-run']);
    expect(r.scrubs.failed).to.deep.equal([
      { job: 'bad', volume: 'pv-bad', message: 'DeadlineExceeded: too slow' },
    ]);
    const text = statusTable(r, false).split('\n');
    expect(text).to.include.members([
      'leader    pod-a_1 (renewed 2026-01-01T00:00:50.000Z)',
      'volumes   3: Available 1, Bound 2',
      'exports   Available 1, Bound 1, Pending 1',
      'servers   NotProbed 1, Reachable 1, Unreachable 1',
      'scrubs    1 in flight, 1 failed',
      'e2       Timeout   no answer in 5s',
      'bad         pv-bad   Failed    DeadlineExceeded: too slow',
    ]);
  });

  it('says when there is no leader or no NfsExport CRD', () => {
    const r = summarise({ ...input, lease: undefined, exports: undefined, jobs: [] });
    expect(r.leader).to.deep.equal({ lease: input.leaseName, missing: true });
    const text = statusTable(r, false);
    expect(text).to.contain('no Lease');
    expect(text).to.contain('the NfsExport CRD is not installed');
    expect(statusTable(summarise({ ...input, now: now + 60_000 }), false)).to.contain('none: lease expired');
    const partial = { ...summarise(input), notes: ['only the first ones were read'] };
    expect(statusTable(partial, false).split('\n').at(-1)).to.equal('note: only the first ones were read');
  });
});
