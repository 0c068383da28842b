// The chaos bench's judge: each invariant fires on a history that breaks it,
// and a correct release-and-rebind history passes, whatever order its events
// arrived in.
import { expect } from 'chai';

import {
  type ClaimRec,
  type JobRec,
  type PodRec,
  type Rec,
  type VolumeRec,
  type WatchEvent,
  World,
  convergenceProblems,
  halfBound,
  recordOf,
  replay,
  revisionOf,
} from '../../bench/chaos/check.ts';

let rv = 100;
let seq = 0;
function ev(kind: WatchEvent['kind'], rec: Rec, type: WatchEvent['type'] = 'MODIFIED'): WatchEvent {
  rv += 1;
  return { kind, type, rv, seq: seq++, at: rv, rec };
}
const claim = (uid: string, s: Partial<ClaimRec> = {}): ClaimRec => ({
  uid,
  name: `chaos/${uid}`,
  volumeName: '',
  phase: 'Pending',
  deleting: false,
  ...s,
});
const volume = (s: Partial<VolumeRec> = {}): VolumeRec => ({
  uid: 'v-uid',
  name: 'v',
  claimUid: '',
  claim: '',
  phase: 'Available',
  policy: 'Recycle',
  ...s,
});
const job = (s: Partial<JobRec> = {}): JobRec => ({
  uid: 'j-uid',
  name: 'scrub-v',
  volumeName: 'v',
  volumeUid: 'v-uid',
  claimUid: 'a',
  operation: 'recycle',
  ...s,
});
const pod = (phase: string, s: Partial<PodRec> = {}): PodRec => ({
  uid: 'p-uid',
  name: 'scrub-v-x',
  jobUid: 'j-uid',
  phase,
  deleting: false,
  ...s,
});
const refTo = (uid: string) => ({ claimUid: uid, claim: `chaos/${uid}` });

/** Claim a binds to v, is deleted, v is scrubbed and freed, claim b binds. */
function releaseAndRebind(): WatchEvent[] {
  return [
    ev('volume', volume(), 'ADDED'),
    ev('claim', claim('a'), 'ADDED'),
    ev('volume', volume(refTo('a'))),
    ev('volume', volume({ ...refTo('a'), phase: 'Bound' })),
    ev('claim', claim('a', { volumeName: 'v' })),
    ev('claim', claim('a', { volumeName: 'v', phase: 'Bound' })),
    ev('claim', claim('a', { volumeName: 'v', phase: 'Bound', deleting: true })),
    ev('claim', claim('a', { volumeName: 'v', phase: 'Bound', deleting: true }), 'DELETED'),
    ev('volume', volume({ ...refTo('a'), phase: 'Released' })),
    ev('job', job(), 'ADDED'),
    ev('pod', pod('Pending'), 'ADDED'),
    ev('pod', pod('Running')),
    ev('pod', pod('Succeeded')),
    ev('volume', volume({ phase: 'Available' })),
    ev('job', job(), 'DELETED'),
    ev('claim', claim('b'), 'ADDED'),
    ev('volume', volume(refTo('b'))),
    ev('volume', volume({ ...refTo('b'), phase: 'Bound' })),
    ev('claim', claim('b', { volumeName: 'v' })),
    ev('claim', claim('b', { volumeName: 'v', phase: 'Bound' })),
  ];
}

