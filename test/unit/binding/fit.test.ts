import { expect } from 'chai';

import {
  type FitContext,
  claimFacts,
  firstMisfit,
  fitRules,
  fits,
  namedVolumeRules,
  volumeFacts,
} from '../../../src/binding/fit.ts';
import { type ClaimSpec, type VolumeSpec, pv, pvc } from '../../support/objects.ts';

const rule = (name: string) => {
  const r = fitRules.find((x) => x.name === name);
  if (!r) throw new Error(`no rule ${name}`);
  return r;
};

interface Row {
  rule: string;
  volume: VolumeSpec;
  claim?: ClaimSpec;
  ctx?: FitContext;
  /** The explanation's words when the rule fails. */
  says: string;
  /** Upstream's VolumeMismatch words, for the rules the named-volume check applies. */
  mismatch?: string;
}

// One failing case per rule; each rule must pass for the default volume and claim.
const rows: Row[] = [
  {
    rule: 'claimRef',
    volume: { claimRef: { namespace: 'ns', name: 'other', uid: 'u' } },
    says: 'bound to ns/other',
  },
  {
    rule: 'claimRef',
    volume: { claimRef: { namespace: 'ns', name: 'c', uid: 'uid-gone' } },
    says: 'bound to ns/c',
  },
  {
    rule: 'deleting',
    volume: { deleting: true },
    says: 'being deleted',
    mismatch: 'the volume is marked for deletion "v"',
  },
  {
    rule: 'storageClass',
    volume: { storageClass: 'fast' },
    says: 'storage class "fast"',
    mismatch: 'storageClassName does not match',
  },
  {
    rule: 'storageClass',
    volume: {},
    claim: { storageClass: 'fast' },
    says: 'no storage class',
    mismatch: 'storageClassName does not match',
  },
  {
    rule: 'storageClass',
    volume: { storageClass: 'fast', betaClass: 'slow' },
    claim: { storageClass: 'fast' },
    says: 'storage class "slow"',
    mismatch: 'storageClassName does not match',
  },
  {
    rule: 'volumeMode',
    volume: { volumeMode: 'Block' },
    says: 'volume mode Block',
    mismatch: 'incompatible volumeMode',
  },
  {
    rule: 'volumeMode',
    volume: {},
    claim: { volumeMode: 'Block' },
    says: 'volume mode Filesystem',
    mismatch: 'incompatible volumeMode',
  },
  {
    rule: 'attributesClass',
    volume: { attributesClass: 'gold' },
    says: 'volume attributes class "gold"',
    mismatch: 'volumeAttributesClassName does not match',
  },
  {
    rule: 'attributesClass',
    volume: {},
    claim: { attributesClass: 'gold' },
    says: 'no volume attributes class',
    mismatch: 'volumeAttributesClassName does not match',
  },
  {
    rule: 'accessModes',
    volume: { modes: ['ReadOnlyMany'] },
    claim: { modes: ['ReadWriteOnce', 'ReadWriteMany', 'ReadOnlyMany'] },
    says: 'lacks ReadWriteOnce, ReadWriteMany',
    mismatch: 'incompatible accessMode',
  },
  {
    rule: 'capacity',
    volume: { size: null },
    says: 'capacity is not set',
    mismatch: "the volume's spec.capacity.storage is not set",
  },
  {
    rule: 'capacity',
    volume: { size: '0' },
    says: 'capacity "0" is not positive',
    mismatch: 'the volume\'s spec.capacity.storage "0" is not positive',
  },
  {
    rule: 'size',
    volume: { size: '1Gi' },
    claim: { size: '1025Mi' },
    says: 'too small (1Gi < 1025Mi)',
    mismatch: 'requested PV is too small',
  },
  {
    rule: 'size',
    volume: { size: '1Gi' },
    claim: { size: '1e10000000' },
    says: 'too small (1Gi < more than 2^63-1 bytes)',
    mismatch: 'requested PV is too small',
  },
  {
    rule: 'selector',
    volume: { labels: { tier: 'silver' } },
    claim: { selector: { matchLabels: { tier: 'gold' } } },
    says: 'labels do not match the selector',
  },
  {
    rule: 'selector',
    volume: {},
    claim: { selector: { matchExpressions: [{ key: 'z', operator: 'In', values: [] }] } },
    says: 'the claim selector is invalid',
  },
  { rule: 'phase', volume: { phase: 'Pending' }, says: 'phase Pending' },
  {
    rule: 'delayBinding',
    volume: {},
    ctx: { delayBinding: true },
    says: 'left to the scheduler (WaitForFirstConsumer)',
  },
  {
    rule: 'heldBack',
    volume: {},
    ctx: { blocked: () => 'NFS server unreachable' },
    says: 'NFS server unreachable',
  },
];

