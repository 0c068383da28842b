import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { type VolumePlan, planVolume } from '../../../src/binding/volume-sync.ts';
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