describe('chaos bench judge', () => {
  beforeEach(() => {
    rv = 100;
  });

  it('passes a release, scrub and rebind, and the end state is converged', () => {
    const h = replay(releaseAndRebind());
    expect(h.violations).to.deep.equal([]);
    expect(halfBound(h.world)).to.deep.equal([]);
    expect(convergenceProblems(h.world, { reusable: ['v'], retain: [] })).to.deep.equal([]);
  });

  it('orders by revision, not by arrival: a claim deletion that arrives after the Job is no violation', () => {
    const events = releaseAndRebind();
    const reversed = [...events].reverse().map((e, i) => ({ ...e, seq: i }));
    expect(replay(reversed).violations).to.deep.equal([]);
  });

  it('finds two claims Bound to one volume, once while it lasts', () => {
    const h = replay([
      ev('volume', volume({ ...refTo('a'), phase: 'Bound' }), 'ADDED'),
      ev('claim', claim('a', { volumeName: 'v', phase: 'Bound' }), 'ADDED'),
      ev('claim', claim('b', { volumeName: 'v', phase: 'Bound' }), 'ADDED'),
      ev('claim', claim('b', { volumeName: 'v', phase: 'Bound', deleting: true })),
    ]);
    const rules = h.violations.map((v) => v.rule);
    expect(rules).to.deep.equal(['two-claims-bound', 'claimref-names-another-claim']);
    expect(h.violations[0]?.times).to.equal(2);
    expect(h.violations[0]?.detail).to.contain('chaos/a').and.contain('chaos/b');
  });

  it('finds a claim Bound to a volume whose claimRef was cleared', () => {
    const h = replay([
      ev('volume', volume({ ...refTo('a'), phase: 'Bound' }), 'ADDED'),
      ev('claim', claim('a', { volumeName: 'v', phase: 'Bound' }), 'ADDED'),
      ev('volume', volume({ phase: 'Available' })),
    ]);
    expect(h.violations.map((v) => v.rule)).to.deep.equal(['bound-claim-without-volume']);
  });

  it('finds a scrub Job created while its released claim still exists', () => {
    const h = replay([
      ev('volume', volume({ ...refTo('a'), phase: 'Bound' }), 'ADDED'),
      ev('claim', claim('a', { volumeName: 'v', phase: 'Bound', deleting: true }), 'ADDED'),
      ev('job', job(), 'ADDED'),
    ]);
    expect(h.violations.map((v) => v.rule)).to.deep.equal(['job-while-claim-exists']);
    expect(h.violations[0]?.detail).to.contain('being deleted');
  });

  it('finds a scrub Job for a Retain volume, and one for a release the volume has left', () => {
    const retain = replay([
      ev('volume', volume({ ...refTo('a'), phase: 'Released', policy: 'Retain' }), 'ADDED'),
      ev('job', job(), 'ADDED'),
    ]);
    expect(retain.violations.map((v) => v.rule)).to.deep.equal(['job-for-retain-volume']);
    const stale = replay([ev('volume', volume({ phase: 'Available' }), 'ADDED'), ev('job', job(), 'ADDED')]);
    expect(stale.violations.map((v) => v.rule)).to.deep.equal(['job-for-another-release']);
    const remade = replay([
      ev('volume', volume({ uid: 'new', ...refTo('a'), phase: 'Released' }), 'ADDED'),
      ev('job', job(), 'ADDED'),
    ]);
    expect(remade.violations.map((v) => v.rule)).to.deep.equal(['job-for-another-release']);
  });

  it('finds a scrub pod still running once the volume is bound to a new claim', () => {
    const events = [
      ev('volume', volume({ ...refTo('a'), phase: 'Released' }), 'ADDED'),
      ev('job', job(), 'ADDED'),
      ev('pod', pod('Running'), 'ADDED'),
      ev('volume', volume({ phase: 'Available' })),
      ev('claim', claim('b'), 'ADDED'),
      ev('volume', volume(refTo('b'))),
      ev('pod', pod('Succeeded')),
    ];
    const h = replay(events);
    expect(h.violations.map((v) => v.rule)).to.deep.equal(['scrub-pod-while-bound']);
    expect(h.violations[0]?.detail).to.contain('scrub-v-x').and.contain('chaos/b');
  });

  it('cannot judge a Job first learnt of from a relist, and says so', () => {
    const h = replay([ev('volume', volume(), 'ADDED'), { ...ev('job', job(), 'ADDED'), listed: true }]);
    expect(h.violations).to.deep.equal([]);
    expect(h.unverified).to.have.length(1);
  });

  it('finds half-bound claims and volumes in the end state', () => {
    const w = new World();
    for (const e of [
      ev('claim', claim('a', { volumeName: 'v' }), 'ADDED'),
      ev('volume', volume({ ...refTo('a'), phase: 'Bound' }), 'ADDED'),
      ev('claim', claim('b'), 'ADDED'),
      ev('volume', volume({ uid: 'w-uid', name: 'w', ...refTo('b'), phase: 'Bound' }), 'ADDED'),
    ])
      w.apply(e);
    const found = halfBound(w).map((v) => `${v.volume}: ${v.detail}`);
    expect(found).to.deep.equal([
      'v: claim chaos/a names the volume but is Pending',
      'w: its claimRef names chaos/b, whose volumeName is empty',
    ]);
  });

  it('is not converged while a volume is Released or a Job is left, except a Retain volume', () => {
    const w = new World();
    w.apply(ev('volume', volume({ ...refTo('gone'), phase: 'Released' }), 'ADDED'));
    w.apply(
      ev(
        'volume',
        volume({ uid: 'k', name: 'kept', ...refTo('gone'), phase: 'Released', policy: 'Retain' }),
        'ADDED',
      ),
    );
    w.apply(ev('job', job(), 'ADDED'));
    expect(convergenceProblems(w, { reusable: ['v'], retain: ['kept'] })).to.deep.equal([
      'volume v Released (claimRef chaos/gone, gone)',
      'scrub Job scrub-v still exists',
    ]);
  });

  it('reads typed objects and raw JSON alike, and refuses a revision it cannot order', () => {
    const raw = {
      metadata: {
        uid: 'p',
        name: 'scrub-x',
        resourceVersion: '42',
        ownerReferences: [{ uid: 'j', controller: true }],
      },
      status: { phase: 'Running' },
    };
    expect(recordOf('pod', raw)).to.deep.equal({
      uid: 'p',
      name: 'scrub-x',
      jobUid: 'j',
      phase: 'Running',
      deleting: false,
    });
    expect(revisionOf(raw)).to.equal(42);
    expect(() => revisionOf({ metadata: { resourceVersion: 'abc' } })).to.throw('not an etcd revision');
    const pvObj = {
      metadata: { uid: 'u', name: 'v', resourceVersion: '7' },
      spec: { claimRef: { uid: 'c', namespace: 'chaos', name: 'x' } },
      status: { phase: 'Bound' },
    };
    expect(recordOf('volume', pvObj)).to.deep.include({ claimUid: 'c', claim: 'chaos/x', policy: 'Retain' });
  });
});
