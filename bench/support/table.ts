// Markdown tables and the small numbers that go in them. Pure functions.

/** A GitHub-flavoured markdown table; a | inside a cell is escaped. */
export function markdownTable(header: string[], rows: string[][]): string {
  const cell = (s: string) => s.replaceAll('|', '\\|');
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Nearest-rank percentile (p in 0..100) of xs; NaN for none. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? NaN;
}

const missing = '–';
const known = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);

export const seconds = (s: number | undefined): string => (known(s) ? `${s.toFixed(1)} s` : missing);
export const millis = (s: number | undefined): string =>
  known(s) ? `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms` : missing;
/** A duration in seconds, in ms below one second. */
export const duration = (s: number | undefined): string => (known(s) && s < 1 ? millis(s) : seconds(s));
export const mib = (kib: number | undefined): string =>
  known(kib) ? `${(kib / 1024).toFixed(0)} MiB` : missing;
/** A count per bind: whole numbers as they are, others to two places, or one digit when smaller (0.004). */
export function perBind(n: number | undefined): string {
  if (!known(n)) return missing;
  if (Number.isInteger(n)) return String(n);
  return Math.abs(n) >= 0.01 ? n.toFixed(2) : n.toPrecision(1);
}
