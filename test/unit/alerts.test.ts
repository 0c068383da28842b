// Every alert of config/prometheus/prometheusrule.yaml through promtool, on
// series written here: each fires when it should and stays quiet when not.
// promtool is built once from Go modules and cached (tools/promtool/build.sh).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

import { type AlertCase, promtoolTest, renderAnnotations, ruleGroups } from '../support/promtool.ts';

const run = promisify(execFile);
const groups = ruleGroups('config/prometheus/prometheusrule.yaml');
const rules = groups.flatMap((g) => g.rules);
const job = 'job="pv-lifecycle-operator-metrics"';

const cases: Record<string, AlertCase[]> = {
  PVLifecycleNoLeader: [
    {
      title: 'fires when both replicas are standbys for 5 minutes',
      input: [
        {
          series: `leader_election_master_status{${job},name="pv-lifecycle-operator",pod="a"}`,
          values: '0x15',
        },
        {
          series: `leader_election_master_status{${job},name="pv-lifecycle-operator",pod="b"}`,
          values: '0x15',
        },
      ],
      evalTime: '10m',
      firing: [{ labels: {} }],
    },
    {
      title: 'fires when no replica is scraped at all',
      input: [{ series: `up{${job}}`, values: '0x15' }],
      evalTime: '10m',
      firing: [{ labels: {} }],
    },
    {
      title: 'stays quiet while one replica leads, and through a short handover',
      input: [
        {
          series: `leader_election_master_status{${job},name="pv-lifecycle-operator",pod="a"}`,
          values: '1x5 0x10',
        },
        {
          series: `leader_election_master_status{${job},name="pv-lifecycle-operator",pod="b"}`,
          values: '0x7 1x8',
        },
      ],
      evalTime: '15m',
      firing: [],
    },
    {
      title: "is not satisfied by another operator's leader",
      input: [
        { series: `leader_election_master_status{job="other",name="pv-lifecycle-operator"}`, values: '1x15' },
      ],
      evalTime: '10m',
      firing: [{ labels: {} }],
    },
  ],
  PVLifecycleBindingStalled: [
    {
      title: 'fires when claims keep a fitting volume for 15 minutes',
      input: [{ series: `pv_lifecycle_pending_claims_with_fitting_volume{${job},pod="a"}`, values: '2x25' }],
      evalTime: '20m',
      firing: [{ labels: {}, value: 2 }],
    },
    {
      title: 'stays quiet when the claims get bound in between',
      input: [
        { series: `pv_lifecycle_pending_claims_with_fitting_volume{${job},pod="a"}`, values: '3x10 0 3x14' },
      ],
      evalTime: '20m',
      firing: [],
    },
  ],
  PVLifecycleScrubFailing: [
    {
      title: 'fires on the first failure, when the failed series is new',
      input: [
        {
          series: `pv_lifecycle_reclaim_operations_total{${job},operation="recycle",policy="Recycle",result="failed"}`,
          values: '_x10 1x20',
        },
      ],
      evalTime: '15m',
      firing: [{ labels: { operation: 'recycle', policy: 'Recycle' } }],
    },
    {
      title: 'fires when an existing failed counter grows',
      input: [
        {
          series: `pv_lifecycle_reclaim_operations_total{${job},operation="delete",policy="Delete",result="failed"}`,
          values: '2x40 3x20',
        },
      ],
      evalTime: '50m',
      firing: [{ labels: { operation: 'delete', policy: 'Delete' } }],
    },
    {
      title: 'stays quiet on successes and on failures older than 30 minutes',
      input: [
        {
          series: `pv_lifecycle_reclaim_operations_total{${job},operation="recycle",policy="Recycle",result="failed"}`,
          values: '3x60',
        },
        {
          series: `pv_lifecycle_reclaim_operations_total{${job},operation="recycle",policy="Recycle",result="succeeded"}`,
          values: '0+1x60',
        },
      ],
      evalTime: '50m',
      firing: [],
    },
  ],
  PVLifecycleScrubStuck: [
    {
      title: 'fires when Jobs are in flight for an hour and none finished',
      input: [{ series: `pv_lifecycle_recycler_jobs_in_flight{${job},pod="a"}`, values: '2x80' }],
      evalTime: '70m',
      firing: [{ labels: {}, value: 2 }],
    },
    {
      title: 'stays quiet while scrubs keep finishing',
      input: [
        { series: `pv_lifecycle_recycler_jobs_in_flight{${job},pod="a"}`, values: '2x80' },
        {
          series: `pv_lifecycle_reclaim_operations_total{${job},operation="recycle",policy="Recycle",result="succeeded"}`,
          values: '0+1x80',
        },
      ],
      evalTime: '70m',
      firing: [],
    },
  ],
  PVLifecycleNfsServerUnreachable: [
    {
      title: 'fires when probes keep failing for 10 minutes',
      input: [
        { series: `pv_lifecycle_nfs_probe_total{${job},reason="Timeout"}`, values: '0+1x30' },
        { series: `pv_lifecycle_nfs_probe_total{${job},reason="Reachable"}`, values: '0+1x30' },
      ],
      evalTime: '20m',
      firing: [{ labels: { reason: 'Timeout' } }],
    },
    {
      title: 'stays quiet after a short outage and on an old one',
      input: [
        { series: `pv_lifecycle_nfs_probe_total{${job},reason="Timeout"}`, values: '0 1 2 3 3x26' },
        { series: `pv_lifecycle_nfs_probe_total{${job},reason="ConnectionRefused"}`, values: '4x30' },
        { series: `pv_lifecycle_nfs_probe_total{${job},reason="Reachable"}`, values: '0+1x30' },
      ],
      evalTime: '20m',
      firing: [],
    },
  ],
  PVLifecycleReconcileErrors: [
    {
      title: 'fires when a fifth of the reconciles fail, at two a minute',
      input: [
        {
          series: `controller_runtime_reconcile_total{${job},controller="persistentvolumeclaim-binder",result="success"}`,
          values: '0+8x40',
        },
        {
          series: `controller_runtime_reconcile_total{${job},controller="persistentvolumeclaim-binder",result="error"}`,
          values: '0+2x40',
        },
        {
          series: `controller_runtime_reconcile_errors_total{${job},controller="persistentvolumeclaim-binder"}`,
          values: '0+2x40',
        },
      ],
      evalTime: '30m',
      firing: [{ labels: { controller: 'persistentvolumeclaim-binder' } }],
    },
    {
      title: 'stays quiet at a low error share, and at a high share of very few reconciles',
      input: [
        {
          series: `controller_runtime_reconcile_total{${job},controller="persistentvolumeclaim-binder",result="success"}`,
          values: '0+19x40',
        },
        {
          series: `controller_runtime_reconcile_total{${job},controller="persistentvolumeclaim-binder",result="error"}`,
          values: '0+1x40',
        },
        {
          series: `controller_runtime_reconcile_errors_total{${job},controller="persistentvolumeclaim-binder"}`,
          values: '0+1x40',
        },
        {
          series: `controller_runtime_reconcile_total{${job},controller="nfsexport",result="success"}`,
          values: '0+0.5x40',
        },
        {
          series: `controller_runtime_reconcile_total{${job},controller="nfsexport",result="error"}`,
          values: '0+0.5x40',
        },
        {
          series: `controller_runtime_reconcile_errors_total{${job},controller="nfsexport"}`,
          values: '0+0.5x40',
        },
      ],
      evalTime: '30m',
      firing: [],
    },
  ],
  PVLifecycleProvisioningFailing: [
    {
      title: 'fires when provisioning keeps failing',
      input: [
        {
          series: `pv_lifecycle_provisioning_operations_total{${job},operation="provision",result="failed"}`,
          values: '0+1x30',
        },
      ],
      evalTime: '10m',
      firing: [{ labels: { operation: 'provision' } }],
    },
    {
      title: 'stays quiet on successes and on failures older than 15 minutes',
      input: [
        {
          series: `pv_lifecycle_provisioning_operations_total{${job},operation="provision",result="failed"}`,
          values: '5x40',
        },
        {
          series: `pv_lifecycle_provisioning_operations_total{${job},operation="provision",result="succeeded"}`,
          values: '0+1x40',
        },
      ],
      evalTime: '30m',
      firing: [],
    },
  ],
};

