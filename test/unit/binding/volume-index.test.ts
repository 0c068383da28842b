import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import { SelectorError } from '../../../src/binding/selector.ts';
import { VolumeIndex } from '../../../src/binding/volume-index.ts';
import { pv, pvc } from '../../support/objects.ts';

const RWO = 'ReadWriteOnce';
const ROX = 'ReadOnlyMany';
const RWX = 'ReadWriteMany';
const RWOP = 'ReadWriteOncePod';

function bestMatch(volumes: V1PersistentVolume[], claim: V1PersistentVolumeClaim, delayBinding = false) {
  const index = new VolumeIndex();
  for (const v of volumes) index.upsert(v);
  return index.findBestMatch(claim, { delayBinding })?.metadata?.name;
}

interface Row {
  name: string;
  volumes: V1PersistentVolume[];
  claim: V1PersistentVolumeClaim;
  delayBinding?: boolean;
  want: string | undefined;
}

// Every rule of the upstream matcher, one row each (pv-controller.md §1).
const rows: Row[] = [
  { name: 'exact size', volumes: [pv('a', { size: '1Gi' })], claim: pvc('c', { size: '1Gi' }), want: 'a' },
  {
    name: 'too small',
    volumes: [pv('a', { size: '1Gi' })],
    claim: pvc('c', { size: '2Gi' }),
    want: undefined,
  },
  {
    name: 'smallest volume that fits',
    volumes: [pv('big', { size: '10Gi' }), pv('small', { size: '1Gi' }), pv('mid', { size: '3Gi' })],
    claim: pvc('c', { size: '2Gi' }),
    want: 'mid',
  },
  {
    name: 'binary and decimal sizes compare exactly',
    volumes: [pv('decimal', { size: '1G' }), pv('binary', { size: '1Gi' })],
    claim: pvc('c', { size: '1000Mi' }),
    want: 'binary',
  },
  {
    name: 'a volume without capacity counts as zero',
    volumes: [pv('a', { size: null })],
    claim: pvc('c', { size: '1' }),
    want: undefined,
  },
  {
    name: 'equal sizes: the first by name',
    volumes: [pv('b'), pv('a'), pv('c')],
    claim: pvc('c'),
    want: 'a',
  },
  {
    name: 'fewest-modes group wins over a smaller volume with extra modes',
    volumes: [pv('exact', { size: '10Gi', modes: [RWO] }), pv('extra', { size: '1Gi', modes: [RWO, ROX] })],
    claim: pvc('c', { modes: [RWO] }),
    want: 'exact',
  },
  {
    name: 'a richer group is used when the exact group has no fit',
    volumes: [
      pv('exact', { size: '1Gi', modes: [RWO] }),
      pv('extra', { size: '5Gi', modes: [RWO, ROX, RWX] }),
    ],
    claim: pvc('c', { size: '2Gi', modes: [RWO] }),
    want: 'extra',
  },
  {
    name: 'every requested mode must be offered',
    volumes: [pv('rwo', { modes: [RWO] }), pv('rox', { modes: [ROX] })],
    claim: pvc('c', { modes: [RWO, ROX] }),
    want: undefined,
  },
  {
    name: 'a two-mode claim takes the two-mode group before the three-mode one',
    volumes: [
      pv('three', { size: '1Gi', modes: [RWO, ROX, RWX] }),
      pv('two', { size: '9Gi', modes: [ROX, RWO] }),
    ],
    claim: pvc('c', { modes: [RWO, ROX] }),
    want: 'two',
  },
  {
    name: 'ReadWriteOncePod is a mode like the others',
    volumes: [pv('rwo', { modes: [RWO] }), pv('rwop', { modes: [RWOP] })],
    claim: pvc('c', { modes: [RWOP] }),
    want: 'rwop',
  },
  {
    name: 'volumeMode missing means Filesystem on both sides',
    volumes: [pv('fs', { volumeMode: 'Filesystem' })],
    claim: pvc('c'),
    want: 'fs',
  },
  {
    name: 'a Block claim does not take a Filesystem volume',
    volumes: [pv('fs')],
    claim: pvc('c', { volumeMode: 'Block' }),
    want: undefined,
  },
  {
    name: 'a Block claim takes a Block volume',
    volumes: [pv('fs', { size: '1Gi' }), pv('block', { size: '5Gi', volumeMode: 'Block' })],
    claim: pvc('c', { volumeMode: 'Block' }),
    want: 'block',
  },
  {
    name: 'volumeAttributesClassName must be equal',
    volumes: [pv('gold', { attributesClass: 'gold' }), pv('none')],
    claim: pvc('c', { attributesClass: 'gold' }),
    want: 'gold',
  },
  {
    name: 'a claim without attributes class takes no volume that has one',
    volumes: [pv('gold', { attributesClass: 'gold' })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'volumes being deleted are skipped',
    volumes: [pv('dying', { deleting: true }), pv('alive', { size: '5Gi' })],
    claim: pvc('c'),
    want: 'alive',
  },
  {
    name: 'only Available volumes qualify',
    volumes: [
      pv('pending', { phase: 'Pending' }),
      pv('released', { phase: 'Released' }),
      pv('failed', { phase: 'Failed' }),
    ],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'a volume claimed by another claim is skipped',
    volumes: [pv('taken', { claimRef: { namespace: 'ns', name: 'other', uid: 'u-other' } })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'a volume pre-bound to this claim wins over a better free one',
    volumes: [
      pv('free', { size: '1Gi' }),
      pv('mine', { size: '9Gi', claimRef: { namespace: 'ns', name: 'c' } }),
    ],
    claim: pvc('c'),
    want: 'mine',
  },
  {
    name: 'a pre-bound volume wins only inside its access-mode group: a free one in a narrower group is chosen',
    volumes: [
      pv('mine-wide', { size: '1Gi', modes: [RWO, ROX], claimRef: { namespace: 'ns', name: 'c' } }),
      pv('free-narrow', { size: '5Gi', modes: [RWO] }),
    ],
    claim: pvc('c', { modes: [RWO] }),
    want: 'free-narrow',
  },
  {
    name: 'a pre-bound volume in the narrowest group wins over free ones in it and wider ones',
    volumes: [
      pv('free-wide', { size: '1Gi', modes: [RWO, ROX] }),
      pv('free-narrow', { size: '1Gi', modes: [RWO] }),
      pv('mine-narrow', { size: '9Gi', modes: [RWO], claimRef: { namespace: 'ns', name: 'c' } }),
      pv('mine-wide', { size: '1Gi', modes: [RWO, ROX], claimRef: { namespace: 'ns', name: 'c' } }),
    ],
    claim: pvc('c', { modes: [RWO] }),
    want: 'mine-narrow',
  },
  {
    name: 'a narrower group with no fitting free volume falls through to the pre-bound one in a wider group',
    volumes: [
      pv('free-small', { size: '1Mi', modes: [RWO] }),
      pv('free-other-class', { size: '5Gi', modes: [RWO], storageClass: 'gold' }),
      pv('mine-wide', { size: '1Gi', modes: [RWO, ROX], claimRef: { namespace: 'ns', name: 'c' } }),
    ],
    claim: pvc('c', { modes: [RWO] }),
    want: 'mine-wide',
  },
  {
    name: 'WaitForFirstConsumer: free volumes of a narrower group do not hide a pre-bound one',
    volumes: [
      pv('free-narrow', { modes: [RWO] }),
      pv('mine-wide', { modes: [RWO, ROX], claimRef: { namespace: 'ns', name: 'c' } }),
    ],
    claim: pvc('c', { modes: [RWO] }),
    delayBinding: true,
    want: 'mine-wide',
  },
  {
    name: 'pre-bound with the claim uid',
    volumes: [pv('mine', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' } })],
    claim: pvc('c'),
    want: 'mine',
  },
  {
    name: 'pre-bound to an earlier claim of the same name (other uid) is skipped',
    volumes: [pv('old', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-gone' } })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'pre-bound to the same name in another namespace is skipped',
    volumes: [pv('elsewhere', { claimRef: { namespace: 'other', name: 'c' } })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'pre-binding ignores phase, selector and class',
    volumes: [
      pv('mine', {
        phase: 'Released',
        storageClass: 'gold',
        labels: {},
        claimRef: { namespace: 'ns', name: 'c' },
      }),
    ],
    claim: pvc('c', { storageClass: 'silver', selector: { matchLabels: { x: 'y' } } }),
    want: 'mine',
  },
  {
    name: 'pre-binding still needs enough capacity',
    volumes: [pv('mine', { size: '1Gi', claimRef: { namespace: 'ns', name: 'c' } })],
    claim: pvc('c', { size: '2Gi' }),
    want: undefined,
  },
  {
    name: 'a capacity beyond an int64 of bytes is never offered, however large the request',
    volumes: [pv('huge', { size: '1e10000000' }), pv('max', { size: '9223372036854775807' })],
    claim: pvc('c', { size: '8Ei' }),
    want: undefined,
  },
  {
    name: 'a capacity beyond an int64 of bytes is passed over for one that fits',
    volumes: [pv('huge', { size: '1e10000000' }), pv('small', { size: '1Ki' }), pv('ok', { size: '1Ei' })],
    claim: pvc('c', { size: '1Gi' }),
    want: 'ok',
  },
  {
    name: 'capacities that are no quantity, zero or negative are never offered',
    volumes: [pv('bad', { size: 'lots' }), pv('zero', { size: '0' }), pv('neg', { size: '-1Gi' })],
    claim: pvc('c', { size: '1' }),
    want: undefined,
  },
  {
    name: 'pre-binding does not take an unusable capacity either',
    volumes: [pv('mine', { size: '1e10000000', claimRef: { namespace: 'ns', name: 'c' } })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'a request beyond an int64 of bytes matches nothing',
    volumes: [pv('max', { size: '9223372036854775807' })],
    claim: pvc('c', { size: '1e10000000' }),
    want: undefined,
  },
  {
    name: 'a request that is no quantity matches nothing, and does not throw',
    volumes: [pv('v')],
    claim: pvc('c', { size: '1 Gi' }),
    want: undefined,
  },
  {
    name: 'pre-binding still needs the access modes',
    volumes: [pv('mine', { modes: [ROX], claimRef: { namespace: 'ns', name: 'c' } })],
    claim: pvc('c', { modes: [RWO] }),
    want: undefined,
  },
  {
    name: 'pre-binding still needs the volume mode',
    volumes: [pv('mine', { volumeMode: 'Block', claimRef: { namespace: 'ns', name: 'c' } })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'pre-binding skips a volume being deleted',
    volumes: [pv('mine', { deleting: true, claimRef: { namespace: 'ns', name: 'c' } })],
    claim: pvc('c'),
    want: undefined,
  },
  {
    name: 'WaitForFirstConsumer: free volumes are left to the scheduler',
    volumes: [pv('free')],
    claim: pvc('c'),
    delayBinding: true,
    want: undefined,
  },
  {
    name: 'WaitForFirstConsumer: a pre-bound volume is still returned',
    volumes: [pv('free'), pv('mine', { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' } })],
    claim: pvc('c'),
    delayBinding: true,
    want: 'mine',
  },
  {
    name: 'selector matchLabels',
    volumes: [pv('plain', { size: '1Gi' }), pv('gold', { size: '5Gi', labels: { tier: 'gold' } })],
    claim: pvc('c', { selector: { matchLabels: { tier: 'gold' } } }),
    want: 'gold',
  },
  {
    name: 'selector matchExpressions NotIn and Exists',
    volumes: [
      pv('a', { size: '1Gi', labels: { zone: 'a' } }),
      pv('b', { size: '2Gi', labels: { zone: 'b' } }),
      pv('none', { size: '1Gi' }),
    ],
    claim: pvc('c', {
      selector: {
        matchExpressions: [
          { key: 'zone', operator: 'Exists' },
          { key: 'zone', operator: 'NotIn', values: ['a'] },
        ],
      },
    }),
    want: 'b',
  },
  {
    name: 'selector DoesNotExist',
    volumes: [pv('labelled', { size: '1Gi', labels: { temp: 'x' } }), pv('clean', { size: '2Gi' })],
    claim: pvc('c', { selector: { matchExpressions: [{ key: 'temp', operator: 'DoesNotExist' }] } }),
    want: 'clean',
  },
  {
    name: 'storage class must be equal',
    volumes: [pv('fast', { storageClass: 'fast' }), pv('slow', { storageClass: 'slow', size: '9Gi' })],
    claim: pvc('c', { storageClass: 'slow' }),
    want: 'slow',
  },
  {
    name: 'a nil class matches only volumes of class ""',
    volumes: [pv('classed', { storageClass: 'fast' }), pv('classless', { size: '9Gi' })],
    claim: pvc('c', { storageClass: null }),
    want: 'classless',
  },
  {
    name: 'class "" matches only volumes of class ""',
    volumes: [pv('classed', { storageClass: 'fast' })],
    claim: pvc('c', { storageClass: '' }),
    want: undefined,
  },
  {
    name: "the beta annotation wins over the volume's field",
    volumes: [pv('annotated', { storageClass: 'field', betaClass: 'beta' })],
    claim: pvc('c', { storageClass: 'beta' }),
    want: 'annotated',
  },
  {
    name: "the beta annotation wins over the claim's field",
    volumes: [pv('fast', { storageClass: 'fast' })],
    claim: pvc('c', { storageClass: 'slow', betaClass: 'fast' }),
    want: 'fast',
  },
];

describe('volume index: best match for a claim', () => {
  for (const row of rows) {
    it(row.name, () => {
      expect(bestMatch(row.volumes, row.claim, row.delayBinding)).to.equal(row.want);
    });
  }

  it('rejects a selector the apiserver would not accept', () => {
    const claim = pvc('c', { selector: { matchExpressions: [{ key: 'z', operator: 'In', values: [] }] } });
    expect(() => bestMatch([pv('a')], claim)).to.throw(SelectorError);
  });
});

describe('volume index: keeping up with changes', () => {
  it('stops offering a volume once it is bound, and offers it again when freed', () => {
    const index = new VolumeIndex();
    index.upsert(pv('a'));
    expect(index.findBestMatch(pvc('c'), { delayBinding: false })?.metadata?.name).to.equal('a');
    index.upsert(pv('a', { phase: 'Bound', claimRef: { namespace: 'ns', name: 'other', uid: 'u' } }));
    expect(index.findBestMatch(pvc('c'), { delayBinding: false })).to.be.undefined;
    expect(index.volumesNamingClaim('ns', 'other').map((v) => v.metadata?.name)).to.deep.equal(['a']);
    index.upsert(pv('a'));
    expect(index.volumesNamingClaim('ns', 'other')).to.deep.equal([]);
    expect(index.findBestMatch(pvc('c'), { delayBinding: false })?.metadata?.name).to.equal('a');
  });

  it('follows a change of size, class or modes', () => {
    const index = new VolumeIndex();
    index.upsert(pv('a', { size: '1Gi' }));
    index.upsert(pv('a', { size: '5Gi', storageClass: 'fast', modes: [RWX] }));
    expect(index.size).to.equal(1);
    expect(index.findBestMatch(pvc('c'), { delayBinding: false })).to.be.undefined;
    const claim = pvc('c', { size: '4Gi', storageClass: 'fast', modes: [RWX] });
    expect(index.findBestMatch(claim, { delayBinding: false })?.metadata?.name).to.equal('a');
  });

  it('forgets a removed volume', () => {
    const index = new VolumeIndex();
    index.upsert(pv('a'));
    index.remove('a');
    expect(index.size).to.equal(0);
    expect(index.get('a')).to.be.undefined;
    expect(index.findBestMatch(pvc('c'), { delayBinding: false })).to.be.undefined;
  });

  it('hides a reserved volume from every other claim until released', () => {
    const index = new VolumeIndex();
    index.upsert(pv('a'));
    index.upsert(pv('b', { size: '2Gi' }));
    expect(index.reserve('a', 'ns/c1')).to.be.true;
    expect(index.reserve('a', 'ns/c2')).to.be.false;
    expect(index.reserve('a', 'ns/c1')).to.be.true;
    expect(index.findBestMatch(pvc('c2'), { delayBinding: false })?.metadata?.name).to.equal('b');
    // An informer update of the reserved volume must not put it back on offer.
    index.upsert(pv('a'));
    expect(index.findBestMatch(pvc('c2'), { delayBinding: false })?.metadata?.name).to.equal('b');
    index.release('a');
    expect(index.findBestMatch(pvc('c2'), { delayBinding: false })?.metadata?.name).to.equal('a');
  });

  it('never hands one volume to two claims while reservations are honoured', () => {
    const index = new VolumeIndex();
    for (let i = 0; i < 50; i++)
      index.upsert(pv(`v${String(i).padStart(2, '0')}`, { size: `${1 + (i % 5)}Gi` }));
    const given = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      const claim = pvc(`c${i}`, { size: `${1 + (i % 3)}Gi` });
      const v = index.findBestMatch(claim, { delayBinding: false })?.metadata?.name;
      if (v === undefined) continue;
      expect(index.reserve(v, `ns/c${i}`)).to.be.true;
      expect(given.has(v), `${v} given twice`).to.be.false;
      given.set(v, `c${i}`);
    }
    expect(given.size).to.equal(50);
  });
});
