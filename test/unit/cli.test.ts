import { expect } from 'chai';

import { main, parseCommandLine } from '../../src/cli.ts';

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
  return { code, out, err };
}

describe('pv-lifecycle-operator command line', () => {
  it('prints its name and the package version with --version', async () => {
    const r = await capture(['--version']);
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^pv-lifecycle-operator \d+\.\d+\.\d+\n$/);
  });

  it('prints usage naming every flag with --help and exits 0', async () => {
    const r = await capture(['--help']);
    expect(r.code).to.equal(0);
    expect(r.out).to.contain('Usage: pv-lifecycle-operator');
    for (const flag of [
      '--kubeconfig',
      '--workers',
      '--resync-period',
      '--metrics-bind-address',
      '--log-level',
      '--log-format',
      '--leader-elect',
      '--leader-election-id',
      '--leader-election-namespace',
      '--leader-election-lease-duration',
      '--leader-election-renew-deadline',
      '--leader-election-retry-period',
    ]) {
      expect(r.out).to.contain(flag);
    }
  });

  it('has defaults like the in-tree controller: 15 s resync, metrics on :8080, JSON logs at info', () => {
    expect(parseCommandLine([])).to.deep.equal({
      kind: 'run',
      options: {
        kubeconfig: undefined,
        namespace: 'pv-lifecycle-system',
        recyclerPodTemplate: undefined,
        recycleMaxRetries: 3,
        recycleRetryBaseMs: 10_000,
        probe: { intervalMs: 60_000, timeoutMs: 5_000, concurrency: 8, nfsPort: 2049, portmapperPort: 111 },
        timeouts: { nfsMinimum: 300, nfsIncrement: 30, hostPathMinimum: 60, hostPathIncrement: 30 },
        workers: 4,
        resyncPeriodMs: 15_000,
        metricsBindAddress: ':8080',
        requestTimeoutMs: 60_000,
        gracefulShutdownTimeoutMs: 15_000,
        logLevel: 'info',
        logFormat: 'json',
        leaderElection: {
          enabled: false,
          id: 'pv-lifecycle-operator',
          namespace: 'pv-lifecycle-system',
          leaseDurationMs: 15_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
        },
      },
    });
  });

  it('puts the lease in --namespace unless --leader-election-namespace says otherwise', () => {
    const inherit = parseCommandLine(['--leader-elect', '--namespace', 'ops']);
    expect(inherit.kind === 'run' && inherit.options.leaderElection).to.deep.include({
      enabled: true,
      namespace: 'ops',
    });
  });

  it('reads every flag', () => {
    const parsed = parseCommandLine([
      '--kubeconfig',
      '/dev/null',
      '--workers=8',
      '--resync-period',
      '1m30s',
      '--metrics-bind-address',
      '0',
      '--request-timeout',
      '5s',
      '--graceful-shutdown-timeout',
      '0s',
      '--log-level',
      'debug',
      '--log-format',
      'text',
      '--namespace',
      'ops',
      '--recycler-pod-template-configmap',
      'recycler',
      '--recycle-max-retries',
      '0',
      '--recycle-retry-base',
      '1m',
      '--pv-recycler-minimum-timeout-nfs',
      '600',
      '--pv-recycler-increment-timeout-nfs',
      '60',
      '--pv-recycler-minimum-timeout-hostpath',
      '120',
      '--pv-recycler-timeout-increment-hostpath',
      '10',
      '--probe-interval',
      '0',
      '--probe-timeout',
      '1500ms',
      '--probe-concurrency',
      '2',
      '--nfs-port',
      '12049',
      '--portmapper-port',
      '1111',
      '--leader-elect',
      '--leader-election-id',
      'my-lease',
      '--leader-election-namespace',
      'kube-system',
      '--leader-election-lease-duration',
      '4s',
      '--leader-election-renew-deadline',
      '3s',
      '--leader-election-retry-period',
      '500ms',
    ]);
    expect(parsed).to.deep.equal({
      kind: 'run',
      options: {
        kubeconfig: '/dev/null',
        namespace: 'ops',
        recyclerPodTemplate: { configMap: 'recycler', key: 'template.yaml' },
        recycleMaxRetries: 0,
        recycleRetryBaseMs: 60_000,
        probe: { intervalMs: 0, timeoutMs: 1_500, concurrency: 2, nfsPort: 12049, portmapperPort: 1111 },
        timeouts: { nfsMinimum: 600, nfsIncrement: 60, hostPathMinimum: 120, hostPathIncrement: 10 },
        workers: 8,
        resyncPeriodMs: 90_000,
        metricsBindAddress: undefined,
        requestTimeoutMs: 5_000,
        gracefulShutdownTimeoutMs: 0,
        logLevel: 'debug',
        logFormat: 'text',
        leaderElection: {
          enabled: true,
          id: 'my-lease',
          namespace: 'kube-system',
          leaseDurationMs: 4_000,
          renewDeadlineMs: 3_000,
          retryPeriodMs: 500,
        },
      },
    });
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown flag', ['--no-such-flag'], /--no-such-flag/],
    ['stray argument', ['run'], /unexpected argument "run"/],
    ['zero workers', ['--workers', '0'], /--workers: "0"/],
    ['fractional workers', ['--workers', '1.5'], /--workers: "1.5"/],
    ['duration without unit', ['--resync-period', '30'], /--resync-period: invalid duration "30"/],
    [
      'duration beyond what a timer can wait',
      ['--request-timeout', '1000h'],
      /--request-timeout: "1000h" is longer than 576h/,
    ],
    ['request timeout too short', ['--request-timeout', '10ms'], /--request-timeout: must be at least 100ms/],
    [
      'shutdown timeout without unit',
      ['--graceful-shutdown-timeout', '20'],
      /--graceful-shutdown-timeout: invalid duration "20"/,
    ],
    [
      'bad bind address',
      ['--metrics-bind-address', 'localhost'],
      /--metrics-bind-address: invalid bind address/,
    ],
    [
      'bad log level',
      ['--log-level', 'verbose'],
      /--log-level: "verbose" is not one of error, warn, info, debug/,
    ],
    ['bad log format', ['--log-format', 'xml'], /--log-format: "xml"/],
    ['missing kubeconfig', ['--kubeconfig', '/no/such/file'], /--kubeconfig: no file at "\/no\/such\/file"/],
    ['bad namespace', ['--namespace', 'Ops_1'], /--namespace: "Ops_1" is not a valid namespace name/],
    [
      'missing template file',
      ['--recycler-pod-template', '/no/t.yaml'],
      /--recycler-pod-template: no file at/,
    ],
    [
      'two templates',
      ['--recycler-pod-template', '/dev/null', '--recycler-pod-template-configmap', 'x'],
      /give one or the other/,
    ],
    ['bad configmap reference', ['--recycler-pod-template-configmap', 'a/b/c'], /is not NAME or NAME\/KEY/],
    ['negative retries', ['--recycle-max-retries=-1'], /--recycle-max-retries: "-1"/],
    [
      'renew deadline not shorter than the lease duration',
      ['--leader-election-lease-duration', '10s'],
      /--leader-election-renew-deadline \(10s\) must be shorter than --leader-election-lease-duration \(10s\)/,
    ],
    [
      'retry period not shorter than the renew deadline',
      ['--leader-election-retry-period', '10s'],
      /--leader-election-retry-period \(10s\) must be shorter than --leader-election-renew-deadline \(10s\)/,
    ],
    [
      'bad lease duration',
      ['--leader-election-lease-duration', '15'],
      /--leader-election-lease-duration: invalid duration "15"/,
    ],
    ['bad lease name', ['--leader-election-id', 'My_Lease'], /--leader-election-id: "My_Lease"/],
    [
      'bad lease namespace',
      ['--leader-election-namespace', 'A'],
      /--leader-election-namespace: "A" is not a valid namespace name/,
    ],
    ['zero timeout', ['--pv-recycler-minimum-timeout-nfs', '0'], /--pv-recycler-minimum-timeout-nfs: "0"/],
  ];
  for (const [name, argv, message] of bad) {
    it(`rejects ${name} with exit code 2 and a message naming it`, async () => {
      const r = await capture(argv);
      expect(r.code).to.equal(2);
      expect(r.err).to.match(message);
      expect(r.err).to.contain('Usage:');
    });
  }
});
