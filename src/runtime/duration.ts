// Durations on the command line, written as Kubernetes components write them
// (Go's time.ParseDuration): "15s", "1m30s", "500ms", "2h". A bare "0" is zero.
const units: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds; throws an Error naming the bad value. */
export function parseDuration(text: string): number {
  const value = text.trim();
  if (value === '0') return 0;
  const part = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < value.length) {
    part.lastIndex = at;
    const m = part.exec(value);
    if (!m?.[1] || !m[2]) break;
    total += Number(m[1]) * (units[m[2]] ?? Number.NaN);
    at = part.lastIndex;
  }
  if (value === '' || at !== value.length || !Number.isFinite(total)) {
    throw new Error(`invalid duration "${text}": use a number with a unit, such as 500ms, 15s, 1m30s or 2h`);
  }
  return Math.round(total);
}

/** The shortest form parseDuration reads back, for help texts and logs. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${String(ms / 3_600_000)}h`;
  if (ms % 60_000 === 0) return `${String(ms / 60_000)}m`;
  if (ms % 1000 === 0) return `${String(ms / 1000)}s`;
  return `${String(ms)}ms`;
}
