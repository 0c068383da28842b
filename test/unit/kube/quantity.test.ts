import { expect } from 'chai';

import {
  QuantityError,
  belowInt64Nano,
  beyondInt64Nano,
  formatBytes,
  isBeyondInt64,
  maxInt64Bytes,
  parseQuantity,
  shortText,
} from '../../../src/kube/quantity.ts';

const G = 10n ** 9n; // nano-units per unit
const maxNano = maxInt64Bytes * G;

/** nano / (10^9 × 2^bits × 10^power) as an exact decimal string. */
function inUnits(nano: bigint, bits: number, power = 0): string {
  // Dividing by 2^b is multiplying by 5^b and dividing by 10^b.
  const scale = nanoDigits + bits + power;
  const scaled = nano * 5n ** BigInt(bits) * 10n ** BigInt(Math.max(0, -scale));
  if (scale <= 0) return scaled.toString();
  const text = scaled.toString().padStart(scale + 1, '0');
  return `${text.slice(0, -scale)}.${text.slice(-scale)}`;
}
const nanoDigits = 9;

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
    ['1.', 1n * G],
    ['+3', 3n * G],
    ['-3', -3n * G],
    // Leading and trailing zeros change nothing.
    ['0001Gi', 1073741824n * G],
    ['000.000100', 100000n],
    ['1.000000000000000000000000000000000000000000000000000000000000000000', 1n * G],
    ['0e99999999999999999999999999', 0n],
    ['-0', 0n],
    ['1e+0003', 1000n * G],
    ['1e-0000000000000000000000000009', 1n],
    // Below a nano-unit rounds up (away from zero), however small.
    ['0.1n', 1n],
    ['1.0000000001', G + 1n],
    ['1e-1000000', 1n],
    ['-1e-1000000', -1n],
    ['1u', 1000n],
    ['0.0000000009765625Ki', 1000n], // 2^-10 of a micro-unit, times 2^10: exact, no rounding
    ['0.00000000097656250000000000001Ki', 1001n],
    // Exact across the window that is computed.
    ['7.999999999999999999Ei', 9223372036854775806847078496n],
    ['123456789012345678.123456789', 123456789012345678123456789n],
  ];
  for (const [text, nano] of rows) {
    it(`parses ${text.length > 40 ? shortText(text, 40) : text}`, () => {
      expect(parseQuantity(text)).to.equal(nano);
    });
  }

  it('orders binary and decimal sizes exactly', () => {
    expect(parseQuantity('1Gi') > parseQuantity('1G')).to.be.true;
    expect(parseQuantity('1024Mi')).to.equal(parseQuantity('1Gi'));
    expect(parseQuantity('1000M')).to.equal(parseQuantity('1G'));
  });

  for (const bad of [
    '',
    'Gi',
    '1K',
    '1 Gi',
    '1gi',
    '1.2.3',
    'abc',
    '1Gib',
    '.',
    '+',
    '-Gi',
    '1e',
    '1e+',
    '1e1.5',
    '1Ki3',
    '1E3i',
    '١',
  ]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      expect(() => parseQuantity(bad)).to.throw(QuantityError);
    });
  }

  it('quotes a long invalid text shortened', () => {
    expect(() => parseQuantity(`${'1'.repeat(100_000)}x`)).to.throw(
      QuantityError,
      /^invalid quantity "1{24}…"$/,
    );
  });

  describe('at the int64 limit of 2^63-1 bytes', () => {
    const kinds: [string, number, number][] = [
      ['Ki', 10, 0],
      ['Mi', 20, 0],
      ['Gi', 30, 0],
      ['Ti', 40, 0],
      ['Pi', 50, 0],
      ['Ei', 60, 0],
      ['', 0, 0],
      ['k', 0, 3],
      ['M', 0, 6],
      ['G', 0, 9],
      ['T', 0, 12],
      ['P', 0, 15],
      ['E', 0, 18],
      ['e18', 0, 18],
      ['e3', 0, 3],
      ['e-3', 0, -3],
      ['m', 0, -3],
      ['u', 0, -6],
      ['n', 0, -9],
      ['e-9', 0, -9],
      ['e-12', 0, -12],
    ];
    for (const [suffix, bits, power] of kinds) {
      const limit = inUnits(maxNano, bits, power);
      it(`${JSON.stringify(suffix)}: ${limit} is the limit exactly, a nano-unit more is beyond`, () => {
        expect(parseQuantity(`${limit}${suffix}`)).to.equal(maxNano);
        expect(parseQuantity(`-${limit}${suffix}`)).to.equal(-maxNano);
        expect(parseQuantity(`${inUnits(maxNano - 1n, bits, power)}${suffix}`)).to.equal(maxNano - 1n);
        const above = inUnits(maxNano + 1n, bits, power);
        expect(parseQuantity(`${above}${suffix}`)).to.equal(beyondInt64Nano);
        expect(parseQuantity(`-${above}${suffix}`)).to.equal(belowInt64Nano);
        // Past the last digit that matters: still beyond, or rounded up to the limit.
        if (limit.includes('.')) {
          expect(parseQuantity(`${limit}${'0'.repeat(100)}1${suffix}`)).to.equal(beyondInt64Nano);
          expect(parseQuantity(`${inUnits(maxNano - 1n, bits, power)}${'0'.repeat(100)}1${suffix}`)).to.equal(
            maxNano,
          );
        }
        expect(parseQuantity(`${inUnits(maxInt64Bytes * 2n * G, bits, power)}${suffix}`)).to.equal(
          beyondInt64Nano,
        );
      });
    }
    it('a whole byte more is beyond, in plain and exponent form', () => {
      expect(parseQuantity('9223372036854775808')).to.equal(beyondInt64Nano);
      expect(parseQuantity('9223372036854775807.000000001')).to.equal(beyondInt64Nano);
      expect(parseQuantity('9223372036854775807.0000000000001')).to.equal(beyondInt64Nano);
      expect(parseQuantity('8Ei')).to.equal(beyondInt64Nano);
      expect(parseQuantity('9.3E')).to.equal(beyondInt64Nano);
      expect(parseQuantity('9.3e18')).to.equal(beyondInt64Nano);
      expect(parseQuantity('-9223372036854775808')).to.equal(belowInt64Nano);
    });
  });

  describe('beyond any volume', () => {
    for (const text of [
      '1e10000000',
      '10e9999999',
      '1e+9999999',
      '1e99999999999999999999999',
      '1E19',
      '1e19',
      '1024Ei',
      `1${'0'.repeat(1_000_000)}`,
      '99999999999999999999999999999Ki',
    ]) {
      it(`${shortText(text)} saturates`, () => {
        expect(parseQuantity(text)).to.equal(beyondInt64Nano);
        expect(isBeyondInt64(parseQuantity(text))).to.be.true;
        expect(parseQuantity(`-${text}`)).to.equal(belowInt64Nano);
      });
    }
    it('compares larger than every real size, and is printed truly', () => {
      expect(beyondInt64Nano > parseQuantity('7Ei')).to.be.true;
      expect(isBeyondInt64(maxNano)).to.be.false;
      expect(isBeyondInt64(-maxNano)).to.be.false;
      expect(formatBytes(beyondInt64Nano)).to.equal('more than 2^63-1 bytes');
      expect(formatBytes(belowInt64Nano)).to.equal('less than -(2^63-1) bytes');
      expect(formatBytes(maxNano)).to.equal('9223372036854775807');
    });
  });

  it('formats sizes for messages', () => {
    expect(formatBytes(parseQuantity('2Gi'))).to.equal('2Gi');
    expect(formatBytes(parseQuantity('1536Mi'))).to.equal('1536Mi');
    expect(formatBytes(parseQuantity('500M'))).to.equal('500M');
    expect(formatBytes(parseQuantity('1001'))).to.equal('1001');
  });

  it('shortens a text for messages, never splitting a character', () => {
    expect(shortText('1e10000000')).to.equal('1e10000000');
    expect(shortText('x'.repeat(24))).to.equal('x'.repeat(24));
    expect(shortText('x'.repeat(25))).to.equal(`${'x'.repeat(24)}…`);
    expect(shortText(`${'x'.repeat(23)}😀yy`)).to.equal(`${'x'.repeat(23)}…`);
    expect(shortText('abcdef', 3)).to.equal('abc…');
  });
});
