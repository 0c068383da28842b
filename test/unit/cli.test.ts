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
    ]) {
      expect(r.out).to.contain(flag);
    }
  });

  it('has defaults like the in-tree controller: 15 s resync, metrics on :8080, JSON logs at info', () => {
    expect(parseCommandLine([])).to.deep.equal({
      kind: 'run',
      options: {
        kubeconfig: undefined,
        workers: 4,
        resyncPeriodMs: 15_000,
        metricsBindAddress: ':8080',
        logLevel: 'info',
        logFormat: 'json',
      },
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
      '--log-level',
      'debug',
      '--log-format',
      'text',
    ]);
    expect(parsed).to.deep.equal({
      kind: 'run',
      options: {
        kubeconfig: '/dev/null',
        workers: 8,
        resyncPeriodMs: 90_000,
        metricsBindAddress: undefined,
        logLevel: 'debug',
        logFormat: 'text',
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
