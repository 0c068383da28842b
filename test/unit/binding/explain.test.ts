import { expect } from 'chai';

import { explainNoMatch, reasonGroup, whyNot } from '../../../src/binding/explain.ts';
import { pv, pvc } from '../../support/objects.ts';

describe('why a claim has no volume', () => {
  const claim = pvc('c', { size: '2Gi', storageClass: 'fast' });

  const rows: [string, Parameters<typeof pv>[1], string | undefined][] = [
    ['a volume that fits', { size: '2Gi', storageClass: 'fast' }, undefined],
    [
      'bound elsewhere',
      { storageClass: 'fast', claimRef: { namespace: 'ns', name: 'other', uid: 'u2' } },
      'bound to ns/other',
    ],
    ['being deleted', { size: '2Gi', storageClass: 'fast', deleting: true }, 'being deleted'],
    ['another class', { size: '2Gi', storageClass: 'slow' }, 'storage class "slow"'],
    ['no class', { size: '2Gi', storageClass: '' }, 'no storage class'],
    ['block mode', { size: '2Gi', storageClass: 'fast', volumeMode: 'Block' }, 'volume mode Block'],
    [
      'attributes class',
      { size: '2Gi', storageClass: 'fast', attributesClass: 'gold' },
      'volume attributes class "gold"',
    ],
    ['not yet Available', { size: '2Gi', storageClass: 'fast', phase: 'Pending' }, 'phase Pending'],
    [
      'Pending and too small',
      { size: '1Gi', storageClass: 'fast', phase: 'Pending' },
      'too small (1Gi < 2Gi)',
    ],
    ['missing a mode', { size: '2Gi', storageClass: 'fast', modes: ['ReadOnlyMany'] }, 'lacks ReadWriteOnce'],
    ['too small', { size: '1536Mi', storageClass: 'fast' }, 'too small (1536Mi < 2Gi)'],
    [
      'capacity beyond an int64 of bytes',
      { size: '1e10000000', storageClass: 'fast' },
      'capacity "1e10000000" is beyond 2^63-1 bytes, just under 8Ei',
    ],
    [
      'a long capacity shortened',
      { size: `${'9'.repeat(5000)}Ki`, storageClass: 'fast' },
      `capacity "${'9'.repeat(24)}…" is beyond 2^63-1 bytes, just under 8Ei`,
    ],
    ['capacity not a quantity', { size: 'big', storageClass: 'fast' }, 'capacity "big" is not a quantity'],
    ['capacity zero', { size: '0', storageClass: 'fast' }, 'capacity "0" is not positive'],
    ['capacity negative', { size: '-1Gi', storageClass: 'fast' }, 'capacity "-1Gi" is not positive'],
    ['no capacity', { size: null, storageClass: 'fast' }, 'capacity is not set'],
    ['the largest capacity there is fits', { size: '9223372036854775807', storageClass: 'fast' }, undefined],
  ];
  for (const [name, spec, reason] of rows) {
    it(`${name}: ${reason ?? 'fits'}`, () => {
      expect(whyNot(pv('v', spec), claim)?.reason).to.equal(reason);
    });
  }

  it('ranks a selector mismatch nearer than any other rule but the phase', () => {
    const c = pvc('c', { storageClass: 'fast', selector: { matchLabels: { tier: 'gold' } } });
    expect(whyNot(pv('v', { storageClass: 'fast' }), c)).to.include({
      reason: 'labels do not match the selector',
      nearness: 8,
    });
  });

  it('lists the nearest misses by name, then the rest by kind, most common first', () => {
    const volumes = [
      pv('far', { storageClass: 'slow' }),
      pv('far2', { storageClass: 'other' }),
      pv('far3', { storageClass: '' }),
      pv('taken', { storageClass: 'fast', claimRef: { namespace: 'ns', name: 'x', uid: 'x' } }),
      pv('taken2', { storageClass: 'fast', claimRef: { namespace: 'ns', name: 'y', uid: 'y' } }),
      pv('rox', { size: '5Gi', storageClass: 'fast', modes: ['ReadOnlyMany'] }),
      pv('small', { size: '1Gi', storageClass: 'fast' }),
      pv('smaller', { size: '512Mi', storageClass: 'fast' }),
      pv('tiny', { size: '1Mi', storageClass: 'fast' }),
    ];
    expect(explainNoMatch(claim, volumes)).to.equal(
      'small: too small (1Gi < 2Gi); smaller: too small (512Mi < 2Gi); tiny: too small (1Mi < 2Gi); ' +
        '3 others: other storage classes; 2 others: bound to other claims; 1 other: lacks ReadWriteOnce',
    );
  });

  it('says so when no volume exists at all', () => {
    expect(explainNoMatch(claim, [])).to.equal('no persistent volumes exist');
  });

  it('stays within the length limit, saying how many reasons it left out', () => {
    const volumes = Array.from({ length: 50 }, (_, i) =>
      pv(`v${String(i)}`, { storageClass: 'fast', volumeMode: `Mode${String(i)}` }),
    );
    const text = explainNoMatch(claim, volumes, 3, 200);
    expect(text.length).to.be.at.most(200);
    expect(text).to.match(/; and \d+ more reasons$/);
  });

  const groups: [string, string][] = [
    ['too small (1Gi < 2Gi)', 'too small'],
    ['bound to ns/a', 'bound to other claims'],
    ['storage class "x"', 'other storage classes'],
    ['no storage class', 'other storage classes'],
    ['volume attributes class "g"', 'other volume attributes classes'],
    ['lacks ReadWriteMany', 'lacks ReadWriteMany'],
    ['capacity "1e10000000" is beyond 2^63-1 bytes, just under 8Ei', 'unusable capacity'],
    ['capacity is not set', 'unusable capacity'],
  ];
  for (const [reason, group] of groups) {
    it(`groups "${reason}" as "${group}"`, () => {
      expect(reasonGroup(reason)).to.equal(group);
    });
  }
});
