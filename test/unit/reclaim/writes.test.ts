import type { V1Job, V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { annBoundByController } from '../../../src/kube/annotations.ts';
import {
  type FailPlan,
  annReclaimFailures,
  annReclaimRequest,
  failuresValue,
} from '../../../src/reclaim/decide.ts';
import { annScrubJob } from '../../../src/reclaim/trust.ts';
import {
  availableStatus,
  failedStatus,
  recycledVolume,
  releasedVolume,
  sameAnnotations,
  withFailure,
  withJobRecord,
  withoutFailures,
  withoutRequest,
} from '../../../src/reclaim/writes.ts';
import { pv } from '../../support/objects.ts';

const now = 1_700_000_000_000;

/** claimUid null: an administrator's pre-binding, without a uid. */
function released(annotations?: Record<string, string>, claimUid: string | null = 'claim-1') {
  const v = pv('v', {
    phase: 'Released',
    reclaimPolicy: 'Recycle',
    claimRef: { namespace: 'ns', name: 'c', ...(claimUid === null ? {} : { uid: claimUid }) },
  });
  v.metadata = { ...v.metadata, annotations };
  return v;
}

const job: V1Job = { metadata: { name: 'recycle-v-abcde', uid: 'job-uid' } };

function failPlan(over: Partial<FailPlan> = {}): FailPlan {
  return {
    action: 'fail',
    event: { type: 'Warning', reason: 'VolumeFailedRecycle', note: 'x' },
    message: 'scrub Job failed',
    deleteJob: true,
    operation: 'recycle',
    failures: 2,
    retry: true,
    requeueAfterMs: 20_000,
    ...over,
  };
}

describe('reclaim write bodies', () => {
  it('compares annotation maps by keys and values, not by their order', () => {
    expect(sameAnnotations({ a: '1', b: '2' }, { b: '2', a: '1' })).to.equal(true);
    expect(sameAnnotations(undefined, {})).to.equal(true);
    expect(sameAnnotations({ a: '1' }, { a: '2' })).to.equal(false);
    expect(sameAnnotations({ a: '1' }, { a: '1', b: '2' })).to.equal(false);
    expect(sameAnnotations({ a: '1', b: '2' }, { a: '1', c: '2' })).to.equal(false);
  });

  describe('the request and the failure count', () => {
    it('drops the request and only it, leaving no empty map', () => {
      const v = withoutRequest(released({ [annReclaimRequest]: 'wipe', keep: 'me' }));
      expect(v?.metadata?.annotations).to.deep.equal({ keep: 'me' });
      expect(withoutRequest(released({ [annReclaimRequest]: 'wipe' }))?.metadata?.annotations).to.equal(
        undefined,
      );
    });
    it('writes nothing when there is no request or failure count to drop', () => {
      expect(withoutRequest(released({ keep: 'me' }))).to.equal(undefined);
      expect(withoutFailures(released())).to.equal(undefined);
    });
    it('forgets the failure count of the release', () => {
      const v = withoutFailures(
        released({ [annReclaimFailures]: failuresValue('claim-1', 4, now), keep: 'me' }),
      );
      expect(v?.metadata?.annotations).to.deep.equal({ keep: 'me' });
    });
  });

  describe('the Job record', () => {
    it("records the release's claim uid with the Job's name and UID", () => {
      const v = withJobRecord(released({ keep: 'me' }), job);
      expect(v?.metadata?.annotations).to.deep.equal({
        keep: 'me',
        [annScrubJob]: 'claim-1/recycle-v-abcde/job-uid',
      });
    });
    it('writes nothing when that record is there already, and replaces an older one', () => {
      const recorded = released({ [annScrubJob]: 'claim-1/recycle-v-abcde/job-uid' });
      expect(withJobRecord(recorded, job)).to.equal(undefined);
      const old = withJobRecord(released({ [annScrubJob]: 'claim-0/recycle-v-zzzzz/old' }), job);
      expect(old?.metadata?.annotations?.[annScrubJob]).to.equal('claim-1/recycle-v-abcde/job-uid');
    });
  });

  describe('a failed reclaim', () => {
    it('records the failure count and drops the record of the Job about to be deleted', () => {
      const v = withFailure(released({ [annScrubJob]: 'claim-1/j/u', keep: 'me' }), failPlan(), now);
      expect(v?.metadata?.annotations).to.deep.equal({
        keep: 'me',
        [annReclaimFailures]: `claim-1/2/${String(now)}`,
      });
    });
    it('keeps a request while it is retried, and answers it once out of retries', () => {
      const asked = released({ [annReclaimRequest]: 'recycle' });
      expect(withFailure(asked, failPlan(), now)?.metadata?.annotations?.[annReclaimRequest]).to.equal(
        'recycle',
      );
      const answered = withFailure(asked, failPlan({ answerRequest: true }), now);
      expect(answered?.metadata?.annotations).to.not.have.property(annReclaimRequest);
      const noRetry = withFailure(asked, failPlan({ retry: false, requeueAfterMs: undefined }), now);
      expect(noRetry?.metadata?.annotations).to.not.have.property(annReclaimRequest);
    });
    it('writes no annotations when they would not change, whatever their order', () => {
      const plan = failPlan({
        failures: undefined,
        deleteJob: false,
        retry: false,
        requeueAfterMs: undefined,
      });
      expect(withFailure(released({ b: '2', a: '1' }), plan, now)).to.equal(undefined);
      expect(withFailure(released(), plan, now)).to.equal(undefined);
    });
    it('sets phase Failed with the message, stamping the transition, unless it says so already', () => {
      const at = new Date(now);
      const v = failedStatus(released(), 'scrub Job failed', at);
      expect(v?.status).to.deep.equal({
        phase: 'Failed',
        message: 'scrub Job failed',
        lastPhaseTransitionTime: at,
      });
      if (!v) throw new Error('expected a status write');
      expect(failedStatus(v, 'scrub Job failed', new Date(now + 1))).to.equal(undefined);
      expect(failedStatus(v, 'another message', at)?.status?.message).to.equal('another message');
    });
  });

  describe('freeing the volume', () => {
    const own = {
      [annReclaimRequest]: 'release',
      [annReclaimFailures]: failuresValue('claim-1', 1, now),
      [annScrubJob]: 'claim-1/j/u',
      keep: 'me',
    };

    it('on request: claimRef cleared, the release and bound-by-controller annotations gone', () => {
      const v = releasedVolume(released({ ...own, [annBoundByController]: 'yes' }));
      expect(v?.spec?.claimRef).to.equal(undefined);
      expect(v?.metadata?.annotations).to.deep.equal({ keep: 'me' });
      expect(releasedVolume({ ...released(), spec: { claimRef: undefined } })).to.equal(undefined);
    });

    it('after a recycle keeps an administrator pre-binding: the claim name stays, only the uid goes', () => {
      const v = recycledVolume(released(own));
      expect(v?.spec?.claimRef).to.deep.equal({ namespace: 'ns', name: 'c', uid: undefined });
      expect(v?.metadata?.annotations).to.deep.equal({ keep: 'me' });
    });

    it('after a recycle frees a volume the binder bound: claimRef and bound-by-controller removed', () => {
      const v = recycledVolume(released({ ...own, [annBoundByController]: 'yes' }));
      expect(v?.spec?.claimRef).to.equal(undefined);
      expect(v?.metadata?.annotations).to.deep.equal({ keep: 'me' });
    });

    it('leaves no empty annotation map behind, and writes nothing when nothing is left to clear', () => {
      const v = recycledVolume(released({ [annReclaimFailures]: 'x' }));
      expect(v?.metadata?.annotations).to.equal(undefined);
      expect(recycledVolume(released(undefined, null))).to.equal(undefined);
    });

    it('then makes it Available, unless it is already or the binder bound it meanwhile', () => {
      const at = new Date(now);
      const freed: V1PersistentVolume = { ...released(), spec: { claimRef: undefined } };
      expect(availableStatus(freed, at)?.status).to.deep.equal({
        phase: 'Available',
        lastPhaseTransitionTime: at,
      });
      const preBound = { ...released(undefined, null), status: { phase: 'Released', message: 'm' } };
      expect(availableStatus(preBound, at)?.status).to.deep.equal({
        phase: 'Available',
        lastPhaseTransitionTime: at,
      });
      expect(availableStatus({ ...freed, status: { phase: 'Available' } }, at)).to.equal(undefined);
      expect(availableStatus(released(), at)).to.equal(undefined);
    });
  });
});
