// Terminal output: aligned columns, colour only when asked (a TTY without
// NO_COLOR, decided by the caller), and -o json|yaml of the same data.
import { stringify } from 'yaml';

import type { Output } from './args.ts';

export type Tone = 'good' | 'bad' | 'warn' | 'dim' | 'bold';

const codes: Record<Tone, string> = { good: '32', bad: '31', warn: '33', dim: '2', bold: '1' };

/** A cell: plain text, or text with a tone that only a colour terminal shows. */
export type Cell = string | { text: string; tone: Tone };

const textOf = (c: Cell) => (typeof c === 'string' ? c : c.text);

/** Whether to colour: only on a terminal, and never when NO_COLOR is set to anything non-empty. */
export function useColour(isTTY: boolean | undefined, env: Record<string, string | undefined>): boolean {
  return isTTY === true && !env.NO_COLOR;
}

export function paint(c: Cell, colour: boolean): string {
  if (typeof c === 'string' || !colour) return textOf(c);
  return `\u001b[${codes[c.tone]}m${c.text}\u001b[0m`;
}

// Names from the cluster are printed, so control characters are made visible
// rather than let through to the terminal.
export function safeText(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

/**
 * Rows under upper-case headers, columns three spaces apart, padded by the
 * visible text (colour codes do not count), the last column not padded.
 */
export function table(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  colour: boolean,
): string {
  const all: Cell[][] = [
    headers.map((h) => ({ text: h.toUpperCase(), tone: 'bold' as const })),
    ...rows.map((r) => [...r]),
  ];
  const widths = headers.map((_h, i) => Math.max(...all.map((r) => safeText(textOf(r[i] ?? '')).length)));
  return all
    .map((r) =>
      headers
        .map((_h, i) => {
          const cell = r[i] ?? '';
          const text = safeText(textOf(cell));
          const shown = paint(typeof cell === 'string' ? text : { text, tone: cell.tone }, colour);
          return i === headers.length - 1 ? shown : shown + ' '.repeat((widths[i] ?? 0) - text.length);
        })
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

/** The data for -o json|yaml, with bigints as strings. */
export function serialise(data: unknown, output: Exclude<Output, 'table'>): string {
  const plain = JSON.parse(
    JSON.stringify(data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  ) as unknown;
  return output === 'json' ? JSON.stringify(plain, null, 2) : stringify(plain).trimEnd();
}