describe('fit rules: the table', () => {
  it('keeps the explanation order, coarse rules first and near misses last', () => {
    expect(fitRules.map((r) => r.name)).to.deep.equal([
      'claimRef',
      'deleting',
      'storageClass',
      'volumeMode',
      'attributesClass',
      'accessModes',
      'capacity',
      'size',
      'selector',
      'phase',
      'delayBinding',
      'heldBack',
    ]);
  });

  it("runs the named-volume check in upstream's order, over rules of the table", () => {
    expect(namedVolumeRules.map((r) => r.name)).to.deep.equal([
      'deleting',
      'capacity',
      'size',
      'storageClass',
      'attributesClass',
      'volumeMode',
      'accessModes',
    ]);
    for (const r of namedVolumeRules) expect(fitRules).to.include(r);
  });

  it('passes a volume that fits, by every rule', () => {
    const c = claimFacts(pvc('c'));
    const v = volumeFacts(pv('v'));
    for (const r of fitRules) expect(r.fits(c, v, {}), r.name).to.equal(true);
    expect(fits(c, v, {})).to.equal(true);
  });

  for (const row of rows) {
    it(`${row.rule}: ${row.says}`, () => {
      const c = claimFacts(pvc('c', row.claim));
      const v = volumeFacts(pv('v', row.volume));
      const ctx = row.ctx ?? {};
      const r = rule(row.rule);
      expect(r.fits(c, v, ctx)).to.equal(false);
      expect(r.says(c, v, ctx)).to.equal(row.says);
      const named = namedVolumeRules.find((n) => n.name === row.rule);
      expect(named?.mismatch(c, v)).to.equal(row.mismatch);
      // Every other rule lets it through, so the case is this rule's alone.
      expect(firstMisfit(c, v, ctx, fitRules)?.name).to.equal(row.rule);
    });
  }

  it('ranks "too small" misses by how much is missing', () => {
    const c = claimFacts(pvc('c', { size: '2Gi' }));
    const gap = (size: string) => rule('size').gap?.(c, volumeFacts(pv('v', { size })));
    expect(gap('1Gi')).to.equal(1024n ** 3n * 10n ** 9n);
    expect((gap('1536Mi') ?? 0n) < (gap('1Gi') ?? 0n)).to.equal(true);
  });

  it('reports the first failing rule in the order it is given', () => {
    const c = claimFacts(pvc('c', { size: '2Gi' }));
    const v = volumeFacts(pv('v', { size: '1Gi', storageClass: 'x', deleting: true }));
    expect(firstMisfit(c, v, {}, fitRules)?.name).to.equal('deleting');
    expect(firstMisfit(c, v, {}, fitRules.slice(2))?.name).to.equal('storageClass');
    expect(firstMisfit(c, v, {}, namedVolumeRules.slice(1))?.name).to.equal('size');
  });

  it('checks a volume pre-bound to the claim as upstream does: not its class, selector, phase, binding mode or hold', () => {
    const claim = pvc('c', { storageClass: 'gold', selector: { matchLabels: { tier: 'gold' } } });
    const v = volumeFacts(pv('v', { phase: 'Released', claimRef: { namespace: 'ns', name: 'c' } }));
    const ctx: FitContext = { delayBinding: true, blocked: () => 'held' };
    expect(firstMisfit(claimFacts(claim), v, ctx, fitRules)).to.equal(undefined);
    const small = volumeFacts(pv('v', { size: '1Mi', claimRef: { namespace: 'ns', name: 'c' } }));
    expect(firstMisfit(claimFacts(claim), small, ctx, fitRules)?.name).to.equal('size');
  });

  it('keeps an invalid selector as a fact instead of throwing', () => {
    const c = claimFacts(pvc('c', { selector: { matchExpressions: [{ key: 'k', operator: 'Near' }] } }));
    expect('error' in c.selector && c.selector.error.message).to.match(/unknown operator "Near"/);
  });
});
