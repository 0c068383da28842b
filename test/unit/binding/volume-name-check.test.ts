import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import { volumeMismatchReason } from '../../../src/binding/volume-name-check.ts';
import { pv, pvc } from '../../support/objects.ts';

describe('claim naming its volume: mismatch reasons', () => {
  const rows: [string, V1PersistentVolume, V1PersistentVolumeClaim, string | undefined][] = [
    ['fits', pv('v'), pvc('c', { volumeName: 'v' }), undefined],
    [
      'phase and selector are not checked',
      pv('v', { phase: 'Pending' }),
      pvc('c', { selector: { matchLabels: { a: 'b' } } }),
      undefined,
    ],
    [
      'being deleted',
      pv('v', { deleting: true, size: '1' }),
      pvc('c'),
      'the volume is marked for deletion "v"',
    ],
    [
      'too small before class',
      pv('v', { size: '1Gi', storageClass: 'x' }),
      pvc('c', { size: '2Gi' }),
      'requested PV is too small',
    ],
    [
      'an unusable capacity before class',
      pv('v', { size: '1e10000000', storageClass: 'x' }),
      pvc('c'),
      'the volume\'s spec.capacity.storage "1e10000000" is beyond 2^63-1 bytes, just under 8Ei',
    ],
    ['no capacity', pv('v', { size: null }), pvc('c'), "the volume's spec.capacity.storage is not set"],
    [
      'class before volume mode',
      pv('v', { storageClass: 'x', volumeMode: 'Block' }),
      pvc('c'),
      'storageClassName does not match',
    ],
    [
      'class before attributes class',
      pv('v', { storageClass: 'x', attributesClass: 'gold' }),
      pvc('c'),
      'storageClassName does not match',
    ],
    [
      'attributes class before volume mode',
      pv('v', { attributesClass: 'gold', volumeMode: 'Block' }),
      pvc('c', { attributesClass: 'silver' }),
      'volumeAttributesClassName does not match',
    ],
    [
      'an attributes class on the claim only',
      pv('v'),
      pvc('c', { attributesClass: 'gold' }),
      'volumeAttributesClassName does not match',
    ],
    [
      'the same attributes class',
      pv('v', { attributesClass: 'gold' }),
      pvc('c', { attributesClass: 'gold' }),
      undefined,
    ],
    [
      'volume mode before access modes',
      pv('v', { volumeMode: 'Block', modes: ['ReadOnlyMany'] }),
      pvc('c'),
      'incompatible volumeMode',
    ],
    ['access modes', pv('v', { modes: ['ReadOnlyMany'] }), pvc('c'), 'incompatible accessMode'],
  ];
  for (const [name, volume, claim, want] of rows) {
    it(name, () => {
      expect(volumeMismatchReason(volume, claim)).to.equal(want);
    });
  }
});
