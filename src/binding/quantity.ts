// Kubernetes resource quantities ("1Gi", "500M", "1.5Ti", "1e9", "100m"),
// parsed exactly into nano-units as a bigint so capacities compare without
// floating-point error.

const binarySuffixes: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};

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
const pattern = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)((?:[eE][+-]?\d+)|[KMGTPE]i|[numkMGTPE]?)$/;

export class QuantityError extends Error {}

/**
 * The quantity in nano-units (value × 10^9), rounded up like the apiserver
 * does for sub-nano precision.
 */
export function parseQuantity(text: string): bigint {
  const m = pattern.exec(text.trim());
  if (!m) {
    throw new QuantityError(`invalid quantity ${JSON.stringify(text)}`);
  }
  const [, sign = '', number = '', suffix = ''] = m;
  const [whole = '', fraction = ''] = number.split('.');
  const digits = BigInt((whole || '0') + fraction);
  let exponent = -fraction.length + nanoDigits;
  let multiplier = 1n;
  const binary = binarySuffixes[suffix];
  if (binary !== undefined) {
    multiplier = binary;
  } else if (/^[eE]/.test(suffix) && suffix.length > 1) {
    exponent += Number(suffix.slice(1));
  } else {
    exponent += decimalSuffixes[suffix] ?? 0;
  }
  let value = digits * multiplier;
  if (exponent >= 0) {
    value *= 10n ** BigInt(exponent);
  } else {
    const divisor = 10n ** BigInt(-exponent);
    value = (value + divisor - 1n) / divisor;
  }
  return sign === '-' ? -value : value;
}

/** parseQuantity for optional fields: a missing quantity counts as zero. */
export function quantityOrZero(text: string | undefined): bigint {
  return text === undefined ? 0n : parseQuantity(text);
}

/** A short human form for messages: "1Gi", "1536Mi", "500M", else plain bytes. */
export function formatBytes(nano: bigint): string {
  const units = nano / 10n ** BigInt(nanoDigits);
  if (units * 10n ** BigInt(nanoDigits) !== nano) return `${nano}n`;
  for (const suffix of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
    const size = binarySuffixes[suffix] ?? 1n;
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
