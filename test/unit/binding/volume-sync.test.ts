import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { type VolumePlan, capacityWarning, planVolume } from '../../../src/binding/volume-sync.ts';
import { pv, pvc } from '../../support/objects.ts';

const ref = { namespace: 'ns', name: 'c', uid: 'uid-c' };

function provisioned(v: V1PersistentVolume, policy: string): V1PersistentVolume {
  return {
    ...v,
    metadata: { ...v.metadata, annotations: { 'pv.kubernetes.io/provisioned-by': 'example.com/nfs' } },
    spec: { ...v.spec, persistentVolumeReclaimPolicy: policy },
  };
}

function summary(p: VolumePlan): string {
  switch (p.action) {
    case 'phase':
      return `phase ${p.phase}${p.syncClaim ? ` + sync ${p.syncClaim}` : ''}`;
    case 'syncClaim':
      return `sync ${p.claim}${p.volumeEvent ? ` (${p.volumeEvent.reason})` : ''}`;
    default:
      return p.action;
  }
}

describe('volume sync plan', () => {
  const rows: [string, VolumePlan, string][] = [
    ['no claimRef: Available', planVolume(pv('v', { phase: 'Pending' }), undefined), 'phase Available'],
    [
      'claimRef without uid: Available, and its claim is looked at',
      planVolume(pv('v', { claimRef: { namespace: 'ns', name: 'c' } }), undefined),
      'phase Available + sync ns/c',
    ],
    [
      'claim gone: Released',
      planVolume(pv('v', { phase: 'Bound', claimRef: ref }), undefined),
      'phase Released',
    ],
    [
      'a new claim of the same name: Released',
      planVolume(pv('v', { phase: 'Bound', claimRef: ref }), pvc('c', { uid: 'uid-new' })),
      'phase Released',
    ],
    [
      'already Released stays so',
      planVolume(pv('v', { phase: 'Released', claimRef: ref }), undefined),
      'none',
    ],
    ['Failed stays so', planVolume(pv('v', { phase: 'Failed', claimRef: ref }), undefined), 'none'],
    [
      'claim without volumeName: finish the bind on the claim side',
      planVolume(pv('v', { claimRef: ref }), pvc('c')),
      'sync ns/c',
    ],
    [
      'claim without volumeName and another volume mode: VolumeMismatch',
      planVolume(pv('v', { claimRef: ref, volumeMode: 'Block' }), pvc('c')),
      'sync ns/c (VolumeMismatch)',
    ],
    [
      'claim names this volume: Bound',
      planVolume(pv('v', { claimRef: ref }), pvc('c', { volumeName: 'v' })),
      'phase Bound',
    ],
    [
      'claim names another volume: unbind',
      planVolume(pv('v', { phase: 'Bound', claimRef: ref }), pvc('c', { volumeName: 'w' })),
      'unbind',
    ],
    [
      'claim names another volume, provisioned with Delete: Released',
      planVolume(
        provisioned(pv('v', { phase: 'Bound', claimRef: ref }), 'Delete'),
        pvc('c', { volumeName: 'w' }),
      ),
      'phase Released',
    ],
    [
      'claim names another volume, provisioned with Delete, already Failed: stays Failed',
      planVolume(
        provisioned(pv('v', { phase: 'Failed', claimRef: ref }), 'Delete'),
        pvc('c', { volumeName: 'w' }),
      ),
      'none',
    ],
    [
      'claim names another volume, provisioned with Retain: unbind',
      planVolume(
        provisioned(pv('v', { phase: 'Bound', claimRef: ref }), 'Retain'),
        pvc('c', { volumeName: 'w' }),
      ),
      'unbind',
    ],
  ];
  for (const [name, p, want] of rows) {
    it(name, () => {
      expect(summary(p)).to.equal(want);
    });
  }
});

describe('volume sync: unusable capacity', () => {
  const withUid = (v: V1PersistentVolume, uid: string): V1PersistentVolume => ({
    ...v,
    metadata: { ...v.metadata, uid },
  });

  it('warns once per volume and text, naming the field and the text shortened', () => {
    const w = capacityWarning(withUid(pv('v', { size: `1e1${'0'.repeat(1000)}` }), 'u1'));
    expect(w?.event).to.deep.equal({
      type: 'Warning',
      reason: 'InvalidCapacity',
      note: `spec.capacity.storage "1e1${'0'.repeat(21)}…" is beyond 2^63-1 bytes, just under 8Ei; the volume is not offered to any claim`,
    });
    const again = capacityWarning(withUid(pv('v', { size: `1e1${'0'.repeat(1000)}` }), 'u1'));
    expect(again?.key).to.equal(w?.key);
    // A new text or a new volume of the same name is said again.
    expect(capacityWarning(withUid(pv('v', { size: '1e100' }), 'u1'))?.key).not.to.equal(w?.key);
    expect(capacityWarning(withUid(pv('v', { size: `1e1${'0'.repeat(1000)}` }), 'u2'))?.key).not.to.equal(
      w?.key,
    );
  });

  const notes: [string, string | null, string][] = [
    ['not a quantity', 'lots', 'spec.capacity.storage "lots" is not a quantity'],
    ['zero', '0', 'spec.capacity.storage "0" is not positive'],
    ['negative beyond', '-1e10000000', 'spec.capacity.storage "-1e10000000" is not positive'],
    ['not set', null, 'spec.capacity.storage is not set'],
  ];
  for (const [name, size, note] of notes) {
    it(`${name}: ${note}`, () => {
      expect(capacityWarning(pv('v', { size }))?.event.note).to.equal(
        `${note}; the volume is not offered to any claim`,
      );
    });
  }

  it('says nothing for a usable capacity, or for a volume already bound', () => {
    expect(capacityWarning(pv('v', { size: '9223372036854775807' }))).to.equal(undefined);
    expect(capacityWarning(pv('v', { size: '1e10000000', phase: 'Bound', claimRef: ref }))).to.equal(
      undefined,
    );
    // Pre-bound (no uid yet): the binder would offer it, so it is said.
    expect(
      capacityWarning(pv('v', { size: '1e10000000', claimRef: { namespace: 'ns', name: 'c' } }))?.event
        .reason,
    ).to.equal('InvalidCapacity');
  });
});
