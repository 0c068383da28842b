// The Prometheus text format, as far as the benches read it: samples of one
// metric, and the difference of two scrapes of a counter. Pure functions.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/**
 * Samples from an exposition, only those of metric `only` when given (the API
 * server's /metrics is megabytes; the rest is skipped without being parsed).
 * Comments and blank lines are skipped; a line that is not a sample is an error
 * naming its line number.
 */
export function parsePrometheusText(text: string, only?: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '' || line.startsWith('#')) continue;
    if (only !== undefined && !(line.startsWith(only) && /[{\s]/.test(line.charAt(only.length)))) continue;
    try {
      samples.push(parseSampleLine(line));
    } catch (err) {
      throw new Error(`metrics line ${String(i + 1)}: ${(err as Error).message}: ${line.slice(0, 120)}`, {
        cause: err,
      });
    }
  }
  return samples;
}

function parseSampleLine(line: string): Sample {
  const name = namePattern.exec(line)?.[0];
  if (!name) throw new Error('no metric name');
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.trimStart();
      if (rest.startsWith('}')) break;
      const key = labelNamePattern.exec(rest)?.[0];
      if (!key) throw new Error('bad label name');
      rest = rest.slice(key.length).trimStart();
      if (!rest.startsWith('="')) throw new Error(`label ${key} has no quoted value`);
      const [value, after] = quotedValue(rest.slice(2));
      labels[key] = value;
      rest = after.trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) throw new Error(`label ${key} is not followed by ',' or '}'`);
    }
    rest = rest.slice(1);
  }
  // The value, then an optional timestamp.
  const [valueText] = rest.trim().split(/\s+/);
  return { name, labels, value: parseValue(valueText ?? '') };
}

/** A label value after its opening quote, with \\, \" and \n unescaped; and what follows the closing quote. */
function quotedValue(s: string): [string, string] {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (c === '"') return [out, s.slice(i + 1)];
    if (c === '\\') {
      const next = s.charAt(++i);
      out += next === 'n' ? '\n' : next;
    } else {
      out += c;
    }
  }
  throw new Error('unterminated label value');
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text))
    throw new Error(`bad value ${text.slice(0, 30)}`);
  return Number(text);
}

/** One string per series: the name and its labels, sorted, so two scrapes line up. */
export function seriesKey(s: Sample): string {
  const labels = Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(s.labels[k])}`);
  return `${s.name}{${labels.join(',')}}`;
}

/**
 * How much each counter grew between two scrapes. A series that is new counts
 * from zero; one that went down was reset (its process restarted) and counts from
 * zero again, as Prometheus's increase() does. Series that did not grow are left out.
 */
export function diffCounters(before: Sample[], after: Sample[]): Sample[] {
  const earlier = new Map(before.map((s) => [seriesKey(s), s.value]));
  const out: Sample[] = [];
  for (const s of after) {
    const was = earlier.get(seriesKey(s)) ?? 0;
    const grew = s.value >= was ? s.value - was : s.value;
    if (grew > 0) out.push({ ...s, value: grew });
  }
  return out;
}

/** Sums samples by a key made of some of their labels (missing labels are empty). */
export function sumBy(
  samples: Sample[],
  key: (labels: Record<string, string>) => string,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    const k = key(s.labels);
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}
