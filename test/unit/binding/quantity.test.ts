import { expect } from 'chai';

import { QuantityError, formatBytes, parseQuantity } from '../../../src/binding/quantity.ts';

const G = 10n ** 9n; // nano-units per unit

describe('resource quantities', () => {
  const rows: [string, bigint][] = [
    ['0', 0n],
    ['1', 1n * G],
    ['1Ki', 1024n * G],
    ['1Mi', 1048576n * G],
    ['1Gi', 1073741824n * G],
    ['1.5Gi', 1610612736n * G],
    ['1Ti', 1099511627776n * G],
    ['1k', 1000n * G],
    ['1M', 1000000n * G],
    ['1G', 1000000000n * G],
    ['1E', 10n ** 18n * G],
    ['1e3', 1000n * G],
    ['1E3', 1000n * G],
    ['2.5e-3', 2500000n],
    ['100m', 100000000n],
    ['1n', 1n],
    ['.5', 500000000n],
    ['+3', 3n * G],
    ['-3', -3n * G],
  ];
  for (const [text, nano] of rows) {
    it(`parses ${text}`, () => {
      expect(parseQuantity(text)).to.equal(nano);
    });
  }

  it('orders binary and decimal sizes exactly', () => {
    expect(parseQuantity('1Gi') > parseQuantity('1G')).to.be.true;
    expect(parseQuantity('1024Mi')).to.equal(parseQuantity('1Gi'));
    expect(parseQuantity('1000M')).to.equal(parseQuantity('1G'));
  });

  for (const bad of ['', 'Gi', '1K', '1 Gi', '1gi', '1.2.3', 'abc', '1Gib']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      expect(() => parseQuantity(bad)).to.throw(QuantityError);
    });
  }

  it('formats sizes for messages', () => {
    expect(formatBytes(parseQuantity('2Gi'))).to.equal('2Gi');
    expect(formatBytes(parseQuantity('1536Mi'))).to.equal('1536Mi');
    expect(formatBytes(parseQuantity('500M'))).to.equal('500M');
    expect(formatBytes(parseQuantity('1001'))).to.equal('1001');
  });
});
