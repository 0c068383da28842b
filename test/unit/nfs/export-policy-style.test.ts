// NfsExport volumes beside the in-tree binder: the policy in our annotation,
// Retain in the spec, and both ways of switching.
import { expect } from 'chai';

import { annReclaimPolicy } from '../../../src/kube/annotations.ts';
import { effectiveReclaimPolicy } from '../../../src/kube/reclaim-policy.ts';
import { type NfsExport, desiredVolume, planVolumeChange } from '../../../src/nfs/export.ts';
import { planExport } from '../../../src/nfs/plan.ts';

const exp = (policy?: string): NfsExport & { metadata: { name: string } } => ({
  metadata: { name: 'data', uid: 'export-uid', finalizers: ['pvlifecycle.io/volume-protection'] },
  spec: {
    server: '127.0.0.1',
    path: '/exports/data',
    capacity: '1Gi',
    accessModes: ['ReadWriteMany'],
    ...(policy === undefined ? {} : { persistentVolumeReclaimPolicy: policy }),
  },
});
const beside = { policyInAnnotation: true };

describe('NfsExport volumes beside the in-tree binder', () => {
  for (const policy of ['Recycle', 'Delete', 'Retain', undefined]) {
    it(`carries ${policy ?? 'the default Retain'} in the annotation, with a Retain spec`, () => {
      const v = desiredVolume(exp(policy), beside);
      expect(v.spec?.persistentVolumeReclaimPolicy).to.equal('Retain');
      expect(v.metadata?.annotations?.[annReclaimPolicy]).to.equal(policy ?? 'Retain');
      // What the reclaimer will act on is the export's policy.
      expect(effectiveReclaimPolicy(v)).to.deep.equal({ policy: policy ?? 'Retain', from: 'annotation' });
    });
  }

  it('leaves the annotation out with its own binder, as before', () => {
    const v = desiredVolume(exp('Recycle'));
    expect(v.spec?.persistentVolumeReclaimPolicy).to.equal('Recycle');
    expect(v.metadata?.annotations).to.not.have.property(annReclaimPolicy);
    expect(desiredVolume(exp('Recycle'), {})).to.deep.equal(v);
  });

  it('moves the policy into the annotation when the mode changes, even while bound', () => {
    const v = structuredClone(desiredVolume(exp('Recycle')));
    v.spec = { ...v.spec, claimRef: { namespace: 'ns', name: 'c', uid: 'u' } };
    const c = planVolumeChange(exp('Recycle'), v, beside);
    expect(c.drifted).to.include.members(['persistentVolumeReclaimPolicy', 'annotations']);
    expect(c.update?.spec?.persistentVolumeReclaimPolicy).to.equal('Retain');
    expect(c.update?.metadata?.annotations?.[annReclaimPolicy]).to.equal('Recycle');
    expect(c.update?.spec?.claimRef).to.deep.equal(v.spec.claimRef);
  });

  it('moves it back into the spec and drops the annotation when its own binder runs again', () => {
    const v = structuredClone(desiredVolume(exp('Recycle'), beside));
    const c = planVolumeChange(exp('Recycle'), v);
    expect(c.update?.spec?.persistentVolumeReclaimPolicy).to.equal('Recycle');
    expect(c.update?.metadata?.annotations).to.not.have.property(annReclaimPolicy);
  });

  it('puts back a hand-edited annotation, and has nothing to change when all is as declared', () => {
    const v = structuredClone(desiredVolume(exp('Recycle'), beside));
    expect(planVolumeChange(exp('Recycle'), v, beside).update).to.equal(undefined);
    v.metadata = { ...v.metadata, annotations: { ...v.metadata?.annotations, [annReclaimPolicy]: 'Retain' } };
    const c = planVolumeChange(exp('Recycle'), v, beside);
    expect(c.update?.metadata?.annotations?.[annReclaimPolicy]).to.equal('Recycle');
  });

  it('creates a missing volume in that style', () => {
    const p = planExport({
      export: exp('Delete'),
      volume: undefined,
      verdict: { kind: 'ok' },
      claim: undefined,
      style: beside,
    });
    expect(p.action).to.equal('createVolume');
    if (p.action !== 'createVolume') return;
    expect(p.body.spec?.persistentVolumeReclaimPolicy).to.equal('Retain');
    expect(p.body.metadata?.annotations?.[annReclaimPolicy]).to.equal('Delete');
  });
});
