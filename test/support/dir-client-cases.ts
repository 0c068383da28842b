// The cases every user-space directory client (NFSv3 and NFSv4) must pass
// against real nfs-ganesha, checked on the exported directory's disk: mkdir
// with mode and owner, paging, rename, space, removeTree, handle checks and
// AUTH_SYS. A suite calls sharedDirClientCases inside its describe, after
// the before hook that connects; what differs by version is given.
import { expect } from 'chai';
import { chmod, mkdir, readdir, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type DirClient, TreeRefusedError, ZERO_VERIFIER, removeTree } from '../../src/nfs/dir/index.ts';
import { exists, rejection } from './rejection.ts';

export interface DirClientCase {
  /** The connected client (as root), read when a case runs. */
  client: () => DirClient;
  /** The exported directory on disk. */
  disk: () => string;
  /** Another client of the same export with this AUTH_SYS identity. */
  connectAs: (uid: number, gid: number) => Promise<DirClient>;
  /** NFS3_FHSIZE or NFS4_FHSIZE. */
  maxHandle: number;
  /** A status's name in this version: 'NOENT' -> NFS4ERR_NOENT or NFS3ERR_NOENT. */
  code: (status: 'NOENT' | 'ACCES') => string;
  /** The operation that makes a directory: CREATE (v4) or MKDIR (v3). */
  mkdirOp: string;
}

const FOREVER = () => ({ maxOps: 1_000_000, deadline: Date.now() + 60_000 });

export function sharedDirClientCases(c: DirClientCase): void {
  let n = 0;
  /** A fresh directory name per case, so cases do not see each other's files. */
  const fresh = () => `shared-${String(++n)}`;

  it('creates a directory with mode, uid and gid, and says exists the second time', async () => {
    const [client, disk] = [c.client(), c.disk()];
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
    expect(made.fh.length).to.be.within(1, c.maxHandle);
    expect(await client.mkdir(client.root.fh, name, { mode: 0o755 })).to.equal('exists');
    // mkdir(2) drops setgid; the client sets it again.
    const shared = fresh();
    const group = await client.mkdir(client.root.fh, shared, { mode: 0o2775, gid: 1001 });
    expect(group !== 'exists' && group.attrs.mode).to.equal(0o2775);
    expect((await stat(join(disk, shared))).mode & 0o7777).to.equal(0o2775);
  });

  it('lists a directory of 1,000 entries over several pages, each once', async () => {
    const [client, disk] = [c.client(), c.disk()];
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
        expect(e.fh?.length).to.be.within(1, c.maxHandle);
        seen.push(e.name);
      }
      if (page.eof) break;
      expect(page.entries.length).to.be.above(0);
      cookie = (page.entries.at(-1) as { cookie: bigint }).cookie;
      verifier = page.verifier;
      expect(pages).to.be.below(1000);
    }
    expect(pages).to.be.above(1);
    // Sorted, the names are exactly these: none twice, and no "." or "..".
    expect(seen.sort()).to.deep.equal(names);
    const one = await client.lookup(dir, 'file-0500');
    expect(one?.attrs.fileid).to.equal(BigInt((await stat(join(disk, name, 'file-0500'))).ino));
  });

  it('renames within a directory, replacing an empty directory as rename(2) does', async () => {
    const [client, disk] = [c.client(), c.disk()];
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
    expect(err).to.include({ code: c.code('NOENT'), op: 'RENAME' });
  });

  it('reports space close to statfs of the exported directory', async () => {
    const space = await c.client().space();
    const fs = await statfs(c.disk());
    const total = fs.blocks * fs.bsize;
    expect(Math.abs(space.totalBytes - total)).to.be.at.most(total * 0.01);
    // Free space moves with whatever else writes to this disk: compare loosely.
    expect(Math.abs(space.freeBytes - fs.bfree * fs.bsize)).to.be.at.most(total * 0.05);
    expect(Math.abs(space.availBytes - fs.bavail * fs.bsize)).to.be.at.most(total * 0.05);
    expect(space.availBytes).to.be.at.most(space.freeBytes);
  });

  it('removes a deep tree with files, and not what a symlink in it points to', async () => {
    const [client, disk] = [c.client(), c.disk()];
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

  it('removes a tree holding names that are not UTF-8 (a tenant can make them), sending their bytes back', async () => {
    const [client, disk] = [c.client(), c.disk()];
    const name = fresh();
    const top = join(disk, name);
    await mkdir(top);
    // Byte paths: 0xff and 0xfe never occur in UTF-8.
    const odd = (dir: string, bytes: number[]) => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(bytes)]);
    const oddDir = odd(top, [0x64, 0xff]);
    await mkdir(oddDir);
    await writeFile(odd(top, [0xfe, 0x66]), 'in the top');
    await writeFile(
      Buffer.concat([oddDir, Buffer.from('/'), Buffer.from([0x66, 0xff, 0xc3, 0xa9])]),
      'below',
    );
    const page = await client.readdir(
      (await client.lookup(client.root.fh, name))?.fh as Buffer,
      0n,
      ZERO_VERIFIER,
      4096,
    );
    const listed = page.entries.map((e) => [e.name, e.raw?.toString('hex')]).sort();
    expect(listed).to.deep.equal([
      ['\\xfef', 'fe66'],
      ['d\\xff', '64ff'],
    ]);
    const vol = await client.lookup(client.root.fh, name);
    const progress = await removeTree(client, client.root.fh, name, vol?.fh as Buffer, FOREVER());
    expect(progress).to.deep.equal({ done: true, removed: 4, gone: true });
    expect(await exists(top)).to.equal(false);
  });

  it('refuses a directory whose handle is not the one recorded, removing nothing', async () => {
    const [client, disk] = [c.client(), c.disk()];
    const name = fresh();
    await mkdir(join(disk, name));
    const old = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    // Same name, another directory: what a deleted and re-created path looks like.
    expect(await client.remove(client.root.fh, name, 'dir')).to.equal('removed');
    await mkdir(join(disk, name));
    await writeFile(join(disk, name, 'new-data'), 'x');
    const err = await rejection(removeTree(client, client.root.fh, name, old, FOREVER()));
    expect(err).to.be.instanceOf(TreeRefusedError).and.include({ code: 'HandleMismatch' });
    expect(await readdir(join(disk, name))).to.deep.equal(['new-data']);
  });

  it('sends the uid and gid it was given (AUTH_SYS)', async () => {
    const disk = c.disk();
    const name = fresh();
    await mkdir(join(disk, name, 'closed'), { recursive: true, mode: 0o755 });
    await mkdir(join(disk, name, 'open'));
    await chmod(join(disk, name, 'open'), 0o777);
    const user = await c.connectAs(1234, 5678);
    try {
      const closed = await user.lookupPath([name, 'closed']);
      const err = await rejection(user.mkdir(closed?.fh as Buffer, 'x', { mode: 0o755 }));
      expect(err).to.include({ code: c.code('ACCES'), op: c.mkdirOp });
      const open = await user.lookupPath([name, 'open']);
      await user.mkdir(open?.fh as Buffer, 'mine', { mode: 0o700 });
      const st = await stat(join(disk, name, 'open', 'mine'));
      expect([st.uid, st.gid]).to.deep.equal([1234, 5678]);
    } finally {
      await user.close();
    }
  });
}
