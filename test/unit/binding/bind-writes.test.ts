import { expect } from 'chai';

import {
  claimBoundToVolume,
  claimWithPhase,
  volumeBoundToClaim,
  volumeUnbound,
  volumeWithPhase,
} from '../../../src/binding/bind-writes.ts';
import { pv, pvc } from '../../support/objects.ts';

const claim = { ...pvc('c'), metadata: { ...pvc('c').metadata, resourceVersion: '42' } };
const now = new Date('2026-11-23T10:00:00Z');

describe('bind writes', () => {
  it('write 1 sets a full claimRef and bound-by-controller on a free volume', () => {
    const v = volumeBoundToClaim(pv('v'), claim);
    expect(v?.spec?.claimRef).to.deep.equal({
      kind: 'PersistentVolumeClaim',
      apiVersion: 'v1',
      namespace: 'ns',
      name: 'c',
      uid: 'uid-c',
      resourceVersion: '42',
    });
    expect(v?.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal('yes');
  });

  it('write 1 fills the uid of a user pre-binding without claiming it was the controller', () => {
    const v = volumeBoundToClaim(pv('v', { claimRef: { namespace: 'ns', name: 'c' } }), claim);
    expect(v?.spec?.claimRef?.uid).to.equal('uid-c');
    expect(v?.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.be.undefined;
  });

  it('write 1 is skipped when the volume already names the claim', () => {
    const done = volumeBoundToClaim(pv('v'), claim);
    expect(done && volumeBoundToClaim(done, claim)).to.be.undefined;
  });

  it('write 2 sets the phase and stamps the transition, and is skipped when unchanged', () => {
    const v = volumeWithPhase(pv('v'), 'Bound', undefined, now);
    expect(v?.status?.phase).to.equal('Bound');
    expect(v?.status?.lastPhaseTransitionTime).to.equal(now);
    expect(v && volumeWithPhase(v, 'Bound', undefined, now)).to.be.undefined;
  });

  it('write 3 sets volumeName with both annotations when the binder chose the volume', () => {
    const c = claimBoundToVolume(claim, pv('v'));
    expect(c?.spec?.volumeName).to.equal('v');
    expect(c?.metadata?.annotations).to.deep.equal({
      'pv.kubernetes.io/bound-by-controller': 'yes',
      'pv.kubernetes.io/bind-completed': 'yes',
    });
    expect(c && claimBoundToVolume(c, pv('v'))).to.be.undefined;
  });

  it('write 3 adds only bind-completed when the user named the volume', () => {
    const c = claimBoundToVolume(pvc('c', { volumeName: 'v' }), pv('v'));
    expect(c?.metadata?.annotations).to.deep.equal({ 'pv.kubernetes.io/bind-completed': 'yes' });
  });

  it('write 4 copies phase, access modes and capacity from the volume', () => {
    const volume = pv('v', { size: '5Gi', modes: ['ReadWriteOnce', 'ReadOnlyMany'] });
    const c = claimWithPhase(claim, 'Bound', volume);
    expect(c?.status).to.deep.equal({
      phase: 'Bound',
      accessModes: ['ReadWriteOnce', 'ReadOnlyMany'],
      capacity: { storage: '5Gi' },
    });
    expect(c && claimWithPhase(c, 'Bound', volume)).to.be.undefined;
  });

  it('write 4 sets the capacity only as the claim becomes Bound, never rewriting it later', () => {
    const c = claimWithPhase(claim, 'Bound', pv('v', { size: '5Gi' }));
    expect(c?.status?.capacity).to.deep.equal({ storage: '5Gi' });
    // The volume was expanded; its filesystem (and so the claim) follows later, by the resizer.
    expect(c && claimWithPhase(c, 'Bound', pv('v', { size: '8Gi' }))).to.be.undefined;
    // The same size spelt differently is no change either.
    const pending = { ...claim, status: { phase: 'Pending', capacity: { storage: '1Gi' } } };
    expect(claimWithPhase(pending, 'Bound', pv('v', { size: '1073741824' }))?.status?.capacity).to.deep.equal(
      {
        storage: '1Gi',
      },
    );
  });

  it('write 4 takes the pre-resize capacity an expansion left on the volume', () => {
    const expanded = (value: string) => {
      const v = pv('v', { size: '2Gi' });
      v.metadata = {
        ...v.metadata,
        annotations: { 'volume.alpha.kubernetes.io/pre-resize-capacity': value },
      };
      return v;
    };
    expect(claimWithPhase(claim, 'Bound', expanded('1Gi'))?.status?.capacity).to.deep.equal({
      storage: '1Gi',
    });
    // A value that is no usable size counts as absent: the volume's capacity.
    for (const bad of ['lots', '-1Gi', '0', '1e10000000', `1${'0'.repeat(70)}`]) {
      expect(claimWithPhase(claim, 'Bound', expanded(bad))?.status?.capacity, bad).to.deep.equal({
        storage: '2Gi',
      });
    }
  });

  it('write 4 sets the current attributes class coming from Pending, and leaves it after', () => {
    const v = pv('v', { attributesClass: 'gold' });
    const pending = { ...claim, status: { phase: 'Pending' } };
    const c = claimWithPhase(pending, 'Bound', v);
    expect(c?.status?.currentVolumeAttributesClassName).to.equal('gold');
    // Afterwards it is the resizer's (or an administrator's): not set back.
    const modified = c && { ...c, status: { ...c.status, currentVolumeAttributesClassName: 'silver' } };
    expect(modified && claimWithPhase(modified, 'Bound', v)).to.be.undefined;
    // A Lost claim bound again does not take it either, as upstream sets it from Pending only.
    const lost = { ...claim, status: { phase: 'Lost' } };
    expect(claimWithPhase(lost, 'Bound', v)?.status?.currentVolumeAttributesClassName).to.be.undefined;
  });

  it('Lost and Pending clear the access modes, capacity and attributes class a volume gave the claim', () => {
    const wasBound = {
      ...claim,
      status: {
        phase: 'Bound',
        accessModes: ['ReadWriteOnce'],
        capacity: { storage: '5Gi' },
        currentVolumeAttributesClassName: 'gold',
      },
    };
    for (const phase of ['Lost', 'Pending']) {
      const c = claimWithPhase(wasBound, phase, undefined);
      expect(c?.status).to.deep.equal({
        phase,
        accessModes: undefined,
        capacity: undefined,
        currentVolumeAttributesClassName: undefined,
      });
      expect(c && claimWithPhase(c, phase, undefined)).to.be.undefined;
    }
    // A Lost claim left with a capacity is still written, the fields cleared.
    const stale = { ...claim, status: { phase: 'Lost', capacity: { storage: '1Gi' } } };
    expect(claimWithPhase(stale, 'Lost', undefined)?.status?.capacity).to.be.undefined;
  });

  it('unbind clears what the controller set, and only the uid of a user pre-binding', () => {
    const byController = volumeBoundToClaim(pv('v'), claim);
    if (!byController) throw new Error('no write');
    const freed = volumeUnbound(byController);
    expect(freed.spec?.claimRef).to.be.undefined;
    expect(freed.metadata?.annotations).to.be.undefined;

    const byUser = volumeUnbound(pv('v', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' } }));
    expect(byUser.spec?.claimRef).to.deep.equal({ namespace: 'ns', name: 'c', uid: undefined });
  });
});
