// The user-space NFSv4.0 client against the real nfs-ganesha (loopback,
// NFSv4 only, run as root): what it creates, lists, renames and removes is
// checked on the exported directory's disk, and files and symlinks are
// planted there directly. Needs no Kubernetes. Skipped, saying why, where
// scripts/nfs-server.sh cannot provide a server.
import { expect } from 'chai';
import { mkdir, readdir, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Nfs4Client, Nfs4Error, ZERO_VERIFIER } from '../../src/nfs/v4/client.ts';
import { TreeRefusedError, removeTree } from '../../src/nfs/dir/remove-tree.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';
import { exists, rejection } from '../support/rejection.ts';

const FOREVER = () => ({ maxOps: 1_000_000, deadline: Date.now() + 60_000 });

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

  it('resolves the export root to the exported directory', async () => {
    expect(client.root.attrs.type).to.equal('dir');
    expect(client.root.attrs.fileid).to.equal(BigInt((await stat(disk)).ino));
    expect(client.root.fh.length).to.be.within(1, 128);
  });

  it('creates a directory with mode, uid and gid, and says exists the second time', async () => {
    const name = fresh();
    const made = await client.mkdir(client.root.fh, name, { mode: 0o750, uid: 1000, gid: 1001 });
    if (made === 'exists') expect.fail('exists');
    const st = await stat(join(disk, name));
    expect(st.isDirectory()).to.equal(true);
    expect({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid }).to.deep.equal({
      mode: 0o750,
      uid: 1000,
      gid: 1001,
    });
    expect(made.attrs).to.deep.include({
      type: 'dir',
      mode: 0o750,
      uid: 1000,
      gid: 1001,
      fileid: BigInt(st.ino),
    });
    expect(await client.mkdir(client.root.fh, name, { mode: 0o755 })).to.equal('exists');
    // mkdir(2) drops setgid; the client sets it again.
    const shared = fresh();
    const group = await client.mkdir(client.root.fh, shared, { mode: 0o2775, gid: 1001 });
    expect(group !== 'exists' && group.attrs.mode).to.equal(0o2775);
    expect((await stat(join(disk, shared))).mode & 0o7777).to.equal(0o2775);
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

  it('lists a directory of 1,000 entries over several pages', async () => {
    const name = fresh();
    await mkdir(join(disk, name));
    const names = Array.from({ length: 1000 }, (_, i) => `file-${String(i).padStart(4, '0')}`);
    await Promise.all(names.map((f) => writeFile(join(disk, name, f), '')));
    const dir = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    const seen: string[] = [];
    let cookie = 0n;
    let verifier = ZERO_VERIFIER;
    let pages = 0;
    for (;;) {
      const page = await client.readdir(dir, cookie, verifier, 8192);
      pages++;
      for (const e of page.entries) {
        expect(e.attrs.type).to.equal('file');
        expect(e.fh?.length).to.be.within(1, 128);
        seen.push(e.name);
      }
      if (page.eof) break;
      expect(page.entries.length).to.be.above(0);
      cookie = (page.entries.at(-1) as { cookie: bigint }).cookie;
      verifier = page.verifier;
      expect(pages).to.be.below(1000);
    }
    expect(pages).to.be.above(1);
    expect(seen.sort()).to.deep.equal(names);
    const one = await client.lookup(dir, 'file-0500');
    expect(one?.attrs.fileid).to.equal(BigInt((await stat(join(disk, name, 'file-0500'))).ino));
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

  it('renames within a directory, replacing an empty directory as rename(2) does', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'a', 'inside'), { recursive: true });
    await mkdir(join(disk, name, 'empty'));
    const dir = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    await client.rename(dir, 'a', 'b');
    expect((await readdir(join(disk, name))).sort()).to.deep.equal(['b', 'empty']);
    await client.rename(dir, 'b', 'empty');
    expect(await readdir(join(disk, name))).to.deep.equal(['empty']);
    expect(await readdir(join(disk, name, 'empty'))).to.deep.equal(['inside']);
    const err = await rejection(client.rename(dir, 'absent', 'c'));
    expect(err).to.be.instanceOf(Nfs4Error).and.include({ code: 'NFS4ERR_NOENT', op: 'RENAME' });
  });

  it('reports space close to statfs of the exported directory', async () => {
    const space = await client.space();
    const fs = await statfs(disk);
    const total = fs.blocks * fs.bsize;
    expect(Math.abs(space.totalBytes - total)).to.be.at.most(total * 0.01);
    // Free space moves with whatever else writes to this disk: compare loosely.
    expect(Math.abs(space.freeBytes - fs.bfree * fs.bsize)).to.be.at.most(total * 0.05);
    expect(Math.abs(space.availBytes - fs.bavail * fs.bsize)).to.be.at.most(total * 0.05);
    expect(space.availBytes).to.be.at.most(space.freeBytes);
  });

  it('removes a deep tree with files, and not what a symlink in it points to', async () => {
    const name = fresh();
    const outside = join(disk, `${name}-outside`);
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'precious');
    let path = join(disk, name);
    for (let d = 0; d < 30; d++) {
      await mkdir(path);
      await writeFile(join(path, 'a'), 'x');
      await writeFile(join(path, 'b'), 'y');
      await symlink(outside, join(path, 'out'));
      path = join(path, `d${String(d)}`);
    }
    const vol = await client.lookup(client.root.fh, name);
    const progress = await removeTree(client, client.root.fh, name, vol?.fh as Buffer, FOREVER());
    expect(progress).to.deep.equal({ done: true, removed: 30 * 4, gone: true });
    expect(await exists(join(disk, name))).to.equal(false);
    expect(await readdir(outside)).to.deep.equal(['keep']);
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

  it('refuses a directory whose handle is not the one recorded, removing nothing', async () => {
    const name = fresh();
    await mkdir(join(disk, name));
    const old = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    // Same name, another directory: what a deleted and re-created path looks like.
    expect(await client.remove(client.root.fh, name)).to.equal('removed');
    await mkdir(join(disk, name));
    await writeFile(join(disk, name, 'new-data'), 'x');
    const err = await rejection(removeTree(client, client.root.fh, name, old, FOREVER()));
    expect(err).to.be.instanceOf(TreeRefusedError).and.include({ code: 'HandleMismatch' });
    expect(await readdir(join(disk, name))).to.deep.equal(['new-data']);
  });

  it('sends the uid and gid it was given (AUTH_SYS)', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'closed'), { recursive: true, mode: 0o755 });
    await mkdir(join(disk, name, 'open'));
    const { chmod } = await import('node:fs/promises');
    await chmod(join(disk, name, 'open'), 0o777);
    const user = await Nfs4Client.connect(
      { server: '127.0.0.1', port: (server as NfsServer).port, exportPath: '/export' },
      { timeoutMs: 10_000, uid: 1234, gid: 5678 },
    );
    try {
      const closed = await user.lookupPath([name, 'closed']);
      const err = await rejection(user.mkdir(closed?.fh as Buffer, 'x', { mode: 0o755 }));
      expect(err).to.be.instanceOf(Nfs4Error).and.include({ code: 'NFS4ERR_ACCESS', op: 'CREATE' });
      const open = await user.lookupPath([name, 'open']);
      await user.mkdir(open?.fh as Buffer, 'mine', { mode: 0o700 });
      const st = await stat(join(disk, name, 'open', 'mine'));
      expect([st.uid, st.gid]).to.deep.equal([1234, 5678]);
    } finally {
      user.close();
    }
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
