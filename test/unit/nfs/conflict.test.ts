import { expect } from 'chai';

import {
  type Placement,
  type Verdict,
  decideConflict,
  isOlder,
  normalPath,
  normalServer,
  overlaps,
  pathsOverlap,
} from '../../../src/nfs/conflict.ts';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (
  name: string,
  seconds: number,
  path: string,
  volume?: 'unbound' | 'held',
  server = 'nfs.example.com',
): Placement => ({
  name,
  createdMs: t0 + seconds * 1000,
  server,
  path,
  volume:
    volume === undefined
      ? undefined
      : { name: `nfsx-${name}`, claim: volume === 'held' ? `ns/claim-${name}` : undefined },
});

describe('NfsExport conflicts: who may have a volume on a shared path', () => {
  describe('servers', () => {
    it('compares host names case-insensitively and ignores a trailing dot', () => {
      for (const s of ['nfs.example.com', 'NFS.Example.COM', 'nfs.example.com.', 'NFS.EXAMPLE.COM.'])
        expect(normalServer(s)).to.equal('nfs.example.com');
    });

    it('writes IPv6 addresses in one form', () => {
      for (const s of ['fd00::5', 'FD00::5', 'fd00:0::5', 'fd00:0:0:0:0:0:0:5'])
        expect(normalServer(s)).to.equal('fd00::5');
    });

    it('keeps other names and addresses as they are (lower case)', () => {
      expect(normalServer('10.0.0.5')).to.equal('10.0.0.5');
      expect(normalServer('127.0.0.1')).not.to.equal(normalServer('127.0.0.2'));
      expect(normalServer('not::an::address')).to.equal('not::an::address');
      expect(normalServer('a.example.com')).not.to.equal(normalServer('b.example.com'));
    });
  });

  describe('paths', () => {
    const spellings: [string, string][] = [
      ['/a', '/a'],
      ['/a/', '/a'],
      ['//a', '/a'],
      ['/a//b/', '/a/b'],
      ['/a/./b', '/a/b'],
      ['/a/.', '/a'],
      ['/a/b/..', '/a'],
      ['/', '/'],
      ['//', '/'],
      ['/.', '/'],
      ['/..', '/'],
      ['a/b', '/a/b'],
    ];
    for (const [spelt, normal] of spellings) {
      it(`reads ${spelt} as ${normal}`, () => {
        expect(normalPath(spelt)).to.equal(normal);
      });
    }

    const pairs: [string, string, boolean][] = [
      ['/a', '/a', true],
      ['/a', '/a/b', true],
      ['/a/b', '/a', true],
      ['/a', '/a/b/c/d', true],
      ['/a', '/ab', false],
      ['/ab', '/a', false],
      ['/a/b', '/a/c', false],
      ['/a', '/b', false],
      ['/', '/anything', true],
      ['/x/y', '/', true],
      ['/a/', '/a', true],
      ['//a', '/a/./b', true],
      ['/A', '/a', false],
      ['/exports/data', '/exports/data-old', false],
    ];
    for (const [a, b, expected] of pairs) {
      it(`${a} and ${b} ${expected ? 'overlap' : 'do not overlap'}`, () => {
        expect(pathsOverlap(a, b)).to.equal(expected);
        expect(pathsOverlap(b, a)).to.equal(expected);
      });
    }

    it('overlaps only on the same server', () => {
      expect(
        overlaps({ server: 'a.example.com', path: '/x' }, { server: 'A.example.com.', path: '/x/y' }),
      ).to.equal(true);
      expect(
        overlaps({ server: 'a.example.com', path: '/x' }, { server: 'b.example.com', path: '/x' }),
      ).to.equal(false);
    });
  });

  describe('age', () => {
    it('orders by creation time, then by name; an unknown time is the newest', () => {
      expect(isOlder(at('b', 1, '/a'), at('a', 2, '/a'))).to.equal(true);
      expect(isOlder(at('a', 2, '/a'), at('b', 1, '/a'))).to.equal(false);
      expect(isOlder(at('a', 1, '/a'), at('b', 1, '/a'))).to.equal(true);
      expect(isOlder(at('b', 1, '/a'), at('a', 1, '/a'))).to.equal(false);
      const unknown = { ...at('a', 0, '/a'), createdMs: Number.NaN };
      expect(isOlder(at('z', 9999, '/a'), unknown)).to.equal(true);
      expect(isOlder(unknown, at('z', 9999, '/a'))).to.equal(false);
    });
  });

  describe('verdicts', () => {
    it('is ok without overlapping exports (other server, sibling path, itself)', () => {
      const e = at('e', 5, '/exports/a', 'unbound');
      expect(decideConflict(e, [])).to.deep.equal({ kind: 'ok' });
      expect(
        decideConflict(e, [
          e,
          at('other-server', 1, '/exports/a', 'held', 'other.example.com'),
          at('sibling', 1, '/exports/ab', 'held'),
          at('cousin', 1, '/exports/b', 'held'),
        ]),
      ).to.deep.equal({ kind: 'ok' });
    });

    it('makes no volume for the newer of two equal exports, naming the older', () => {
      const v = decideConflict(at('new', 2, '/exports/a'), [at('old', 1, '/exports/a', 'unbound')]);
      expect(v).to.include({ kind: 'conflict', with: 'old', volume: 'none' });
      if (v.kind === 'conflict') {
        expect(v.message).to.contain('overlaps export old (nfs.example.com:/exports/a), which is older');
        expect(v.message).to.contain('no volume is made');
      }
    });

    it('withdraws the unbound volume of the newer export, keeps a held one', () => {
      const old = at('old', 1, '/exports');
      expect(decideConflict(at('new', 2, '/exports/a', 'unbound'), [old])).to.include({
        volume: 'withdraw',
      });
      const kept = decideConflict(at('new', 2, '/exports/a', 'held'), [old]);
      expect(kept).to.include({ kind: 'conflict', volume: 'keep' });
      if (kept.kind === 'conflict')
        expect(kept.message).to.contain('stays while claim ns/claim-new holds it');
    });

    it('lets the older export keep or make its volume', () => {
      expect(
        decideConflict(at('old', 1, '/exports/a', 'unbound'), [at('new', 2, '/exports/a')]),
      ).to.deep.equal({
        kind: 'ok',
      });
      expect(decideConflict(at('old', 1, '/exports/a'), [at('new', 2, '/exports/a')])).to.deep.equal({
        kind: 'ok',
      });
      expect(
        decideConflict(at('old', 1, '/exports/a', 'unbound'), [at('new', 2, '/exports/a', 'unbound')]),
      ).to.deep.equal({ kind: 'ok' });
    });

    it('makes the older export wait while a newer one still has an unbound volume to withdraw', () => {
      const v = decideConflict(at('old', 1, '/exports/a'), [at('new', 2, '/exports/a/b', 'unbound')]);
      expect(v).to.include({ kind: 'conflict', with: 'new', volume: 'none' });
      if (v.kind === 'conflict') expect(v.message).to.contain('nfsx-new is being withdrawn');
    });

    it('never offers a volume beside a claim’s data, even to the older export', () => {
      const holder = at('new', 2, '/exports/a/b', 'held');
      const none = decideConflict(at('old', 1, '/exports/a'), [holder]);
      expect(none).to.include({ kind: 'conflict', with: 'new', volume: 'none' });
      if (none.kind === 'conflict') {
        expect(none.message).to.contain('whose volume nfsx-new holds claim ns/claim-new');
        expect(none.message).to.contain('a volume is made once that one is free');
      }
      expect(decideConflict(at('old', 1, '/exports/a', 'unbound'), [holder])).to.include({
        volume: 'withdraw',
      });
      expect(decideConflict(at('old', 1, '/exports/a', 'held'), [holder])).to.include({ volume: 'keep' });
    });

    it('names the oldest of several older exports, and says its volume is in use', () => {
      const v = decideConflict(at('e', 9, '/x/y/z'), [
        at('mid', 5, '/x/y'),
        at('oldest', 1, '/x', 'held'),
        at('newer', 10, '/x/y/z/w'),
      ]);
      expect(v).to.include({ with: 'oldest', volume: 'none' });
      if (v.kind === 'conflict')
        expect(v.message).to.contain('which is older, whose volume holds claim ns/claim-oldest');
    });

    it('sees every spelling of one server', () => {
      const v = decideConflict(at('e', 2, '/a', undefined, 'NFS.example.com.'), [
        at('o', 1, '/a/b', undefined, 'nfs.EXAMPLE.com'),
      ]);
      expect(v).to.include({ kind: 'conflict', with: 'o' });
    });
  });

  // Every configuration of two or three overlapping exports, each without a
  // volume, with an unbound one or with a held one, in every order of age:
  // play the verdicts (withdraw deletes, ok makes a missing volume) until
  // nothing changes, and check what must hold for users' data.
  describe('every configuration, played to the end', () => {
    type State = 'none' | 'unbound' | 'held';
    const states: State[] = ['none', 'unbound', 'held'];
    const paths = ['/d', '/d/e', '/d/e/f'];

    const product = <T>(sets: T[][]): T[][] =>
      sets.reduce<T[][]>((acc, set) => acc.flatMap((xs) => set.map((x) => [...xs, x])), [[]]);

    function play(initial: Placement[]): { final: Placement[]; rounds: [Placement[], Verdict[]][] } {
      let world = initial;
      const rounds: [Placement[], Verdict[]][] = [];
      for (let round = 0; round < 10; round++) {
        const vs = world.map((e) => decideConflict(e, world));
        rounds.push([world, vs]);
        const next = world.map((e, i): Placement => {
          const v = vs[i] as Verdict;
          if (v.kind === 'ok') return e.volume ? e : { ...e, volume: { name: `nfsx-${e.name}` } };
          if (v.volume === 'withdraw') return { ...e, volume: undefined };
          return e;
        });
        if (JSON.stringify(next) === JSON.stringify(world)) return { final: world, rounds };
        world = next;
      }
      throw new Error(`no fixed point for ${JSON.stringify(initial)}`);
    }

    for (const count of [2, 3]) {
      const configs = product(Array.from({ length: count }, () => states));
      it(`${String(configs.length)} configurations of ${String(count)} exports on nested paths`, () => {
        let checked = 0;
        for (const config of configs) {
          // Ages in both directions of nesting: the outer path oldest, or the innermost.
          for (const reversed of [false, true]) {
            const initial = config.map((s, i) =>
              at(`x${String(i)}`, reversed ? count - i : i, paths[i] as string, s === 'none' ? undefined : s),
            );
            const { final, rounds } = play(initial);
            const label = `${JSON.stringify(config)} reversed=${String(reversed)}`;
            for (const [world, verdicts] of rounds) {
              verdicts.forEach((v, i) => {
                // Each verdict fits the volume it is about: withdraw only unbound ones, keep only held ones.
                const volume = world[i]?.volume;
                if (volume?.claim) expect(v.kind === 'ok' || v.volume === 'keep', label).to.equal(true);
                if (v.kind === 'conflict') {
                  expect(v.with, label).not.to.equal(world[i]?.name);
                  if (v.volume === 'withdraw') expect(volume && !volume.claim, label).to.equal(true);
                  if (v.volume === 'keep') expect(volume?.claim, label).to.be.a('string');
                  if (v.volume === 'none') expect(volume, label).to.equal(undefined);
                }
              });
            }
            // Held volumes stay.
            initial.forEach((e, i) => {
              if (e.volume?.claim) expect(final[i]?.volume?.claim, label).to.equal(e.volume.claim);
            });
            // No unbound volume is offered beside any other volume on the shared path.
            const unbound = final.filter((e) => e.volume && !e.volume.claim);
            const withVolume = final.filter((e) => e.volume);
            if (unbound.length > 0) expect(withVolume, label).to.have.length(1);
            // Without held volumes, exactly the oldest export ends with a volume.
            if (!initial.some((e) => e.volume?.claim)) {
              const oldest = [...initial].sort((a, b) => (isOlder(a, b) ? -1 : 1))[0] as Placement;
              expect(
                withVolume.map((e) => e.name),
                label,
              ).to.deep.equal([oldest.name]);
            }
            // Everyone without a volume, or not the only one, is told why.
            final.forEach((e) => {
              const v = decideConflict(e, final);
              if (withVolume.length > 1 || !e.volume) expect(v.kind, label).to.equal('conflict');
            });
            checked++;
          }
        }
        expect(checked).to.equal(configs.length * 2);
      });
    }
  });
});
