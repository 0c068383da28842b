import type { V1StorageClass } from '@kubernetes/client-node';
import { expect } from 'chai';

import { explainNoMatch } from '../../../src/binding/explain.ts';
import { explainClaim, shownCandidates, verdict, whyTable } from '../../../src/plugin/why.ts';
import { pv, pvc } from '../../support/objects.ts';

describe('kubectl pvl why', () => {
  const claim = pvc('data', { size: '2Gi', storageClass: 'fast', modes: ['ReadWriteMany'] });
  const volumes = [
    pv('small', { size: '1Gi', storageClass: 'fast', modes: ['ReadWriteMany'] }),
    pv('slow', { size: '5Gi', storageClass: 'slow', modes: ['ReadWriteMany'] }),
    pv('rwo', { size: '5Gi', storageClass: 'fast' }),
    pv('taken', { storageClass: 'fast', claimRef: { namespace: 'other', name: 'c', uid: 'u' } }),
  ];
  const fast: V1StorageClass = { metadata: { name: 'fast' }, provisioner: 'kubernetes.io/no-provisioner' };

  it("names every volume with the first rule it fails, nearest first, and the binder's event", () => {
    const r = explainClaim(claim, volumes, [fast]);
    expect(r.decision).to.equal('pending');
    expect(r.candidates).to.deep.equal([
      { volume: 'small', rule: 'size', reason: 'too small (1Gi < 2Gi)' },
      { volume: 'rwo', rule: 'accessModes', reason: 'lacks ReadWriteMany' },
      { volume: 'slow', rule: 'storageClass', reason: 'storage class "slow"' },
      { volume: 'taken', rule: 'claimRef', reason: 'bound to other/c' },
    ]);
    // The binder's own words: the same explanation its FailedBinding/ProvisioningFailed event carries.
    expect(r.event?.reason).to.equal('ProvisioningFailed');
    expect(r.event?.note).to.contain(explainNoMatch(claim, volumes));
    const text = whyTable(r, false);
    expect(text.split('\n')[0]).to.equal(
      `claim ns/data is Pending: ProvisioningFailed: ${r.event?.note ?? ''}`,
    );
    expect(text).to.match(/^small {4}no {5}size {11}too small \(1Gi < 2Gi\)$/m);
    expect(text).to.contain('held back by the running operator only');
  });

  it('says which volume the binder would take when one fits (the operator is not binding)', () => {
    const fits = pv('right', { size: '3Gi', storageClass: 'fast', modes: ['ReadWriteMany'] });
    const r = explainClaim(claim, [...volumes, fits], [fast]);
    expect(r).to.include({ decision: 'bind', volume: 'right' });
    expect(r.candidates[0]).to.deep.equal({ volume: 'right', reason: 'fits' });
    expect(verdict(r)).to.contain('would bind it to right now');
  });

  it('a WaitForFirstConsumer class leaves free volumes to the scheduler', () => {
    const wait: V1StorageClass = { ...fast, volumeBindingMode: 'WaitForFirstConsumer' };
    const fits = pv('right', { size: '3Gi', storageClass: 'fast', modes: ['ReadWriteMany'] });
    const r = explainClaim(claim, [fits], [wait]);
    expect(r.decision).to.equal('pending');
    expect(r.event?.reason).to.equal('WaitForFirstConsumer');
    expect(r.candidates).to.deep.equal([
      { volume: 'right', rule: 'delayBinding', reason: 'left to the scheduler (WaitForFirstConsumer)' },
    ]);
  });

  it('no volumes at all, and a Bound claim', () => {
    expect(whyTable(explainClaim(claim, [], [fast]), false)).to.contain('no PersistentVolumes exist');
    const bound = { ...claim, spec: { ...claim.spec, volumeName: 'v' }, status: { phase: 'Bound' } };
    const r = explainClaim(
      bound,
      [pv('v', { claimRef: { namespace: 'ns', name: 'data', uid: 'uid-data' } })],
      [],
    );
    expect(verdict(r)).to.equal('claim ns/data is Bound to v');
  });

  it('names the nearest volumes and counts the rest by reason', () => {
    const many = Array.from({ length: shownCandidates + 5 }, (_x, i) =>
      pv(`v${String(i).padStart(2, '0')}`, { storageClass: 'slow', modes: ['ReadWriteMany'] }),
    );
    const text = whyTable(explainClaim(claim, many, [fast]), false);
    expect(text).to.contain('v19');
    expect(text).not.to.contain('v20');
    expect(text).to.contain('... and 5 more: other storage classes');
  });
});
