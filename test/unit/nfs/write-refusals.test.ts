import { ApiException } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  WriteRefusals,
  refusalBaseDelayMs,
  refusalCondition,
  refusalDelayMs,
  refusalMaxDelayMs,
  refusalReason,
} from '../../../src/nfs/write-refusals.ts';

const apiError = (code: number, message: string) =>
  new ApiException(code, 'refused', JSON.stringify({ kind: 'Status', message }), {});

describe('refused volume writes', () => {
  it('treats answers about the request itself as refusals, not passing failures', () => {
    expect(refusalReason(apiError(422, 'x'))).to.equal('VolumeInvalid');
    expect(refusalReason(apiError(400, 'x'))).to.equal('VolumeInvalid');
    expect(refusalReason(apiError(413, 'x'))).to.equal('VolumeInvalid');
    expect(refusalReason(apiError(403, 'x'))).to.equal('VolumeForbidden');
    for (const code of [404, 409, 410, 429, 500, 503])
      expect(refusalReason(apiError(code, 'x'))).to.equal(undefined);
    expect(refusalReason(new Error('socket hang up'))).to.equal(undefined);
  });

  it('waits 10 s after the first refusal, doubling up to 10 minutes', () => {
    expect(refusalDelayMs(1)).to.equal(refusalBaseDelayMs);
    expect(refusalDelayMs(2)).to.equal(2 * refusalBaseDelayMs);
    expect(refusalDelayMs(4)).to.equal(8 * refusalBaseDelayMs);
    expect(refusalDelayMs(7)).to.equal(refusalMaxDelayMs);
    expect(refusalDelayMs(1e9)).to.equal(refusalMaxDelayMs);
    expect(refusalDelayMs(0)).to.equal(refusalBaseDelayMs);
  });

  it('puts the API server’s message in the condition, shortened', () => {
    const c = refusalCondition(
      'VolumeInvalid',
      'create PersistentVolume nfsx-a',
      apiError(422, 'PersistentVolume "nfsx-a" is invalid: metadata.labels: Invalid value'),
      20_000,
    );
    expect(c).to.include({ type: 'Ready', status: 'False', reason: 'VolumeInvalid' });
    expect(c.message).to.equal(
      'the API server refused to create PersistentVolume nfsx-a: PersistentVolume "nfsx-a" is invalid: ' +
        'metadata.labels: Invalid value (tried again in 20 s, or when the export changes)',
    );
    const long = refusalCondition('VolumeInvalid', 'x', apiError(422, 'y'.repeat(100_000)), 1000);
    expect(long.message.length).to.be.lessThan(1100);
  });

  it('holds the same write back until its time, and lets a different write go at once', () => {
    const r = new WriteRefusals();
    const cond = (ms: number) => refusalCondition('VolumeInvalid', 'w', apiError(422, 'no'), ms);
    expect(r.waiting('e', 'a', 0)).to.equal(undefined);
    expect(r.refused('e', 'a', 0, cond).retryInMs).to.equal(10_000);
    expect(r.waiting('e', 'a', 9_999)?.retryInMs).to.equal(1);
    expect(r.waiting('e', 'a', 9_999)?.condition.message).to.contain('tried again in 10 s');
    expect(r.waiting('e', 'a', 10_000)).to.equal(undefined);
    expect(r.waiting('e', 'b', 5_000), 'another write').to.equal(undefined);
    expect(r.waiting('other', 'a', 5_000), 'another export').to.equal(undefined);
    // Refused again: longer.
    expect(r.refused('e', 'a', 10_000, cond).retryInMs).to.equal(20_000);
    expect(r.refused('e', 'a', 30_000, cond).retryInMs).to.equal(40_000);
    // A different write starts the count afresh.
    expect(r.refused('e', 'b', 70_000, cond).retryInMs).to.equal(10_000);
    r.clear('e');
    expect(r.waiting('e', 'b', 70_001)).to.equal(undefined);
    expect(r.size).to.equal(0);
  });
});
