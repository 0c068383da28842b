// Reclaim decisions when the policy lives in pvlifecycle.io/reclaim-policy
// and when the in-tree PV controller runs beside the operator.
import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { annProvisionedBy, annReclaimPolicy, ourProvisioner } from '../../../src/kube/annotations.ts';
import {
  type ReclaimFacts,
  annReclaimRequest,
  planReclaim,
  scrubWanted,
} from '../../../src/reclaim/decide.ts';
import { recyclerJob } from '../../../src/reclaim/job.ts';
import { jobLeftRelease } from '../../../src/reclaim/trust.ts';
import { pv } from '../../support/objects.ts';

function volume(spec: string, annotations: Record<string, string> = {}): V1PersistentVolume {
  const v = pv('v', {
    phase: 'Released',
    reclaimPolicy: spec,
    claimRef: { namespace: 'ns', name: 'c', uid: 'claim-uid' },
  });
  v.metadata = { ...v.metadata, uid: 'pv-uid', annotations };
  return v;
}
const ours = (policy?: string): Record<string, string> => ({
  [annProvisionedBy]: ourProvisioner,
  ...(policy === undefined ? {} : { [annReclaimPolicy]: policy }),
});

function plan(v: V1PersistentVolume, besideInTreeBinder: boolean): string {
  const f: ReclaimFacts = {
    volume: v,
    claimExists: false,
    podsUsing: [],
    job: { state: 'absent' },
    scrubbable: { ok: true },
    maxRetries: 3,
    now: 1_000_000,
    besideInTreeBinder,
  };
  const p = planReclaim(f);
  return p.action === 'startJob' ? `startJob ${p.operation}` : p.action;
}

describe('reclaim with the policy in an annotation, and beside the in-tree binder', () => {
  // [what, volume, plan with our binder, plan beside the in-tree binder]
  const rows: [string, V1PersistentVolume, string, string][] = [
    [
      'ours, Retain spec, annotation Recycle',
      volume('Retain', ours('Recycle')),
      'startJob recycle',
      'startJob recycle',
    ],
    [
      'ours, Retain spec, annotation Delete',
      volume('Retain', ours('Delete')),
      'startJob delete',
      'startJob delete',
    ],
    ['ours, Retain spec, annotation Retain', volume('Retain', ours('Retain')), 'none', 'none'],
    ['ours, Retain spec, annotation not a policy', volume('Retain', ours('recycle')), 'none', 'none'],
    [
      'not ours, Retain spec, forged annotation Recycle',
      volume('Retain', { [annReclaimPolicy]: 'Recycle' }),
      'none',
      'none',
    ],
    [
      'another provisioner, Retain spec, forged annotation Delete',
      volume('Retain', { [annProvisionedBy]: 'nfs.csi.k8s.io', [annReclaimPolicy]: 'Delete' }),
      'none',
      'none',
    ],
    // The in-tree controller acts on these itself: acting too would scrub twice.
    ['not ours, Recycle spec', volume('Recycle'), 'startJob recycle', 'none'],
    ['ours, Recycle spec (not rewritten yet)', volume('Recycle', ours()), 'startJob recycle', 'none'],
    ['ours, Delete spec', volume('Delete', ours()), 'startJob delete', 'none'],
    [
      'not ours, Recycle spec, with a recycle request',
      volume('Recycle', { [annReclaimRequest]: 'recycle' }),
      'startJob recycle',
      'none',
    ],
    // Retain is never the in-tree controller's to reclaim: requests still work.
    [
      'not ours, Retain spec, with a recycle request',
      volume('Retain', { [annReclaimRequest]: 'recycle' }),
      'startJob recycle',
      'startJob recycle',
    ],
    ['not ours, Retain spec', volume('Retain'), 'none', 'none'],
  ];
  for (const [what, v, alone, beside] of rows) {
    it(`${what}: ${alone} with our binder, ${beside} beside the in-tree one`, () => {
      expect(plan(v, false)).to.equal(alone);
      expect(plan(v, true)).to.equal(beside);
      expect(scrubWanted(v, false)).to.equal(alone.startsWith('startJob') ? alone.slice(9) : undefined);
      expect(scrubWanted(v, true)).to.equal(beside.startsWith('startJob') ? beside.slice(9) : undefined);
    });
  }

  it('stops a Job of ours on a volume that the in-tree controller reclaims (after a switch of mode)', () => {
    const v = volume('Recycle', ours());
    const job = recyclerJob(v, { namespace: 'pv-lifecycle-system' });
    expect(jobLeftRelease(v, job, false)).to.equal(undefined);
    expect(jobLeftRelease(v, job, true)).to.equal(
      'the in-tree controller reclaims it (its spec says Recycle)',
    );
  });

  it('keeps a Job of ours that the annotation calls for, and stops it when the annotation turns Retain', () => {
    const v = volume('Retain', ours('Recycle'));
    const job = recyclerJob(v, { namespace: 'pv-lifecycle-system' });
    expect(jobLeftRelease(v, job, true)).to.equal(undefined);
    expect(jobLeftRelease(volume('Retain', ours('Retain')), job, true)).to.equal(
      'its reclaim policy is Retain now',
    );
    expect(jobLeftRelease(volume('Retain', ours('bogus')), job, true)).to.equal(
      'its reclaim policy is Retain now',
    );
  });
});
