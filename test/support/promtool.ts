// Runs Prometheus's promtool on the PrometheusRule's alerts: the rule groups
// go to a plain rule file (promtool does not read the custom resource) and
// each test case to a unit-test file of promtool's own format.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const run = promisify(execFile);

export interface AlertRule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The rule groups of a PrometheusRule manifest, checked for the shape promtool needs. */
export function ruleGroups(manifestPath: string): RuleGroup[] {
  const doc = parse(readFileSync(manifestPath, 'utf8')) as { kind?: string; spec?: { groups?: RuleGroup[] } };
  if (doc.kind !== 'PrometheusRule') throw new Error(`${manifestPath}: kind is ${String(doc.kind)}`);
  const groups = doc.spec?.groups;
  if (!Array.isArray(groups) || groups.length === 0) throw new Error(`${manifestPath}: spec.groups is empty`);
  return groups;
}

/** What an alert's annotations say for these labels and value ($labels and $value only). */
export function renderAnnotations(
  rule: AlertRule,
  labels: Record<string, string>,
  value: number,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, text] of Object.entries(rule.annotations ?? {})) {
    out[k] = text.replace(/\{\{\s*\$(labels\.(\w+)|value)\s*\}\}/g, (_m, _w, label?: string) =>
      label === undefined ? String(value) : (labels[label] ?? ''),
    );
  }
  return out;
}

export interface SeriesInput {
  series: string;
  values: string;
}

export interface ExpectedAlert {
  labels: Record<string, string>;
  /** The alert expression's value, for $value in the annotations. */
  value?: number;
}

export interface AlertCase {
  title: string;
  input: SeriesInput[];
  evalTime: string;
  firing: ExpectedAlert[];
}

/** Runs one case for rule through promtool; resolves to promtool's output, rejects with it on failure. */
export async function promtoolTest(
  promtool: string,
  groups: RuleGroup[],
  rule: AlertRule,
  c: AlertCase,
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'pvl-promtool-'));
  try {
    // JSON is YAML, so both files are written with JSON.stringify.
    writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups }));
    const expAlerts = c.firing.map((a) => {
      const labels = { ...rule.labels, ...a.labels };
      return { exp_labels: labels, exp_annotations: renderAnnotations(rule, labels, a.value ?? 0) };
    });
    const test = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: c.input,
          alert_rule_test: [{ eval_time: c.evalTime, alertname: rule.alert, exp_alerts: expAlerts }],
        },
      ],
    };
    writeFileSync(join(dir, 'test.yaml'), JSON.stringify(test));
    try {
      const { stdout, stderr } = await run(promtool, ['test', 'rules', 'test.yaml'], {
        cwd: dir,
        timeout: 60_000,
      });
      return stdout + stderr;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`promtool test rules failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`, {
        cause: err,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
