// The matcher, the explanation and the named-volume check over the same
// generated claims and volumes: what the binder decides and what the user is
// told must agree, rule for rule (fit.ts).
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import { explainNoMatch, whyNot } from '../../../src/binding/explain.ts';
import { type FitContext, claimFacts, fitRules, volumeFacts } from '../../../src/binding/fit.ts';
import { SelectorError } from '../../../src/binding/selector.ts';
import { VolumeIndex } from '../../../src/binding/volume-index.ts';
import { namedVolumeMisfit } from '../../../src/binding/volume-name-check.ts';
import { type ClaimSpec, type VolumeSpec, pv, pvc } from '../../support/objects.ts';

/** A seeded linear congruential generator (Numerical Recipes' constants): every run checks the same pairs. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
}

const rand = prng(15);
function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)] as T;
}
const maybe = <T>(p: number, x: T): T | undefined => (rand() < p ? x : undefined);

const modeSets = [
  ['ReadWriteOnce'],
  ['ReadOnlyMany'],
  ['ReadWriteOnce', 'ReadOnlyMany'],
  ['ReadWriteMany', 'ReadWriteOnce'],
  ['ReadWriteOncePod'],
];
const classes = ['', 'fast', 'slow'];

function claimSpec(): ClaimSpec {
  return {
    size: pick(['1Gi', '1Gi', '768Mi', '2Gi', '1e10000000']),
    modes: pick(modeSets),
    storageClass: pick([...classes, null]),
    betaClass: maybe(0.1, pick(classes)),
    volumeMode: maybe(0.15, pick(['Block', 'Filesystem'])),
    attributesClass: maybe(0.15, pick(['gold', ''])),
    selector: pick([
      undefined,
      undefined,
      { matchLabels: { tier: 'gold' } },
      { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['silver'] }] },
      { matchExpressions: [{ key: 'tier', operator: 'In', values: [] }] },
    ]),
  };
}

/** Changes that each break (or may break) one rule, so that every rule gets to decide. */
const mutations: ((v: VolumeSpec) => void)[] = [
  (v) => (v.size = pick(['512Mi', '1Gi', '1e10000000', '0', 'lots', null])),
  (v) => (v.modes = pick(modeSets)),
  (v) => (v.storageClass = pick(classes)),
  (v) => (v.betaClass = pick(classes)),
  (v) => (v.volumeMode = pick(['Block', 'Filesystem', undefined])),
  (v) => (v.attributesClass = pick(['gold', '', undefined])),
  (v) => (v.phase = pick(['Pending', 'Released', 'Bound', 'Failed'])),
  (v) => (v.labels = pick<VolumeSpec['labels']>([undefined, { tier: 'silver' }, { server: 'down' }])),
  (v) =>
    (v.claimRef = pick([
      { namespace: 'ns', name: 'c' },
      { namespace: 'ns', name: 'c', uid: 'uid-c' },
      { namespace: 'ns', name: 'c', uid: 'uid-old' },
      { namespace: 'ns', name: 'other', uid: 'u' },
      { namespace: 'elsewhere', name: 'c' },
    ])),
  (v) => (v.deleting = true),
];

/** A volume that fits the claim, then changed in up to three ways. */
function volumeSpec(c: ClaimSpec): VolumeSpec {
  const request = c.size ?? '1Gi';
  const v: VolumeSpec = {
    size: request === '768Mi' ? pick(['768Mi', '1Gi']) : request === '1Gi' ? pick(['1Gi', '2Gi']) : request,
    modes: [...new Set([...(c.modes ?? []), ...(rand() < 0.3 ? pick(modeSets) : [])])],
    storageClass: c.betaClass ?? c.storageClass ?? '',
    volumeMode: c.volumeMode,
    attributesClass: c.attributesClass,
    labels: {
      ...(c.selector || rand() < 0.5 ? { tier: 'gold' } : {}),
      ...(rand() < 0.15 ? { server: 'down' } : {}),
    },
  };
  const changes = pick([0, 1, 1, 2, 3]);
  for (let i = 0; i < changes; i++) pick(mutations)(v);
  return v;
}

