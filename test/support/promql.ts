// Metric names in a PromQL expression, for the tests that hold the alerts and
// the dashboard to the metrics the operator really exports. Not a parser: it
// drops what cannot hold a metric name (strings, label matchers, ranges,
// grouping label lists), then every identifier not called as a function and
// not a keyword is a metric name.
const keywords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
]);

export function metricNames(expr: string): string[] {
  if (/__name__/.test(expr)) throw new Error(`selects metrics by __name__, which cannot be checked: ${expr}`);
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names = new Set<string>();
  // An identifier right after a digit, '.', or '$' is part of a number, a
  // duration or a dashboard variable.
  for (const m of s.matchAll(/(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const name = m[1] ?? '';
    if (m[2] !== undefined || keywords.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names];
}

/** What a registry exports: counters and gauges by name, histograms as their three series. */
// prom-client types `type` as a numeric enum, but its values are the names.
export function exportedSeriesNames(metrics: readonly { name: string; type: unknown }[]): Set<string> {
  const names = new Set<string>();
  for (const m of metrics) {
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(m.name + s);
    else names.add(m.name);
  }
  return names;
}
