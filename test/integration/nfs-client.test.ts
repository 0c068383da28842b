// The user-space NFSv4.0 client against the real nfs-ganesha (loopback,
// NFSv4 only, run as root): what it creates, lists, renames and removes is
// checked on the exported directory's disk, and files and symlinks are
// planted there directly. Needs no Kubernetes. Skipped, saying why, where
// scripts/nfs-server.sh cannot provide a server.
import { expect } from 'chai';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { removeTree } from '../../src/nfs/dir/remove-tree.ts';
import { Nfs4Client, Nfs4Error } from '../../src/nfs/v4/client.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { sharedDirClientCases } from '../support/dir-client-cases.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';
import { exists, rejection } from '../support/rejection.ts';

describe('NFSv4 client against nfs-ganesha', function () {
  this.timeout(60_000);
  let server: NfsServer | undefined;
  let client: Nfs4Client;
  let disk: string;
  let n = 0;
  /** A fresh directory name per test, so tests do not see each other's files. */
  const fresh = () => `t${String(++n)}`;

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    server = await startNfsServer(this, 'nfs-client', await closedPort());
    disk = server.exportDir;
    client = await Nfs4Client.connect(
      { server: '127.0.0.1', port: server.port, exportPath: '/export' },
      { timeoutMs: 10_000 },
    );
  });

  after(async function () {
    this.timeout(30_000);
    (client as Nfs4Client | undefined)?.close(); // unset when the suite was skipped
    await server?.stop();
  });

  sharedDirClientCases({
    client: () => client,
    disk: () => disk,
    connectAs: (uid, gid) =>
      Nfs4Client.connect(
        { server: '127.0.0.1', port: (server as NfsServer).port, exportPath: '/export' },
        { timeoutMs: 10_000, uid, gid },
      ),
    maxHandle: 128,
    code: (status) => (status === 'ACCES' ? 'NFS4ERR_ACCESS' : `NFS4ERR_${status}`),
    mkdirOp: 'CREATE',
  });

  it('resolves the export root to the exported directory', async () => {
    expect(client.root.attrs.type).to.equal('dir');
    expect(client.root.attrs.fileid).to.equal(BigInt((await stat(disk)).ino));
    expect(client.root.fh.length).to.be.within(1, 128);
  });

  it('looks entries up without following symlinks', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'sub'), { recursive: true });
    await symlink('/tmp', join(disk, name, 'link'));
    const dir = await client.lookup(client.root.fh, name);
    expect(dir?.attrs.type).to.equal('dir');
    const link = await client.lookup(dir?.fh as Buffer, 'link');
    expect(link?.attrs.type).to.equal('symlink');
    expect(await client.lookup(dir?.fh as Buffer, 'absent')).to.equal(undefined);
  });

  it('looks paths up from the root, saying which component is not a directory', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'b', 'c'), { recursive: true });
    await writeFile(join(disk, name, 'file'), 'x');
    await symlink('b', join(disk, name, 'link'));
    const found = await client.lookupPath([name, 'b', 'c']);
    const b = await client.lookupPath([name, 'b']);
    expect(found?.attrs.fileid).to.equal(BigInt((await stat(join(disk, name, 'b', 'c'))).ino));
    expect(found?.parent).to.deep.equal(b?.fh);
    expect(b?.parent).to.deep.equal((await client.lookup(client.root.fh, name))?.fh);
    expect(await client.lookupPath([name, 'nope', 'c'])).to.equal(undefined);
    expect(await client.lookupPath([name, 'b', 'nope'])).to.equal(undefined);
    const notDir = await rejection(client.lookupPath([name, 'file', 'c']));
    expect(notDir).to.be.instanceOf(Nfs4Error).and.include({ code: 'NFS4ERR_NOTDIR', op: 'LOOKUP' });
    const viaLink = await rejection(client.lookupPath([name, 'link', 'c']));
    // RFC 7530 §16.15: LOOKUP from a symlink is NFS4ERR_SYMLINK; it is not followed.
    expect(viaLink).to.be.instanceOf(Nfs4Error).and.include({ code: 'NFS4ERR_SYMLINK', op: 'LOOKUP' });
  });

  it('removes files, symlinks and empty directories; absent once gone; a full directory is refused', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'empty'), { recursive: true });
    await mkdir(join(disk, name, 'full'));
    await writeFile(join(disk, name, 'full', 'x'), 'x');
    await writeFile(join(disk, name, 'f'), 'x');
    await symlink('/tmp', join(disk, name, 'link'));
    const dir = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    for (const entry of ['f', 'link', 'empty']) {
      expect(await client.remove(dir, entry), entry).to.equal('removed');
      expect(await client.remove(dir, entry), entry).to.equal('absent');
    }
    expect(await exists('/tmp')).to.equal(true);
    const err = await rejection(client.remove(dir, 'full'));
    expect(err).to.be.instanceOf(Nfs4Error).and.include({ code: 'NFS4ERR_NOTEMPTY', op: 'REMOVE' });
    expect((await readdir(join(disk, name))).sort()).to.deep.equal(['full']);
  });

  it('stops a tree bigger than its budget, and resumes to the end', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'sub'), { recursive: true });
    await Promise.all(
      Array.from({ length: 150 }, (_, i) => [
        writeFile(join(disk, name, `f${String(i)}`), ''),
        writeFile(join(disk, name, 'sub', `g${String(i)}`), ''),
      ]).flat(),
    );
    const fh = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    let removed = 0;
    let rounds = 0;
    for (;;) {
      rounds++;
      const p = await removeTree(client, client.root.fh, name, fh, {
        maxOps: 40,
        deadline: Date.now() + 60_000,
      });
      removed += p.removed;
      if (p.done) break;
      expect(p.gone).to.equal(false);
      expect(await exists(join(disk, name))).to.equal(true);
      expect(rounds).to.be.below(50);
    }
    expect(rounds).to.be.above(1);
    expect(removed).to.equal(302);
    expect(await exists(join(disk, name))).to.equal(false);
  });

  describe('with root squashed', () => {
    let squashed: NfsServer | undefined;

    before(async function () {
      this.timeout(60_000);
      squashed = await startNfsServer(this, 'nfs-client-squash', await closedPort(), { squash: 'root' });
    });

    after(async function () {
      this.timeout(30_000);
      await squashed?.stop();
    });

    it('fails mkdir in a root-owned 0755 directory with NFS4ERR_ACCESS from CREATE', async () => {
      const c = await Nfs4Client.connect(
        { server: '127.0.0.1', port: (squashed as NfsServer).port, exportPath: '/export' },
        { timeoutMs: 10_000 },
      );
      try {
        const err = await rejection(c.mkdir(c.root.fh, 'pvc-x', { mode: 0o755 }));
        expect(err)
          .to.be.instanceOf(Nfs4Error)
          .and.include({ code: 'NFS4ERR_ACCESS', op: 'CREATE', status: 13 });
        expect(err.message).to.match(/root squash/);
        expect(await readdir((squashed as NfsServer).exportDir)).to.deep.equal([]);
      } finally {
        c.close();
      }
    });
  });
});
