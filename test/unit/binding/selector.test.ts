import type { V1LabelSelector } from '@kubernetes/client-node';
import { expect } from 'chai';

import { SelectorError, compileSelector } from '../../../src/binding/selector.ts';

describe('label selectors', () => {
  const rows: [string, V1LabelSelector | undefined, Record<string, string> | undefined, boolean][] = [
    ['no selector matches anything', undefined, undefined, true],
    ['empty selector matches anything', {}, { a: '1' }, true],
    ['matchLabels equal', { matchLabels: { tier: 'gold' } }, { tier: 'gold', x: 'y' }, true],
    ['matchLabels different value', { matchLabels: { tier: 'gold' } }, { tier: 'silver' }, false],
    ['matchLabels missing key', { matchLabels: { tier: 'gold' } }, {}, false],
    ['matchLabels on no labels', { matchLabels: { tier: 'gold' } }, undefined, false],
    ['In hit', { matchExpressions: [{ key: 'z', operator: 'In', values: ['a', 'b'] }] }, { z: 'b' }, true],
    ['In miss', { matchExpressions: [{ key: 'z', operator: 'In', values: ['a'] }] }, { z: 'c' }, false],
    ['In absent key', { matchExpressions: [{ key: 'z', operator: 'In', values: ['a'] }] }, {}, false],
    ['NotIn hit', { matchExpressions: [{ key: 'z', operator: 'NotIn', values: ['a'] }] }, { z: 'a' }, false],
    [
      'NotIn other value',
      { matchExpressions: [{ key: 'z', operator: 'NotIn', values: ['a'] }] },
      { z: 'b' },
      true,
    ],
    ['NotIn absent key', { matchExpressions: [{ key: 'z', operator: 'NotIn', values: ['a'] }] }, {}, true],
    ['Exists present', { matchExpressions: [{ key: 'z', operator: 'Exists' }] }, { z: '' }, true],
    ['Exists absent', { matchExpressions: [{ key: 'z', operator: 'Exists' }] }, {}, false],
    ['DoesNotExist absent', { matchExpressions: [{ key: 'z', operator: 'DoesNotExist' }] }, {}, true],
    [
      'DoesNotExist present',
      { matchExpressions: [{ key: 'z', operator: 'DoesNotExist' }] },
      { z: 'a' },
      false,
    ],
    [
      'matchLabels AND expressions',
      { matchLabels: { a: '1' }, matchExpressions: [{ key: 'b', operator: 'Exists' }] },
      { a: '1' },
      false,
    ],
  ];
  for (const [name, selector, labels, want] of rows) {
    it(name, () => {
      expect(compileSelector(selector)(labels)).to.equal(want);
    });
  }

  for (const [name, selector] of [
    ['In without values', { matchExpressions: [{ key: 'z', operator: 'In', values: [] }] }],
    ['Exists with values', { matchExpressions: [{ key: 'z', operator: 'Exists', values: ['a'] }] }],
    ['unknown operator', { matchExpressions: [{ key: 'z', operator: 'Gt', values: ['1'] }] }],
  ] as [string, V1LabelSelector][]) {
    it(`rejects ${name}`, () => {
      expect(() => compileSelector(selector)).to.throw(SelectorError);
    });
  }
});