function context(): FitContext {
  return {
    delayBinding: rand() < 0.2,
    blocked: maybe(0.5, (v: V1PersistentVolume) =>
      v.metadata?.labels?.server === 'down' ? 'NFS server unreachable' : undefined,
    ),
  };
}

/** What the matcher makes of the claim given only these volumes; 'invalid' when it refuses the selector. */
function match(claim: V1PersistentVolumeClaim, volumes: V1PersistentVolume[], ctx: FitContext) {
  const index = new VolumeIndex();
  for (const v of volumes) index.upsert(v);
  try {
    return index.findBestMatch(claim, { ...ctx, delayBinding: ctx.delayBinding ?? false });
  } catch (err) {
    if (err instanceof SelectorError) return 'invalid' as const;
    throw err;
  }
}

const ruleNames = fitRules.map((r) => r.name);

describe('fit rules: matcher, explanation and named-volume check agree', () => {
  const pairs = 4000;

  it(`on ${pairs} generated claim/volume pairs`, () => {
    const decided = new Map<string, number>();
    let accepted = 0;
    for (let i = 0; i < pairs; i++) {
      const spec = claimSpec();
      const claim = pvc('c', spec);
      const volume = pv(`v${i}`, volumeSpec(spec));
      const ctx = context();
      const label = `pair ${i}: ${JSON.stringify({ claim: spec, volume: volume.spec })}`;
      const matched = match(claim, [volume], ctx);
      const miss = whyNot(volume, claim, ctx);
      if (matched !== undefined && matched !== 'invalid') {
        expect(matched, label).to.equal(volume);
        expect(miss, label).to.equal(undefined);
        expect(explainNoMatch(claim, [volume], 3, 400, ctx), label).to.equal('no persistent volumes exist');
        accepted++;
      } else {
        expect(miss, label).to.not.equal(undefined);
        expect(ruleNames, label).to.include(miss?.rule);
        // The matcher refuses a selector the apiserver would refuse, once it has a free volume to walk.
        if (matched === 'invalid')
          expect(claim.spec?.selector?.matchExpressions?.[0]?.values).to.deep.equal([]);
        expect(explainNoMatch(claim, [volume], 3, 400, ctx), label).to.equal(`v${i}: ${miss?.reason ?? ''}`);
        decided.set(miss?.rule ?? '', (decided.get(miss?.rule ?? '') ?? 0) + 1);
      }
      // The named-volume check concerns volumes nobody claims yet.
      if (volume.spec?.claimRef) continue;
      const named = namedVolumeMisfit(volume, claim);
      if (named) {
        // What it rejects, the matcher rejects, and the table fails the same rule.
        expect(miss, label).to.not.equal(undefined);
        const table = fitRules.findIndex((r) => r.name === named.rule);
        expect(fitRules[table]?.fits(claimFacts(claim), volumeFacts(volume), ctx), label).to.equal(false);
        expect(miss?.nearness, label).to.be.at.most(table);
      } else if (miss) {
        // Passing it, the volume fails only rules the named check leaves out.
        expect(['selector', 'phase', 'delayBinding', 'heldBack'], label).to.include(miss.rule);
      }
    }
    // The generator reaches every rule as the deciding one, and many fits.
    expect([...decided.keys()].sort()).to.deep.equal([...ruleNames].sort());
    expect(accepted).to.be.above(pairs / 50);
  });

  it('on pools: the matcher finds a volume exactly when the explanation has one without a miss', () => {
    for (let i = 0; i < 300; i++) {
      const spec = claimSpec();
      const claim = pvc('c', spec);
      const volumes = Array.from({ length: 1 + Math.floor(rand() * 12) }, (_, j) =>
        pv(`v${j}`, volumeSpec(spec)),
      );
      const ctx = context();
      const label = `pool ${i}`;
      const matched = match(claim, volumes, ctx);
      const fitting = volumes.filter((v) => whyNot(v, claim, ctx) === undefined);
      if (matched === 'invalid') {
        expect(claim.spec?.selector?.matchExpressions?.[0]?.values, label).to.deep.equal([]);
      } else if (matched === undefined) {
        expect(fitting, label).to.deep.equal([]);
      } else {
        expect(fitting, label).to.include(matched);
      }
    }
  });
});
