import { expect } from 'chai';

import { commands } from '../../../src/plugin/args.ts';
import { run } from '../../../src/plugin/run.ts';

// Only what is answered before any kubeconfig is read: help, usage errors, a kubeconfig that cannot be read.
describe('kubectl pvl: help and exit statuses', () => {
  const pvl = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env: {}, isTTY: false });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('prints the help of the plugin and of each command, exit 0', async () => {
    const top = await pvl('--help');
    expect(top.code).to.equal(0);
    for (const c of commands) {
      expect(top.out).to.match(new RegExp(`^  ${c} `, 'm'));
      const h = await pvl(c, '--help');
      expect(h).to.deep.include({ code: 0, err: '' });
      expect(h.out.startsWith(`kubectl pvl ${c}`), h.out).to.equal(true);
      expect(h.out).to.contain('--kubeconfig FILE');
    }
  });

  it('a usage error is exit 2 with the reason, a kubeconfig it cannot read exit 1 naming it', async () => {
    expect(await pvl('why')).to.deep.equal({
      code: 2,
      out: '',
      err: 'error: "why" needs CLAIM\nRun "kubectl pvl --help" for usage.',
    });
    const bad = await pvl('status', '--kubeconfig', '/nonexistent/pvl-kubeconfig');
    expect(bad.code).to.equal(1);
    expect(bad.err).to.match(/^error: cannot read kubeconfig \/nonexistent\/pvl-kubeconfig: ENOENT/);
  });
});
