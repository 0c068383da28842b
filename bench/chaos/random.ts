// A small seeded generator (32-bit state, xorshift steps with a multiplicative
// output mix), so a run's choices follow from its printed seed. Timing still
// varies between runs of one seed: the faults land on other work each time.
export type Random = () => number;

export function seeded(seed: number): Random {
  let state = (seed ^ 0x9e3779b9) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return (Math.imul(state, 0x2c1b3c6d) >>> 0) / 2 ** 32;
  };
}

/** A whole number in [lo, hi]. */
export const between = (r: Random, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export function pick<T>(r: Random, items: readonly T[]): T {
  const item = items[Math.floor(r() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}
