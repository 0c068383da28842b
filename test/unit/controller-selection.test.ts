import { expect } from 'chai';

import { main, parseCommandLine } from '../../src/cli.ts';
import { describeControllers, parseControllers } from '../../src/controller-selection.ts';

const chosen = (text: string) => [...parseControllers(text)].sort();

describe('--controllers (which controllers run)', () => {
  it('reads * as every controller', () => {
    expect(chosen('*')).to.deep.equal(['binder', 'nfsexport', 'provisioner', 'reclaim']);
  });

  it('turns one off with -NAME, whatever its place in the list', () => {
    expect(chosen('*,-binder')).to.deep.equal(['nfsexport', 'provisioner', 'reclaim']);
    expect(chosen('-binder,*')).to.deep.equal(['nfsexport', 'provisioner', 'reclaim']);
    expect(chosen(' * , -binder ')).to.deep.equal(['nfsexport', 'provisioner', 'reclaim']);
  });

  it('runs only the names listed when * is not given', () => {
    expect(chosen('reclaim')).to.deep.equal(['reclaim']);
    expect(chosen('nfsexport,reclaim,reclaim')).to.deep.equal(['nfsexport', 'reclaim']);
  });

  it('lets an "off" win over an "on" of the same name, as kube-controller-manager does', () => {
    expect(chosen('binder,reclaim,-binder')).to.deep.equal(['reclaim']);
  });

  const bad: [string, RegExp][] = [
    [
      '*,-persistentvolume-binder-controller',
      /--controllers: unknown controller "persistentvolume-binder-controller" \(known: binder, reclaim, nfsexport, provisioner, and \* for all\)/,
    ],
    ['binding', /--controllers: unknown controller "binding"/],
    ['Binder', /--controllers: unknown controller "Binder"/],
    ['-*', /--controllers: unknown controller "\*"/],
    ['', /--controllers: "" has an empty entry/],
    ['*,,-binder', /--controllers: "\*,,-binder" has an empty entry/],
    ['-binder', /--controllers: "-binder" turns every controller off/],
    ['*,-binder,-reclaim,-nfsexport,-provisioner', /turns every controller off/],
    ['x'.repeat(300), /--controllers: longer than 256 characters/],
  ];
  for (const [text, message] of bad) {
    it(`refuses ${JSON.stringify(text.slice(0, 40))}`, () => {
      expect(() => parseControllers(text)).to.throw(message);
    });
  }

  it('bounds what an unknown name echoes back', () => {
    expect(() => parseControllers(`-${'y'.repeat(200)}`)).to.throw(/unknown controller "y{64}" \(/);
  });

  it('names the chosen controllers in a stable order', () => {
    expect(describeControllers(parseControllers('reclaim,binder'))).to.equal('binder,reclaim');
  });

  it('is absent from the options when not given, so a default start is unchanged', () => {
    const cmd = parseCommandLine([]);
    expect(cmd.kind === 'run' && 'controllers' in cmd.options).to.equal(false);
  });

  it('reaches the options from the command line', () => {
    const cmd = parseCommandLine(['--controllers=*,-binder']);
    expect(cmd.kind === 'run' && [...(cmd.options.controllers ?? [])].sort()).to.deep.equal([
      'nfsexport',
      'provisioner',
      'reclaim',
    ]);
  });

  it('is refused at start with exit 2 and a message naming the flag', async () => {
    let err = '';
    const code = await main(
      ['--controllers', '*,-csi'],
      { write: () => undefined },
      {
        write: (t: string) => (err += t),
      },
    );
    expect(code).to.equal(2);
    expect(err).to.match(/^pv-lifecycle-operator: --controllers: unknown controller "csi"/);
    expect(err).to.contain('--controllers LIST');
  });
});
