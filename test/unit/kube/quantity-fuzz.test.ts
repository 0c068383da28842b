// Thousands of generated quantities against an exact reference, plus hostile
// texts with known answers. Timings are measured and printed, never asserted;
// the asserted bound is structural: no BigInt is built from more digits than
// maxWorkingDigits, whatever the text.
import { expect } from 'chai';

import {
  QuantityError,
  belowInt64Nano,
  beyondInt64Nano,
  maxInt64Bytes,
  maxWorkingDigits,
  parseQuantity,
  shortText,
} from '../../../src/kube/quantity.ts';

const G = 10n ** 9n;
const maxNano = maxInt64Bytes * G;
const binaryBits: Record<string, bigint> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const decimalPowers: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

/** Exact and unbounded: the value × 10^9 rounded away from zero, then saturated. Only for small inputs. */
function reference(text: string): bigint {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?((?:[eE][+-]?\d+)|[KMGTPE]i|[numkMGTPE]?)$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new QuantityError(text);
  const [, sign, whole = '', fraction = '', suffix = ''] = m;
  let exponent = 9 - fraction.length;
  let value = BigInt(`${whole}${fraction}` || '0');
  const bits = binaryBits[suffix];
  if (bits !== undefined) value <<= bits;
  else exponent += /^[eE]./.test(suffix) ? Number(suffix.slice(1)) : (decimalPowers[suffix] ?? 0);
  if (exponent >= 0) value *= 10n ** BigInt(exponent);
  else value = (value + 10n ** BigInt(-exponent) - 1n) / 10n ** BigInt(-exponent);
  if (value > maxNano) value = beyondInt64Nano;
  return sign === '-' ? -value : value;
}

/** mulberry32: the same inputs on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const suffixes = [...Object.keys(binaryBits), ...Object.keys(decimalPowers)];

function generate(rnd: () => number): string {
  const int = (n: number) => Math.floor(rnd() * n);
  const digits = (n: number) => Array.from({ length: n }, () => String(int(10))).join('');
  const sign = ['', '', '+', '-'][int(4)] ?? '';
  let whole = '0'.repeat(int(3) === 0 ? int(6) : 0) + digits(int(32));
  const fraction = rnd() < 0.5 ? undefined : digits(int(70)) + '0'.repeat(int(3) === 0 ? int(10) : 0);
  if (whole === '' && !fraction) whole = digits(1 + int(3));
  let suffix: string;
  if (rnd() < 0.3) {
    const e = int(90) - 45;
    suffix = `${['e', 'E'][int(2)] ?? 'e'}${e < 0 ? '-' : ['', '+'][int(2)]}${'0'.repeat(int(3))}${Math.abs(e)}`;
  } else suffix = suffixes[int(suffixes.length)] ?? '';
  return `${sign}${whole}${fraction === undefined ? '' : `.${fraction}`}${suffix}`;
}

/** Near the limit: 2^63-1 bytes ± a little, written in a random unit with extra digits. */
function nearLimit(rnd: () => number): string {
  const int = (n: number) => Math.floor(rnd() * n);
  const nano = maxNano + BigInt(int(2001) - 1000) * 10n ** BigInt(int(12));
  const [suffix, bits, power] =
    rnd() < 0.5
      ? ((s) => [s, Number(binaryBits[s] ?? 0n), 0] as const)(Object.keys(binaryBits)[int(6)] ?? 'Ki')
      : ((s) => [s, 0, decimalPowers[s] ?? 0] as const)(Object.keys(decimalPowers)[int(10)] ?? '');
  const scale = 9 + bits + power;
  const scaled = (nano * 5n ** BigInt(bits)).toString();
  const text = scale <= 0 ? scaled + '0'.repeat(-scale) : scaled.padStart(scale + 1, '0');
  const number = scale <= 0 ? text : `${text.slice(0, -scale)}.${text.slice(-scale)}`;
  const tail = rnd() < 0.3 ? `${scale <= 0 ? '.' : ''}${'0'.repeat(int(40))}${int(10)}` : '';
  return `${number}${tail}${suffix}`;
}

/** Calls parse with BigInt() watched: the longest string any construction was given. */
function watchedParse(text: string): { value: bigint; longest: number; ms: number } {
  const original = globalThis.BigInt;
  let longest = 0;
  globalThis.BigInt = new Proxy(original, {
    apply(target, self, args: unknown[]) {
      const [arg] = args;
      if (typeof arg === 'string') longest = Math.max(longest, arg.length);
      return Reflect.apply(target, self, args) as bigint;
    },
  });
  try {
    const start = process.hrtime.bigint();
    const value = parseQuantity(text);
    return { value, longest, ms: Number(process.hrtime.bigint() - start) / 1e6 };
  } finally {
    globalThis.BigInt = original;
  }
}

