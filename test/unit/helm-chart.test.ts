// charts/pv-lifecycle-operator read by the real helm (built by scripts/helm.sh)
// without a cluster: it lints, its defaults render the objects of
// config/default (and controllers "*,-binder" those of config/managed), its
// CRDs are crds/'s, its values reach the objects, and bad values are refused
// naming the field. test/integration/helm.test.ts installs it.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  dumpYaml,
  loadYaml,
  type V1ConfigMap,
  type V1Deployment,
  type V1Namespace,
  type V1RoleBinding,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { parseCommandLine } from '../../src/cli.ts';
import { kubectl } from '../support/kubectl.ts';
import {
  byKey,
  chartDir,
  ensureHelm,
  ensureKubectl,
  helm,
  helmRun,
  parseManifests,
  type Rendered,
  repoRoot,
  withoutChartAdditions,
} from '../support/helm.ts';

describe('Helm chart', function () {
  // helm renders in well under a second; a cold cache builds helm first (before hook).
  this.timeout(60_000);
  let helmBin = '';
  let kubectlBin = '';

  before(function () {
    this.timeout(20 * 60_000);
    helmBin = ensureHelm();
    kubectlBin = ensureKubectl();
  });

  const template = async (release: string, values: string[] = []) =>
    parseManifests(
      await helm(helmBin, [
        'template',
        release,
        chartDir,
        '--include-crds',
        '--namespace',
        'default',
        ...values,
      ]),
    );
  const kustomize = async (dir: string) =>
    parseManifests(await kubectl(kubectlBin, '/dev/null', ['kustomize', join(repoRoot, 'config', dir)]));
  const deploymentOf = (objects: Rendered[]) =>
    objects.find((m) => m.kind === 'Deployment') as unknown as V1Deployment;
  const argsOf = (objects: Rendered[]) =>
    deploymentOf(objects).spec?.template.spec?.containers[0]?.args ?? [];

  it('passes helm lint --strict', async () => {
    const r = await helmRun(helmBin, ['lint', '--strict', chartDir]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.contain('1 chart(s) linted, 0 chart(s) failed');
  });

  it("ships crds/'s CustomResourceDefinitions unchanged in its crds/ (make chart-crds copies them)", () => {
    const yaml = (dir: string) =>
      readdirSync(dir)
        .filter((f) => /\.(ya?ml|json)$/.test(f))
        .sort();
    const source = join(repoRoot, 'crds');
    const copy = join(chartDir, 'crds');
    expect(yaml(copy)).to.deep.equal(yaml(source));
    for (const f of yaml(source)) {
      expect(readFileSync(join(copy, f), 'utf8'), `${f} differs from crds/; run make chart-crds`).to.equal(
        readFileSync(join(source, f), 'utf8'),
      );
    }
  });

  it('keeps the CRD in crds/, out of its templates (helm install --skip-crds leaves it out)', async () => {
    const kinds = async (extra: string[]) =>
      parseManifests(await helm(helmBin, ['template', 'x', chartDir, ...extra])).map((m) => m.kind);
    expect(await kinds([])).to.not.include('CustomResourceDefinition');
    expect(await kinds(['--include-crds'])).to.include('CustomResourceDefinition');
  });

  it('renders with default values the objects of kubectl kustomize config/default, plus the release labels', async () => {
    const chart = await template('pv-lifecycle-operator');
    const config = await kustomize('default');
    // The only differences: app.kubernetes.io/instance and managed-by on every
    // object's own labels (not on selectors or pod labels, so a Deployment
    // applied with kubectl keeps its selector), and the Namespace kept on uninstall.
    const stripped = chart.map((m) =>
      m.kind === 'CustomResourceDefinition' ? m : withoutChartAdditions(m, 'pv-lifecycle-operator'),
    );
    expect(byKey(stripped)).to.deep.equal(byKey(config));
  });

  it('with controllers "*,-binder" renders the objects of config/managed', async () => {
    const chart = await template('pv-lifecycle-operator', ['--set', 'controllers=*\\,-binder']);
    const managed = await kustomize('managed');
    const stripped = chart.map((m) =>
      m.kind === 'CustomResourceDefinition' ? m : withoutChartAdditions(m, 'pv-lifecycle-operator'),
    );
    expect(byKey(stripped)).to.deep.equal(byKey(managed));
    expect(argsOf(chart)).to.include('--controllers=*,-binder');
  });

  it('names objects after another release, and its bindings refer to them', async () => {
    const chart = await template('blue', ['--set', 'namespace.name=blue-system']);
    const names = chart.filter((m) => m.kind !== 'CustomResourceDefinition').map((m) => m.metadata.name);
    expect(names).to.include.members([
      'blue-system',
      'blue-pv-lifecycle-operator',
      'blue-pv-lifecycle-operator-namespace',
      'blue-pv-lifecycle-metrics-reader',
    ]);
    expect(names).to.not.include('pv-lifecycle-operator');
    const binding = chart.find((m) => m.kind === 'RoleBinding') as unknown as V1RoleBinding;
    expect(binding.roleRef.name).to.equal('blue-pv-lifecycle-operator-namespace');
    expect(binding.subjects).to.deep.equal([
      { kind: 'ServiceAccount', name: 'blue-pv-lifecycle-operator', namespace: 'blue-system' },
    ]);
    for (const m of chart)
      if (m.metadata.namespace !== undefined) expect(m.metadata.namespace).to.equal('blue-system');
    expect(deploymentOf(chart).spec?.template.spec?.serviceAccountName).to.equal(
      'blue-pv-lifecycle-operator',
    );
  });

  it('carries its values into the objects, with flags the operator accepts', async () => {
    const values = {
      image: { repository: 'registry.example/pvl', tag: 'v1.2.3', pullPolicy: 'Always' },
      replicas: 3,
      namespace: { podSecurity: { enforce: 'baseline', audit: 'restricted', warn: 'restricted' } },
      controllers: '*,-provisioner',
      leaderElection: { id: 'pvl-lease', leaseDuration: '30s', renewDeadline: '20s', retryPeriod: '4s' },
      logLevel: 'debug',
      metrics: {
        port: 9090,
        serviceMonitor: { enabled: true, interval: '15s', labels: { release: 'prom' } },
      },
      nfsProbe: { interval: '1m', timeout: '3s', concurrency: 8 },
      recycler: { podTemplate: { spec: { containers: [{ name: 'scrub', image: 'busybox:1.37' }] } } },
      resources: { requests: { cpu: '100m', memory: '300Mi' }, limits: { cpu: '2', memory: '600Mi' } },
      readinessProbe: {
        httpGet: { path: '/readyz', port: 'metrics' },
        periodSeconds: 7,
        timeoutSeconds: 2,
        failureThreshold: 5,
      },
      extraArgs: ['--workers=8'],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'storage', operator: 'Exists', effect: 'NoSchedule' }],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } },
      },
    };
    // --set-json merges each value into the defaults, as a user's --set does.
    const sets = Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
    const chart = await template('pv-lifecycle-operator', sets);
    const d = deploymentOf(chart);
    const pod = d.spec?.template.spec;
    const c = pod?.containers[0];
    expect(d.spec?.replicas).to.equal(3);
    expect(c?.image).to.equal('registry.example/pvl:v1.2.3');
    expect(c?.imagePullPolicy).to.equal('Always');
    expect(c?.ports?.[0]?.containerPort).to.equal(9090);
    expect(c?.resources).to.deep.equal(values.resources);
    // Its scheme follows metrics.secure (on by default), as the values set none.
    expect(c?.readinessProbe).to.deep.equal({
      ...values.readinessProbe,
      httpGet: { ...values.readinessProbe.httpGet, scheme: 'HTTPS' },
    });
    expect(pod?.nodeSelector).to.deep.equal(values.nodeSelector);
    expect(pod?.tolerations).to.deep.equal(values.tolerations);
    expect(pod?.affinity).to.deep.equal(values.affinity);
    expect(d.spec?.template.metadata?.annotations?.['checksum/recycler-template']).to.match(/^[0-9a-f]{64}$/);

    // The operator's own parser takes the rendered flags and reads the values back.
    const command = parseCommandLine(c?.args ?? []);
    if (command.kind !== 'run') throw new Error(`args parse as ${command.kind}`);
    const o = command.options;
    expect(o.metricsBindAddress).to.equal(':9090');
    expect(o.metricsSecure).to.equal(true);
    expect(o.logLevel).to.equal('debug');
    expect(o.workers).to.equal(8);
    expect([...(o.controllers ?? [])].sort()).to.deep.equal(['binder', 'nfsexport', 'reclaim']);
    expect(o.leaderElection).to.include({
      enabled: true,
      id: 'pvl-lease',
      leaseDurationMs: 30_000,
      renewDeadlineMs: 20_000,
      retryPeriodMs: 4_000,
    });
    expect(o.probe).to.include({ intervalMs: 60_000, timeoutMs: 3_000, concurrency: 8 });
    expect(o.recyclerPodTemplate).to.deep.equal({
      configMap: 'pv-lifecycle-operator-recycler',
      key: 'template.yaml',
    });

    const cm = chart.find((m) => m.kind === 'ConfigMap') as unknown as V1ConfigMap;
    expect(cm.metadata?.name).to.equal('pv-lifecycle-operator-recycler');
    expect(parseManifests(cm.data?.['template.yaml'] ?? '')[0]).to.deep.equal(values.recycler.podTemplate);
    const ns = chart.find((m) => m.kind === 'Namespace') as unknown as V1Namespace;
    expect(ns.metadata?.labels).to.include({
      'pod-security.kubernetes.io/enforce': 'baseline',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
    const monitor = chart.find((m) => m.kind === 'ServiceMonitor');
    expect(monitor?.metadata.labels).to.include({ release: 'prom' });
    expect(monitor?.spec).to.deep.include({
      endpoints: [
        {
          port: 'metrics',
          path: '/metrics',
          interval: '15s',
          scheme: 'https',
          bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
          tlsConfig: { insecureSkipVerify: true },
        },
      ],
    });
    const service = chart.find((m) => m.kind === 'Service');
    expect(service?.spec).to.deep.include({
      ports: [{ name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' }],
    });
  });

  it('serves plain HTTP with metrics.secure=false: no --metrics-secure, HTTP probes, a ServiceMonitor without a token', async () => {
    const chart = await template('pv-lifecycle-operator', [
      '--set',
      'metrics.secure=false',
      '--set',
      'metrics.port=8080',
      '--set',
      'metrics.serviceMonitor.enabled=true',
    ]);
    const command = parseCommandLine(argsOf(chart));
    if (command.kind !== 'run') throw new Error(`args parse as ${command.kind}`);
    expect(command.options.metricsSecure).to.equal(undefined);
    expect(command.options.metricsBindAddress).to.equal(':8080');
    const c = deploymentOf(chart).spec?.template.spec?.containers[0];
    expect(c?.livenessProbe?.httpGet?.scheme).to.equal('HTTP');
    expect(c?.readinessProbe?.httpGet?.scheme).to.equal('HTTP');
    const monitor = chart.find((m) => m.kind === 'ServiceMonitor');
    expect(monitor?.spec).to.deep.include({
      endpoints: [{ port: 'metrics', path: '/metrics', interval: '30s' }],
    });
  });

  it('binds metrics.readers to the metrics-reader role, and fences the pods with networkPolicy', async () => {
    const readers = [{ name: 'prometheus-k8s', namespace: 'monitoring' }];
    const from = [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }];
    const chart = await template('blue', [
      '--set-json',
      `metrics.readers=${JSON.stringify(readers)}`,
      '--set',
      'networkPolicy.enabled=true',
      '--set-json',
      `networkPolicy.metricsFrom=${JSON.stringify(from)}`,
    ]);
    const binding: (Rendered & { roleRef?: { name: string }; subjects?: unknown }) | undefined = chart.find(
      (m) => m.kind === 'ClusterRoleBinding' && m.metadata.name === 'blue-pv-lifecycle-metrics-reader',
    );
    expect(binding?.roleRef).to.deep.equal({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'blue-pv-lifecycle-metrics-reader',
    });
    expect(
      chart.some((m) => m.kind === 'ClusterRole' && m.metadata.name === binding?.roleRef?.name),
    ).to.equal(true);
    expect(binding?.subjects).to.deep.equal([{ kind: 'ServiceAccount', ...readers[0] }]);
    const policy = chart.find((m) => m.kind === 'NetworkPolicy');
    const d = deploymentOf(chart);
    expect(policy?.spec).to.deep.equal({
      podSelector: { matchLabels: d.spec?.selector.matchLabels },
      policyTypes: ['Ingress'],
      // client-node's model calls the rule's from _from.
      ingress: [{ _from: from, ports: [{ port: 'metrics', protocol: 'TCP' }] }],
    });
    // The same policy as config/network-policy's with its default selector.
    const fenced = await template('pv-lifecycle-operator', ['--set', 'networkPolicy.enabled=true']);
    const kustomized = (await kustomize('network-policy'))[0];
    expect(fenced.find((m) => m.kind === 'NetworkPolicy')?.spec).to.deep.equal(kustomized?.spec);
    // Off by default: a policy admits only what the user's scraper setup is known to match.
    expect((await template('pv-lifecycle-operator')).map((m) => m.kind)).to.not.include('NetworkPolicy');
  });

  it('renders the values of an earlier chart, without metrics.secure and networkPolicy, as plain HTTP (helm upgrade --reuse-values)', async () => {
    // --reuse-values takes the release's old values instead of this chart's
    // defaults: a copy of the chart whose values lack the keys added since.
    const copy = mkdtempSync(join(tmpdir(), 'pvl-chart-'));
    try {
      cpSync(chartDir, copy, { recursive: true });
      const values = loadYaml<{ metrics: Record<string, unknown>; networkPolicy?: unknown }>(
        readFileSync(join(copy, 'values.yaml'), 'utf8'),
      );
      delete values.networkPolicy;
      delete values.metrics.secure;
      delete values.metrics.readers;
      values.metrics.port = 8080;
      writeFileSync(join(copy, 'values.yaml'), dumpYaml(values));
      const chart = parseManifests(await helm(helmBin, ['template', 'x', copy]));
      const c = deploymentOf(chart).spec?.template.spec?.containers[0];
      expect(c?.args).to.include('--metrics-bind-address=:8080').and.not.include('--metrics-secure');
      expect(c?.readinessProbe?.httpGet?.scheme).to.equal('HTTP');
      expect(chart.map((m) => m.kind)).to.not.include('NetworkPolicy');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('turns NFS probes off with nfsProbe.interval=0 given as a number, as --set gives it', async () => {
    const chart = await template('pv-lifecycle-operator', ['--set', 'nfsProbe.interval=0']);
    const command = parseCommandLine(argsOf(chart));
    if (command.kind !== 'run') throw new Error(`args parse as ${command.kind}`);
    expect(command.options.probe.intervalMs).to.equal(0);
    expect(argsOf(chart)).to.include('--probe-interval=0');
  });

  it('leaves out what is turned off: leader election, the Service, the Namespace', async () => {
    const chart = await template('pv-lifecycle-operator', [
      '--set',
      'leaderElection.enabled=false',
      '--set',
      'leaderElection.leaseDuration=30s',
      '--set',
      'metrics.service.enabled=false',
      '--set',
      'namespace.create=false',
    ]);
    expect(chart.map((m) => m.kind)).to.not.include.members([
      'Service',
      'Namespace',
      'ServiceMonitor',
      'ConfigMap',
    ]);
    expect(argsOf(chart).filter((a) => a.startsWith('--leader-elect'))).to.deep.equal([]);
  });

  it('refuses bad values with an error naming the value', async () => {
    const bad: [string, string][] = [
      ['replicas=-1', "at '/replicas'"],
      ['replicas=1e9', "at '/replicas'"],
      ['controllers=*\\,bogus', "at '/controllers'"],
      ['image.tag=latest;rm', "at '/image/tag'"],
      ['image.pullPolicy=Sometimes', "at '/image/pullPolicy'"],
      ['namespace.podSecurity.enforce=open', "at '/namespace/podSecurity/enforce'"],
      ['namespace.name=Not_A_Name', "at '/namespace/name'"],
      ['leaderElection.leaseDuration=forever', "at '/leaderElection/leaseDuration'"],
      ['metrics.port=80', "at '/metrics/port'"],
      ['metrics.secure=maybe', "at '/metrics/secure'"],
      ['metrics.readers[0].name=Bad_Name', "at '/metrics/readers/0"],
      ['extraArgs[0]=rm -rf /', "at '/extraArgs/0'"],
      ['logFormat=xml', "at '/logFormat'"],
      ['replica=2', "at '': additional properties 'replica'"],
    ];
    for (const [set, field] of bad) {
      const r = await helmRun(helmBin, ['template', 'x', chartDir, '--set', set]);
      expect(r.code, `--set ${set} was accepted`).to.not.equal(0);
      expect(r.stderr, `--set ${set}`)
        .to.contain("values don't meet the specifications of the schema")
        .and.contain(field);
    }
    // No peers would make the rule admit every source: refused.
    const none = await helmRun(helmBin, [
      'template',
      'x',
      chartDir,
      '--set-json',
      'networkPolicy.metricsFrom=[]',
    ]);
    expect(none.code, 'networkPolicy.metricsFrom=[] was accepted').to.not.equal(0);
    expect(none.stderr).to.contain("at '/networkPolicy/metricsFrom'");
    // helm drops a null before the schema sees it: the template refuses it.
    const nulled = await helmRun(helmBin, [
      'template',
      'x',
      chartDir,
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      'networkPolicy.metricsFrom=null',
    ]);
    expect(nulled.code, 'networkPolicy.metricsFrom=null was accepted').to.not.equal(0);
    expect(nulled.stderr).to.contain('networkPolicy.metricsFrom must name at least one peer');
  });
});
