import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import { claimHoldsVolume } from '../../../src/kube/claims.ts';

const volume = (uid?: string): V1PersistentVolume => ({
  metadata: { name: 'v' },
  spec: { claimRef: { namespace: 'ns', name: 'c', ...(uid ? { uid } : {}) } },
});
const claim = (uid: string, over: { name?: string; volumeName?: string } = {}): V1PersistentVolumeClaim => ({
  metadata: { namespace: 'ns', name: over.name ?? 'c', uid },
  spec: over.volumeName ? { volumeName: over.volumeName } : {},
});

describe('claimHoldsVolume', () => {
  it('holds for the claim of the claimRef uid, unbound or bound to this volume', () => {
    expect(claimHoldsVolume(volume('u1'), claim('u1'))).to.equal(true);
    expect(claimHoldsVolume(volume('u1'), claim('u1', { volumeName: 'v' }))).to.equal(true);
  });
  it('does not hold once that claim is bound to another volume, gone, or re-created', () => {
    expect(claimHoldsVolume(volume('u1'), claim('u1', { volumeName: 'other' }))).to.equal(false);
    expect(claimHoldsVolume(volume('u1'), undefined)).to.equal(false);
    expect(claimHoldsVolume(volume('u1'), claim('u2'))).to.equal(false);
  });
  it('a pre-binding without uid is held by any claim of that name, not by another name', () => {
    expect(claimHoldsVolume(volume(), claim('any'))).to.equal(true);
    expect(claimHoldsVolume(volume(), claim('any', { name: 'd' }))).to.equal(false);
  });
  it('a volume without claimRef is held by nothing', () => {
    expect(claimHoldsVolume({ metadata: { name: 'v' }, spec: {} }, claim('u1'))).to.equal(false);
    expect(claimHoldsVolume(undefined, claim('u1'))).to.equal(false);
  });
});