describe('quantity parser fuzz', () => {
  it('keeps its working bound at a few dozen digits', () => {
    expect(maxWorkingDigits).to.be.at.most(72);
  });

  it('agrees with the exact reference on 20000 generated inputs', () => {
    const rnd = random(12);
    const times: number[] = [];
    let longest = 0;
    let beyond = 0;
    for (let n = 0; n < 20_000; n++) {
      const text = n % 4 === 3 ? nearLimit(rnd) : generate(rnd);
      const want = reference(text);
      const got = watchedParse(text);
      expect(got.value, text).to.equal(want);
      times.push(got.ms);
      longest = Math.max(longest, got.longest);
      if (got.value === beyondInt64Nano || got.value === belowInt64Nano) beyond++;
    }
    expect(longest).to.be.at.most(maxWorkingDigits);
    // The generator reaches both sides of the limit.
    expect(beyond).to.be.within(1000, 15_000);
    times.sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    console.log(
      `      ${String(times.length)} inputs: mean ${mean.toFixed(4)} ms, p99 ${(times[Math.floor(times.length * 0.99)] ?? 0).toFixed(4)} ms, max ${(times.at(-1) ?? 0).toFixed(3)} ms per parse; longest BigInt input ${String(longest)} digits`,
    );
  });

  it('rejects generated garbage with QuantityError, like the reference', () => {
    const rnd = random(7);
    const alphabet = '0123456789.+-eEKMGTPEimunk i';
    for (let n = 0; n < 5000; n++) {
      const text = Array.from(
        { length: 1 + Math.floor(rnd() * 12) },
        () => alphabet[Math.floor(rnd() * alphabet.length)],
      ).join('');
      let want: bigint | 'invalid';
      try {
        want = reference(text.trim());
      } catch (err) {
        if (!(err instanceof QuantityError) && !(err instanceof SyntaxError)) throw err;
        want = 'invalid';
      }
      if (want === 'invalid') expect(() => parseQuantity(text), text).to.throw(QuantityError);
      else expect(parseQuantity(text), text).to.equal(want);
    }
  });

  const zeros = (n: number) => '0'.repeat(n);
  const hostile: [string, string, bigint][] = [
    ['1e10000000', '1e10000000', beyondInt64Nano],
    ['1e+9999999', '1e+9999999', beyondInt64Nano],
    ['-1e10000000', '-1e10000000', belowInt64Nano],
    ['1 and a million zeros', `1${zeros(1_000_000)}`, beyondInt64Nano],
    ['1 and a million zeros, then e-1000000', `1${zeros(1_000_000)}e-1000000`, G],
    ['a million leading zeros', `${zeros(1_000_000)}1Gi`, 1073741824n * G],
    ['1MB of fraction digits', `0.${'1'.repeat(1 << 20)}`, 111111112n],
    ['1MB of fraction digits on Ei', `1.${'7'.repeat(1 << 20)}Ei`, 2049638230412172401777777778n],
    ['a one a million places down', `0.${zeros(1_000_000)}1e1000010`, 10n ** 18n],
    ['1Ei and a one a million places down', `1.${zeros(1_000_000)}1Ei`, (1n << 60n) * G + 1n],
    ['1e-1000000', '1e-1000000', 1n],
    ['1e-99999999999999999999', '1e-99999999999999999999', 1n],
    ['an exponent with a million digits', `1e${'9'.repeat(1_000_000)}`, beyondInt64Nano],
    ['an exponent with a million leading zeros', `1e${zeros(1_000_000)}3`, 1000n * G],
    ['zero with a huge exponent', `0.${zeros(1_000_000)}e${'9'.repeat(1000)}`, 0n],
  ];
  for (const [name, text, want] of hostile) {
    it(`${name}: ${shortText(text)}`, () => {
      const got = watchedParse(text);
      expect(got.value).to.equal(want);
      expect(got.longest).to.be.at.most(maxWorkingDigits);
      console.log(`      ${String(text.length)} chars: ${got.ms.toFixed(3)} ms`);
    });
  }

  it('quotes a hostile invalid text shortened and quickly', () => {
    const text = `${'9'.repeat(1 << 20)}x`;
    expect(() => parseQuantity(text)).to.throw(QuantityError, /^invalid quantity "9{24}…"$/);
  });
});
