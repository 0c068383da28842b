import { expect } from 'chai';

import { isLabelValue, labelValue } from '../../src/runtime/label-value.ts';

const pattern = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

describe('label values from names', () => {
  it('keeps a valid label value as it is', () => {
    for (const v of ['', 'a', 'data', 'team-a.example.com', 'A_b.C-9', 'x'.repeat(63)]) {
      expect(labelValue(v)).to.equal(v);
      expect(isLabelValue(v)).to.equal(true);
    }
  });

  it('shortens what does not fit to a valid value ending in a hash', () => {
    for (const v of [
      'x'.repeat(64),
      'z'.repeat(253),
      `${'a'.repeat(45)}.${'b'.repeat(200)}`,
      '-leading',
      'trailing.',
      'with space',
      'ünïcödé',
      '/////',
      `${'.'.repeat(60)}abc${'-'.repeat(10)}`,
    ]) {
      const out = labelValue(v);
      expect(isLabelValue(v), v).to.equal(false);
      expect(out, v).to.match(pattern);
      expect(out, v).to.match(/[0-9a-f]{16}$/);
    }
    expect(labelValue('z'.repeat(253))).to.equal(
      `${'z'.repeat(46)}-${labelValue('z'.repeat(253)).slice(-16)}`,
    );
    expect(labelValue('/////')).to.match(/^[0-9a-f]{16}$/);
  });

  it('tells apart long names that share the head', () => {
    const head = 'h'.repeat(80);
    const values = new Set(['a', 'b', 'c', 'aa'].map((t) => labelValue(`${head}${t}`)));
    expect(values.size).to.equal(4);
  });

  it('is the same for the same name', () => {
    expect(labelValue('q'.repeat(100))).to.equal(labelValue('q'.repeat(100)));
  });
});
