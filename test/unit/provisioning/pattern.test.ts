import { expect } from 'chai';

import {
  type PatternInput,
  PatternError,
  defaultPattern,
  expandPattern,
  maxDepth,
  parsePattern,
} from '../../../src/provisioning/pattern.ts';

const input: PatternInput = {
  namespace: 'team-a',
  name: 'data',
  uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  volumeName: 'pvc-1b4e28ba-2fa1-11d2-883f-0016d3cca427',
  annotations: { 'example.com/dir': 'reports', plain: 'x' },
};

const expand = (text: string, over: Partial<PatternInput> = {}) =>
  expandPattern(parsePattern(text), { ...input, ...over });

describe('pathPattern', () => {
  it('gives by default one readable directory per volume, as nfs-subdir-external-provisioner does', () => {
    expect(expand(defaultPattern)).to.deep.equal({
      ok: true,
      components: ['team-a-data-pvc-1b4e28ba-2fa1-11d2-883f-0016d3cca427'],
    });
  });

  it('makes levels from the pattern\'s own "/" and fills in annotations', () => {
    expect(
      expand('${pvc.metadata.namespace}/${pvc.metadata.annotations.example.com/dir}/${pv.metadata.name}'),
    ).to.deep.equal({
      ok: true,
      components: ['team-a', 'reports', input.volumeName],
    });
    expect(expand('u-${pvc.metadata.uid}')).to.deep.equal({ ok: true, components: [`u-${input.uid}`] });
  });

  const refusedPatterns: [string, RegExp][] = [
    ['', /is empty/],
    ['/abs/${pv.metadata.name}', /starts with "\/"/],
    ['${pvc.metadata.name', /unclosed/],
    ['${pvc.spec.volumeName}', /unknown variable "pvc.spec.volumeName"/],
    ['${pvc.metadata.annotations.}', /not an annotation key/],
    ['${pvc.metadata.annotations.bad key}', /not an annotation key/],
    ['fixed-name', /uses no variable/],
    ['../${pv.metadata.name}', /".." component/],
    ['a/./${pv.metadata.name}', /"." component/],
    ['a//${pv.metadata.name}', /empty component/],
    ['${pv.metadata.name}/', /empty component/],
    ['a\0${pv.metadata.name}', /NUL/],
    ['x'.repeat(600), /longer than 512/],
  ];
  for (const [text, why] of refusedPatterns) {
    it(`refuses the pattern ${JSON.stringify(text.slice(0, 40))}`, () => {
      expect(() => parsePattern(text)).to.throw(PatternError, why);
    });
  }

  it('never lets a value from the claim add, climb or empty a level', () => {
    const p = '${pvc.metadata.annotations.plain}-${pv.metadata.name}';
    expect(expand(p, { annotations: { plain: '../../etc' } })).to.include({ ok: false });
    expect(expand('${pvc.metadata.annotations.plain}', { annotations: { plain: '..' } })).to.deep.include({
      ok: false,
    });
    expect(expand('${pvc.metadata.annotations.plain}', { annotations: { plain: '.' } })).to.deep.include({
      ok: false,
    });
    expect(expand('${pvc.metadata.annotations.plain}/x', { annotations: { plain: '' } })).to.deep.include({
      ok: false,
    });
    const slash = expand(p, { annotations: { plain: 'a/b' } });
    expect(slash.ok).to.equal(false);
    if (!slash.ok) expect(slash.problem).to.match(/contains "\/"/);
  });

  it('says which annotation is missing', () => {
    const r = expand('${pvc.metadata.annotations.example.com/other}-${pv.metadata.name}');
    expect(r).to.deep.equal({
      ok: false,
      problem: 'the claim has no annotation "example.com/other", which pathPattern uses',
    });
  });

  it('does not read inherited properties as annotations', () => {
    expect(expand('${pvc.metadata.annotations.constructor}').ok).to.equal(false);
  });

  it('bounds depth, name length and control characters after expansion', () => {
    const deep = Array.from({ length: maxDepth + 1 }, () => '${pvc.metadata.name}').join('/');
    expect(expand(deep).ok).to.equal(false);
    expect(
      expand('${pvc.metadata.annotations.plain}', { annotations: { plain: 'y'.repeat(256) } }).ok,
    ).to.equal(false);
    expect(expand('${pvc.metadata.annotations.plain}', { annotations: { plain: 'a\nb' } }).ok).to.equal(
      false,
    );
    expect(
      expand('${pvc.metadata.annotations.plain}', { annotations: { plain: 'y'.repeat(255) } }).ok,
    ).to.equal(true);
  });
});
