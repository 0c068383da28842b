import { expect } from 'chai';

import { main } from '../../src/cli.ts';

function capture(argv: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = main(argv, { write: (t: string) => (out += t) }, { write: (t: string) => (err += t) });
  return { code, out, err };
}

describe('pv-lifecycle-operator command line', () => {
  it('prints its name and the package version with --version', () => {
    const r = capture(['--version']);
    expect(r.code).to.equal(0);
    expect(r.out).to.match(/^pv-lifecycle-operator \d+\.\d+\.\d+\n$/);
  });

  it('prints usage with --help and exits 0', () => {
    const r = capture(['--help']);
    expect(r.code).to.equal(0);
    expect(r.out).to.contain('Usage: pv-lifecycle-operator');
  });

  it('rejects an unknown flag with exit code 2 and names it', () => {
    const r = capture(['--no-such-flag']);
    expect(r.code).to.equal(2);
    expect(r.err).to.contain('--no-such-flag');
  });
});
