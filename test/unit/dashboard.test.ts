// The Grafana dashboard and the alerts may only name series the operator
// really exports: a renamed metric must fail here, not go blank on a screen.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse } from 'yaml';

import { Metrics } from '../../src/runtime/metrics.ts';
import { exportedSeriesNames, metricNames } from '../support/promql.ts';

const dashboardPath = 'config/grafana/pv-lifecycle-operator.json';
const rulePath = 'config/prometheus/prometheusrule.yaml';

interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: unknown }[];
  panels?: Panel[];
}

function panelsOf(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

async function exported(): Promise<Set<string>> {
  const metrics = new Metrics();
  return exportedSeriesNames(await metrics.registry.getMetricsAsJSON());
}

function unknownNames(expr: string, known: Set<string>): string[] {
  const names = metricNames(expr);
  expect(names, `no metric named in ${expr}`).to.not.be.empty;
  return names.filter((n) => !known.has(n));
}

describe('metric names in PromQL (the check itself)', () => {
  it('finds selectors, histogram series and names beside functions, and nothing else', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, name) (rate(workqueue_queue_duration_seconds_bucket{job=~"$job", name="a b"}[$__rate_interval]))) / on (name) group_left(x) up offset 5m > 1e3',
      ),
    ).to.deep.equal(['workqueue_queue_duration_seconds_bucket', 'up']);
    expect(metricNames('absent(a == 1) or b:recorded unless c bool > 0.5')).to.deep.equal([
      'a',
      'b:recorded',
      'c',
    ]);
  });

  it('refuses an expression that selects by __name__', () => {
    expect(() => metricNames('{__name__=~"pv_.*"}')).to.throw(/__name__/);
  });

  it('knows histograms by their three series, not their bare name', async () => {
    const known = await exported();
    expect(known.has('controller_runtime_reconcile_time_seconds_bucket')).to.equal(true);
    expect(known.has('controller_runtime_reconcile_time_seconds')).to.equal(false);
    expect(known.has('process_cpu_seconds_total')).to.equal(true);
    expect(unknownNames('rate(pv_lifecycle_no_such_metric_total[5m])', known)).to.deep.equal([
      'pv_lifecycle_no_such_metric_total',
    ]);
  });
});

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(dashboardPath, 'utf8')) as {
    uid?: string;
    panels?: Panel[];
    templating?: { list?: { name?: string; query?: unknown }[] };
  };
  const panels = panelsOf(dashboard.panels ?? []).filter((p) => p.type !== 'row');

  it('has a stable uid and panels for binding, queues, reclaim, provisioning and exports', () => {
    expect(dashboard.uid).to.equal('pv-lifecycle-operator');
    const titles = panels.map((p) => p.title);
    for (const t of [
      'Binding latency',
      'Queue depth',
      'Reclaim outcomes',
      'Provisioning operations',
      'Probe outcomes',
    ])
      expect(titles).to.include(t);
  });

  it('names in every query only series the operator exports', async () => {
    const known = await exported();
    const unknown: string[] = [];
    for (const p of panels) {
      expect(p.targets, `panel ${String(p.title)} has no query`).to.not.be.empty;
      for (const t of p.targets ?? []) {
        expect(t.expr, `panel ${String(p.title)}`).to.be.a('string');
        unknown.push(...unknownNames(String(t.expr), known).map((n) => `${String(p.title)}: ${n}`));
      }
    }
    for (const v of dashboard.templating?.list ?? []) {
      const q = (v.query as { query?: string } | undefined)?.query;
      if (typeof q !== 'string') continue;
      // label_values(selector, label): the label is no metric.
      const selector = /^label_values\((.*),\s*[a-zA-Z_]\w*\)$/.exec(q)?.[1] ?? q;
      unknown.push(...unknownNames(selector, known).map((n) => `variable ${String(v.name)}: ${n}`));
    }
    expect(unknown).to.deep.equal([]);
  });
});

describe('the alert expressions', () => {
  it('name only series the operator exports', async () => {
    const known = await exported();
    const rule = parse(readFileSync(rulePath, 'utf8')) as {
      spec: { groups: { rules: { alert: string; expr: string }[] }[] };
    };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules).to.have.length.greaterThan(5);
    const unknown = rules.flatMap((r) => unknownNames(r.expr, known).map((n) => `${r.alert}: ${n}`));
    expect(unknown).to.deep.equal([]);
  });

  it("select the job the ServiceMonitor scrapes: the metrics Service's name", () => {
    const service = parse(readFileSync('config/metrics/service.yaml', 'utf8')) as {
      metadata: { name: string };
    };
    const rule = parse(readFileSync(rulePath, 'utf8')) as {
      spec: { groups: { rules: { expr: string }[] }[] };
    };
    for (const r of rule.spec.groups.flatMap((g) => g.rules)) {
      const jobs = [...r.expr.matchAll(/job\s*=~?\s*"([^"]*)"/g)].map((m) => m[1]);
      const selectors = r.expr.match(/[a-z_]+\{/g) ?? [];
      // Every selector carries the job matcher, and only that job.
      expect(jobs, r.expr).to.have.length(selectors.length);
      for (const j of jobs) expect(j).to.equal(service.metadata.name);
    }
  });
});
