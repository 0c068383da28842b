// Kubernetes resource quantities ("1Gi", "500M", "1.5Ti", "1e9", "100m"),
// parsed into nano-units as a bigint so capacities compare without
// floating-point error.
//
// The text comes from tenants: the apiserver accepts "1e10000000". Parsing
// is therefore linear in the text and never builds a number from the text's
// digits as such. Only an int64 of bytes is meaningful (no volume is larger),
// so a value's magnitude is first judged from where its leading digit sits;
// anything beyond 2^63-1 bytes saturates to beyondInt64Nano without further
// arithmetic, and only a bounded window of digits (see maxWorkingDigits)
// ever reaches BigInt.

const binarySuffixBits: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** Decimal SI suffixes as powers of ten. */
const decimalSuffixes: Record<string, number> = {
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

const nanoDigits = 9;
const nanoPerUnit = 10n ** BigInt(nanoDigits);

/** The largest size there is: an int64 of bytes. */
export const maxInt64Bytes = (1n << 63n) - 1n;
const maxNano = maxInt64Bytes * nanoPerUnit;
/** What every value above 2^63-1 bytes parses to; it compares larger than any real size. */
export const beyondInt64Nano = maxNano + 1n;
/** What every value below -(2^63-1) bytes parses to. */
export const belowInt64Nano = -beyondInt64Nano;
/** The limit in words, for messages. */
export const int64BytesText = '2^63-1 bytes, just under 8Ei';

/**
 * No BigInt is made from a string longer than this, whatever the text (checked
 * at run time): the digits kept from the text number at most 28 - 0.3·bits +
 * bits + 1 <= 70 (for Ei), a power of ten has at most 61 digits, and products
 * stay below 10^90.
 */
export const maxWorkingDigits = 72;

export class QuantityError extends Error {}

/** A user's text cut to a length fit for an event or an error message. */
export function shortText(text: string, max = 24): string {
  if (text.length <= max) return text;
  let head = text.slice(0, max);
  // Do not leave half of a surrogate pair at the end.
  const last = head.charCodeAt(head.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1);
  return `${head}…`;
}

/** True for a value that is no size a volume can have: beyond ±(2^63-1) bytes. */
export function isBeyondInt64(nano: bigint): boolean {
  return nano > maxNano || nano < -maxNano;
}

interface Lexed {
  negative: boolean;
  /** The whole and fraction digits as one string, and where the point sits in it. */
  digits: string;
  point: number;
  /** Power of ten from the suffix or exponent; huge exponents are clamped (see exponentOf). */
  power: number;
  /** Power of two from a binary suffix. */
  bits: number;
}

/**
 * An exponent's digits as a number. Past 15 significant digits the exact
 * value no longer matters: a string holds under 2^30 digits, so ±10^15
 * already puts the leading digit far outside the range that is computed.
 */
function exponentOf(text: string): number {
  const negative = text.startsWith('-');
  const significant = text.replace(/^[+-]?0*/, '');
  const magnitude = significant.length > 15 ? 1e15 : Number(significant || '0');
  return negative ? -magnitude : magnitude;
}

// Regular expressions without nested repetition: each runs in time linear in the text.
const numberPart = /([+-]?)(\d*)(?:\.(\d*))?/y;
const exponentSuffix = /^[eE]([+-]?\d+)$/;
const nonZero = /[1-9]/;

/** The grammar of resource.Quantity. */
function lex(text: string): Lexed | undefined {
  numberPart.lastIndex = 0;
  const m = numberPart.exec(text);
  const [, sign = '', whole = '', fraction = ''] = m ?? [];
  if (whole === '' && fraction === '') return undefined;
  const number = { negative: sign === '-', digits: whole + fraction, point: whole.length };
  const suffix = text.slice(numberPart.lastIndex);
  const bits = binarySuffixBits[suffix];
  if (bits !== undefined) return { ...number, power: 0, bits };
  const power = decimalSuffixes[suffix];
  if (power !== undefined) return { ...number, power, bits: 0 };
  const exponent = exponentSuffix.exec(suffix)?.[1];
  if (exponent === undefined) return undefined;
  return { ...number, power: exponentOf(exponent), bits: 0 };
}

function toBigInt(digits: string): bigint {
  if (digits.length > maxWorkingDigits) {
    throw new Error(
      `quantity parser built a ${String(digits.length)}-digit number (bound ${String(maxWorkingDigits)})`,
    );
  }
  return BigInt(digits);
}

const pow10 = (n: number): bigint => toBigInt(`1${'0'.repeat(n)}`);

/**
 * The magnitude in nano-units, rounded up; saturated at beyondInt64Nano.
 * The digit at index i of digits is worth 10^place(i) nano-units, before
 * the binary multiplier 2^bits.
 */
function magnitude({ digits, point, power, bits }: Lexed): bigint {
  const first = digits.search(nonZero);
  if (first < 0) return 0n;
  const place = (i: number) => point - 1 - i + power + nanoDigits;
  const top = place(first);
  // value >= 10^top × 2^bits, and the limit is below 10^28 nano-units.
  if (top + Math.floor(bits * Math.log10(2)) >= 28) return beyondInt64Nano;
  // Keep the digits down to place -bits and note whether a non-zero digit
  // lies below. That gives the exact ceiling of value × 2^bits: multiples of
  // 2^-bits are decimals with at most `bits` fraction digits, so the cut
  // never moves the value across one, and a non-zero digit further down
  // means value × 2^bits is not an integer.
  const cut = first + top + bits;
  // Nothing above the cut: value < 10^(top+1) × 2^bits <= (2/10)^bits <= 1 nano-unit.
  if (cut < first) return 1n;
  const end = Math.min(cut, digits.length - 1);
  const sticky = end < digits.length - 1 && nonZero.test(digits.slice(end + 1));
  const headPlace = place(end);
  const numerator =
    (toBigInt(digits.slice(first, end + 1)) << BigInt(bits)) * (headPlace > 0 ? pow10(headPlace) : 1n);
  const denominator = headPlace < 0 ? pow10(-headPlace) : 1n;
  let value = numerator / denominator;
  if (sticky || value * denominator !== numerator) value += 1n;
  return value > maxNano ? beyondInt64Nano : value;
}

/**
 * The quantity in nano-units (value × 10^9), rounded up like the apiserver
 * does for sub-nano precision. Exact up to ±(2^63-1) bytes; beyond that it
 * is beyondInt64Nano (or its negative twin belowInt64Nano).
 */
export function parseQuantity(text: string): bigint {
  const lexed = lex(text.trim());
  if (!lexed) throw new QuantityError(`invalid quantity ${JSON.stringify(shortText(text))}`);
  const value = magnitude(lexed);
  return lexed.negative ? -value : value;
}

/** parseQuantity for optional fields: a missing quantity counts as zero. */
export function quantityOrZero(text: string | undefined): bigint {
  return text === undefined ? 0n : parseQuantity(text);
}

/** A short human form for messages: "1Gi", "1536Mi", "500M", else plain bytes. */
export function formatBytes(nano: bigint): string {
  if (nano > maxNano) return 'more than 2^63-1 bytes';
  if (nano < -maxNano) return 'less than -(2^63-1) bytes';
  const units = nano / nanoPerUnit;
  if (units * nanoPerUnit !== nano) return `${nano}n`;
  for (const [suffix, shift] of Object.entries(binarySuffixBits).reverse()) {
    const size = 1n << BigInt(shift);
    if (units !== 0n && units % size === 0n) return `${units / size}${suffix}`;
  }
  for (const [suffix, power] of [
    ['E', 18],
    ['P', 15],
    ['T', 12],
    ['G', 9],
    ['M', 6],
    ['k', 3],
  ] as const) {
    const size = 10n ** BigInt(power);
    if (units !== 0n && units % size === 0n) return `${units / size}${suffix}`;
  }
  return `${units}`;
}