describe('the PrometheusRule alerts', () => {
  it('has a severity, a summary and a description on every alert, and a case for each', () => {
    expect(rules.map((r) => r.alert)).to.have.members(Object.keys(cases));
    for (const r of rules) {
      expect(r.labels?.severity, r.alert).to.be.oneOf(['warning', 'critical']);
      expect(r.annotations?.summary, r.alert).to.be.a('string').that.is.not.empty;
      expect(r.annotations?.description, r.alert).to.match(/kubectl/);
      const byCase = cases[r.alert] ?? [];
      expect(
        byCase.some((c) => c.firing.length > 0),
        `${r.alert} never fires`,
      ).to.equal(true);
      expect(
        byCase.some((c) => c.firing.length === 0),
        `${r.alert} is never quiet`,
      ).to.equal(true);
    }
  });

  it('renders $labels and $value in annotations as Prometheus does', () => {
    const rule = {
      alert: 'A',
      expr: 'x',
      annotations: { summary: '{{ $value }} of {{ $labels.operation }}' },
    };
    expect(renderAnnotations(rule, { operation: 'delete' }, 2)).to.deep.equal({ summary: '2 of delete' });
  });
});

describe('the PrometheusRule alerts (promtool test rules)', function () {
  let promtool = '';

  before(async function () {
    // Cold, the build takes minutes; make test-unit builds it first (make promtool).
    this.timeout(30 * 60_000);
    try {
      const { stdout } = await run('bash', ['tools/promtool/build.sh'], { maxBuffer: 64 << 20 });
      promtool = stdout.trim().split('\n').pop() ?? '';
    } catch (err) {
      const message = (err as { stderr?: string }).stderr ?? String(err);
      if (/Go >= [\d.]+ is required to build promtool/.test(message)) {
        console.log(`    skipped: promtool cannot be built here: ${message.trim()}`);
        this.skip();
      }
      throw err;
    }
  });

  it('passes promtool check rules', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvl-rules-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups }));
      const { stdout } = await run(promtool, ['check', 'rules', join(dir, 'rules.yaml')]);
      expect(stdout).to.match(/SUCCESS: 7 rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const rule of rules) {
    describe(rule.alert, () => {
      for (const c of cases[rule.alert] ?? []) {
        it(c.title, async () => {
          const out = await promtoolTest(promtool, groups, rule, c);
          expect(out).to.match(/SUCCESS/);
        });
      }
    });
  }

  // Each case must tell firing from quiet: with its expectation turned
  // around (quiet for firing, one bare alert for quiet), promtool must fail.
  for (const rule of rules) {
    for (const c of cases[rule.alert] ?? []) {
      it(`${rule.alert}: fails with the expectation turned around (${c.title})`, async () => {
        const turned = { ...c, firing: c.firing.length > 0 ? [] : [{ labels: {} }] };
        let failure = '';
        await promtoolTest(promtool, groups, rule, turned).catch((err: unknown) => {
          failure = String(err);
        });
        expect(failure).to.match(new RegExp(rule.alert));
      });
    }
  }
});
