import { expect } from 'chai';

import { UsageError, defaultTimeoutMs, parseArgs } from '../../../src/plugin/args.ts';

describe('kubectl pvl: the command line', () => {
  const usage = (argv: string[], message: RegExp) =>
    expect(() => parseArgs(argv)).to.throw(UsageError, message);

  it('reads a command, its name and the common flags, in any order and as --flag=value', () => {
    expect(parseArgs(['why', '-n', 'team-a', 'data-0', '--context=dev', '-o', 'json'])).to.deep.equal({
      help: false,
      command: 'why',
      name: 'data-0',
      options: {
        namespace: 'team-a',
        context: 'dev',
        output: 'json',
        yes: false,
        timeoutMs: defaultTimeoutMs,
        operatorNamespace: 'pv-lifecycle-system',
        leaseName: 'pv-lifecycle-operator',
      },
    });
    const r = parseArgs(['recycle', 'pv-1', '--yes', '--timeout', '90s', '--kubeconfig', '/k']);
    expect(r).to.deep.include({ command: 'recycle', name: 'pv-1' });
    if (r.help) throw new Error('not help');
    expect(r.options).to.include({ yes: true, timeoutMs: 90_000, kubeconfig: '/k' });
    const s = parseArgs(['status', '--operator-namespace=ops', '--lease', 'my-lease']);
    if (s.help) throw new Error('not help');
    expect(s.options).to.include({ operatorNamespace: 'ops', leaseName: 'my-lease' });
  });

  it('answers --help for the plugin and for each command', () => {
    expect(parseArgs([])).to.deep.equal({ help: true, command: undefined });
    expect(parseArgs(['--help'])).to.deep.equal({ help: true, command: undefined });
    expect(parseArgs(['help', 'status'])).to.deep.equal({ help: true, command: 'status' });
    expect(parseArgs(['release', '-h'])).to.deep.equal({ help: true, command: 'release' });
    // Help wins over a missing argument.
    expect(parseArgs(['why', '--help'])).to.deep.equal({ help: true, command: 'why' });
  });

  it('refuses what it cannot use, naming the flag or argument', () => {
    usage(['frobnicate'], /unknown command "frobnicate"/);
    usage(['why'], /"why" needs CLAIM/);
    usage(['why', 'a', 'b'], /takes one CLAIM, got 2/);
    usage(['status', 'x'], /"status" takes no arguments/);
    usage(['why', 'c', '--bogus'], /unknown flag --bogus/);
    usage(['status', '--yes'], /--yes does not apply to "status"/);
    usage(['why', 'c', '-n'], /-n needs a value/);
    usage(['why', 'c', '-o', 'wide'], /-o "wide" is not one of: table, json, yaml/);
    usage(['why', 'Bad_Name'], /CLAIM "Bad_Name" is not a valid name/);
    usage(['why', 'c', '-n', 'a.b'], /-n "a.b" is not a valid namespace/);
    usage(['why', 'c', '-n', 'x'.repeat(64)], /not a valid namespace/);
    usage(['release', 'v', '--timeout', 'soon'], /--timeout: invalid duration "soon"/);
    usage(['release', 'v', '--timeout', '500ms'], /--timeout must be between 1s and 1h/);
    usage(['release', 'v', '--timeout', '2h'], /--timeout must be between 1s and 1h/);
    usage(['release', 'v', '--yes=1'], /--yes takes no value/);
    usage(['why', 'x'.repeat(254)], /at most 253 characters/);
    usage(['why', 'c', '--context', 'x'.repeat(5000)], /longer than 4096/);
    usage(Array<string>(65).fill('status'), /too many arguments/);
  });

  it('takes a name after -- even when it looks like a flag (and then checks it)', () => {
    usage(['why', '--', '-n'], /CLAIM "-n" is not a valid name/);
    expect(parseArgs(['why', '--', 'c'])).to.deep.include({ name: 'c' });
  });
});
