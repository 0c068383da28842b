// The user-space NFSv3 client against the real nfs-ganesha serving NFSv3
// and v4 on loopback (MOUNT on a fixed port, registered with a loopback-only
// rpcbind), and a v3-only one to prove the provisioner's fallback: what it
// creates, lists, renames and removes is checked on the exported
// directory's disk. Needs no Kubernetes. Skipped, saying why, where
// scripts/nfs-server.sh cannot provide a server.
import { expect } from 'chai';
import { mkdir, readdir, stat, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { NfsRpcError, NfsStatusError, v4NotOffered } from '../../src/nfs/dir/index.ts';
import { Nfs3Client, Nfs3Error, mountPortOf } from '../../src/nfs/v3/index.ts';
import { ProbeManager } from '../../src/nfs/probe-manager.ts';
import { Nfs4Client } from '../../src/nfs/v4/index.ts';
import { silentLog } from '../../src/runtime/log.ts';
import { connectClient, makeDirectory, reclaimDirectory } from '../../src/provisioning/directories.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { sharedDirClientCases } from '../support/dir-client-cases.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';
import { exists, rejection } from '../support/rejection.ts';

const FOREVER = () => ({ maxOps: 1_000_000, deadline: Date.now() + 60_000 });

describe('NFSv3 client against nfs-ganesha', function () {
  this.timeout(60_000);
  let server: NfsServer | undefined;
  let client: Nfs3Client;
  let disk: string;
  let n = 0;
  /** A fresh directory name per test, so tests do not see each other's files. */
  const fresh = () => `t${String(++n)}`;
  const connect = (over: { mountPort?: number; uid?: number; gid?: number } = {}) =>
    Nfs3Client.connect(
      {
        server: '127.0.0.1',
        port: (server as NfsServer).port,
        exportPath: disk,
        ...('mountPort' in over ? { mountPort: over.mountPort } : { mountPort: server?.mountPort }),
      },
      { timeoutMs: 10_000, uid: over.uid, gid: over.gid },
    );

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    server = await startNfsServer(this, 'nfs3-client', await closedPort(), { protocols: [3, 4] });
    disk = server.exportDir;
    client = await connect();
  });

  after(async function () {
    this.timeout(30_000);
    await (client as Nfs3Client | undefined)?.close(); // unset when the suite was skipped
    await server?.stop();
  });

  sharedDirClientCases({
    client: () => client,
    disk: () => disk,
    connectAs: (uid, gid) => connect({ uid, gid }),
    maxHandle: 64,
    code: (status) => `NFS3ERR_${status}`,
    mkdirOp: 'MKDIR',
  });

  it('mounts the export (MNT on mountport) and resolves its root to the exported directory', async () => {
    expect(client.version).to.equal(3);
    expect(client.root.attrs.type).to.equal('dir');
    expect(client.root.attrs.fileid).to.equal(BigInt((await stat(disk)).ino));
    expect(client.root.fh.length).to.be.within(1, 64);
  });

  it('finds MOUNT through the portmapper (GETPORT at 127.0.0.1:111) when no mountport is given', async () => {
    expect(await mountPortOf('127.0.0.1', 111, { timeoutMs: 10_000 })).to.equal(server?.mountPort);
    const viaPortmapper = await connect({ mountPort: undefined });
    try {
      expect(viaPortmapper.root.fh).to.deep.equal(client.root.fh);
    } finally {
      await viaPortmapper.close();
    }
  });

  it('refuses an export MOUNT does not know, naming MNT', async () => {
    const err = await rejection(
      Nfs3Client.connect(
        {
          server: '127.0.0.1',
          port: (server as NfsServer).port,
          exportPath: '/no/such/export',
          mountPort: server?.mountPort,
        },
        { timeoutMs: 10_000 },
      ),
    );
    expect(err).to.be.instanceOf(Nfs3Error).and.include({ op: 'MNT', version: 3 });
    expect((err as Nfs3Error).code).to.match(/^MNT3ERR_/);
  });

  it('looks entries and paths up without following symlinks', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'b', 'c'), { recursive: true });
    await writeFile(join(disk, name, 'file'), 'x');
    await symlink('b', join(disk, name, 'link'));
    const dir = await client.lookup(client.root.fh, name);
    expect(dir?.attrs.type).to.equal('dir');
    expect((await client.lookup(dir?.fh as Buffer, 'link'))?.attrs.type).to.equal('symlink');
    expect(await client.lookup(dir?.fh as Buffer, 'absent')).to.equal(undefined);
    const found = await client.lookupPath([name, 'b', 'c']);
    const b = await client.lookupPath([name, 'b']);
    expect(found?.attrs.fileid).to.equal(BigInt((await stat(join(disk, name, 'b', 'c'))).ino));
    expect(found?.parent).to.deep.equal(b?.fh);
    expect(await client.lookupPath([name, 'nope', 'c'])).to.equal(undefined);
    for (const via of ['file', 'link']) {
      const err = await rejection(client.lookupPath([name, via, 'c']));
      expect(err, via).to.be.instanceOf(Nfs3Error).and.include({ code: 'NFS3ERR_NOTDIR', op: 'LOOKUP' });
    }
  });

  it('removes files, symlinks and empty directories (REMOVE or RMDIR); absent once gone; a full directory is refused', async () => {
    const name = fresh();
    await mkdir(join(disk, name, 'empty'), { recursive: true });
    await mkdir(join(disk, name, 'empty2'));
    await mkdir(join(disk, name, 'full'));
    await writeFile(join(disk, name, 'full', 'x'), 'x');
    await writeFile(join(disk, name, 'f'), 'x');
    await symlink('/tmp', join(disk, name, 'link'));
    const dir = (await client.lookup(client.root.fh, name))?.fh as Buffer;
    // With the type it saw, and without (REMOVE first, RMDIR on ISDIR), and with a wrong one.
    for (const [entry, type] of [
      ['f', 'file'],
      ['link', undefined],
      ['empty', 'dir'],
      ['empty2', 'file'],
    ] as const) {
      expect(await client.remove(dir, entry, type), entry).to.equal('removed');
      expect(await client.remove(dir, entry, type), entry).to.equal('absent');
    }
    expect(await exists('/tmp')).to.equal(true);
    const err = await rejection(client.remove(dir, 'full', 'dir'));
    expect(err).to.be.instanceOf(Nfs3Error).and.include({ code: 'NFS3ERR_NOTEMPTY', op: 'RMDIR' });
    expect((await readdir(join(disk, name))).sort()).to.deep.equal(['full']);
  });

  it('picks the version as the provisioner does: v4 by /export, v3 for the server path v4 does not serve', async () => {
    const port = (server as NfsServer).port;
    const opts = { port, timeoutMs: 10_000 };
    const v4 = await connectClient({ server: '127.0.0.1', path: '/export' }, { version: 'auto' }, opts);
    await v4.close();
    expect(v4.version).to.equal(4);
    const v4err = await rejection(
      Nfs4Client.connect({ server: '127.0.0.1', port, exportPath: disk }, { timeoutMs: 10_000 }),
    );
    expect(v4NotOffered(v4err), v4err.message).to.equal(true);
    const v3 = await connectClient(
      { server: '127.0.0.1', path: disk },
      { version: 'auto', mountPort: server?.mountPort },
      opts,
    );
    await v3.close();
    expect(v3.version).to.equal(3);
    // Asked for v4, it stays v4 and says why.
    const asked4 = await rejection(connectClient({ server: '127.0.0.1', path: disk }, { version: 4 }, opts));
    expect(asked4).to.be.instanceOf(NfsStatusError).and.include({ version: 4, code: 'NFS4ERR_NOENT' });
  });

  it('makes, deletes and archives directories over v3 as the provisioner does, recording v3', async () => {
    const target = { server: '127.0.0.1', path: disk };
    const opts = { port: (server as NfsServer).port, timeoutMs: 10_000 };
    const mount = { version: 3 as const, mountPort: server?.mountPort };
    const config = { mode: 0o750, uid: 1000, gid: 1000, existing: 'refuse' as const, mount };
    const made = await makeDirectory(target, ['vols', 'v1'], config, opts);
    if (!made.ok) expect.fail(made.problem);
    expect(made.version).to.equal(3);
    expect(made.handle.length).to.be.within(1, 64);
    await writeFile(join(disk, 'vols', 'v1', 'data'), 'x');
    const recorded = {
      server: '127.0.0.1',
      exportPath: disk,
      components: ['vols', 'v1'],
      handle: made.handle,
      onDelete: 'delete' as const,
      version: 3 as const,
      ...(server?.mountPort === undefined ? {} : { mountPort: server.mountPort }),
    };
    const out = await reclaimDirectory(recorded, opts, FOREVER(), new Date());
    expect(out).to.deep.equal({ state: 'done', removed: 2, gone: false });
    expect(await readdir(join(disk, 'vols'))).to.deep.equal([]);
    // Archive renames it beside itself, files kept.
    const kept = await makeDirectory(target, ['vols', 'v2'], config, opts);
    if (!kept.ok) expect.fail(kept.problem);
    await writeFile(join(disk, 'vols', 'v2', 'report'), 'q3');
    const archive = {
      ...recorded,
      components: ['vols', 'v2'],
      handle: kept.handle,
      onDelete: 'archive' as const,
    };
    const when = new Date('2026-12-01T23:00:00Z');
    const archived = await reclaimDirectory(archive, opts, FOREVER(), when);
    expect(archived).to.deep.equal({
      state: 'done',
      removed: 0,
      gone: false,
      archivedAs: 'vols/archived-v2-20261201T230000Z',
    });
    expect(await readdir(join(disk, 'vols', 'archived-v2-20261201T230000Z'))).to.deep.equal(['report']);
    // A v4 handle recorded as v3 (or the other way) is another directory's: nothing is touched.
    const other = await reclaimDirectory(
      { ...recorded, components: ['vols', 'archived-v2-20261201T230000Z'], handle: Buffer.alloc(40, 7) },
      opts,
      FOREVER(),
      when,
    );
    expect(other.state).to.equal('refused');
    expect(await exists(join(disk, 'vols', 'archived-v2-20261201T230000Z', 'report'))).to.equal(true);
  });

  describe('served over NFSv3 only', () => {
    let only: NfsServer | undefined;

    before(async function () {
      this.timeout(60_000);
      only = await startNfsServer(this, 'nfs3-only', await closedPort(), { protocols: [3] });
    });

    after(async function () {
      this.timeout(30_000);
      await only?.stop();
    });

    it('v4 gets PROG_MISMATCH, so the provisioner falls back to v3 (MOUNT through the portmapper)', async () => {
      const o = only as NfsServer;
      const v4err = await rejection(
        Nfs4Client.connect(
          { server: '127.0.0.1', port: o.port, exportPath: '/export' },
          { timeoutMs: 10_000 },
        ),
      );
      expect(v4err).to.be.instanceOf(NfsRpcError);
      expect(v4err.message).to.match(/PROG_MISMATCH/);
      expect(v4NotOffered(v4err)).to.equal(true);
      const c = await connectClient(
        { server: '127.0.0.1', path: o.exportDir },
        { version: 'auto' },
        {
          port: o.port,
          timeoutMs: 10_000,
        },
      );
      try {
        expect(c.version).to.equal(3);
        const made = await c.mkdir(c.root.fh, 'x', { mode: 0o700 });
        expect(made).to.not.equal('exists');
        expect((await stat(join(o.exportDir, 'x'))).mode & 0o7777).to.equal(0o700);
      } finally {
        await c.close();
      }
    });
    it("reads the export's space over v3 in the probe manager when the server has no v4", async () => {
      const o = only as NfsServer;
      let spaced: () => void = () => undefined;
      const read = new Promise<void>((resolve) => (spaced = resolve));
      const manager = new ProbeManager({
        intervalMs: 60_000,
        timeoutMs: 10_000,
        concurrency: 1,
        nfsPort: o.port,
        log: silentLog,
        onChange: () => undefined,
        onSpaceChange: () => {
          spaced();
        },
      });
      try {
        manager.track('v3-only', { server: '127.0.0.1', path: o.exportDir });
        await read;
        expect(manager.result('v3-only')?.nfsVersions).to.deep.equal([3]);
        const fs = await statfs(o.exportDir);
        expect(manager.space('v3-only')?.totalBytes).to.be.closeTo(
          fs.blocks * fs.bsize,
          fs.blocks * fs.bsize * 0.01,
        );
      } finally {
        await manager.stop();
      }
    });
  });

  describe('with root squashed', () => {
    let squashed: NfsServer | undefined;

    before(async function () {
      this.timeout(60_000);
      squashed = await startNfsServer(this, 'nfs3-squash', await closedPort(), {
        squash: 'root',
        protocols: [3, 4],
      });
    });

    after(async function () {
      this.timeout(30_000);
      await squashed?.stop();
    });

    it('fails mkdir in a root-owned 0755 directory with NFS3ERR_ACCES from MKDIR, said as for v4', async () => {
      const s = squashed as NfsServer;
      const c = await Nfs3Client.connect(
        { server: '127.0.0.1', port: s.port, exportPath: s.exportDir, mountPort: s.mountPort },
        { timeoutMs: 10_000 },
      );
      try {
        const err = await rejection(c.mkdir(c.root.fh, 'pvc-x', { mode: 0o755 }));
        expect(err)
          .to.be.instanceOf(Nfs3Error)
          .and.include({ code: 'NFS3ERR_ACCES', op: 'MKDIR', status: 13 });
        expect(err.message).to.match(/root squash/);
      } finally {
        await c.close();
      }
      const made = await makeDirectory(
        { server: '127.0.0.1', path: s.exportDir },
        ['pvc-y'],
        { mode: 0o755, existing: 'refuse', mount: { version: 3, mountPort: s.mountPort } },
        { port: s.port, timeoutMs: 10_000 },
      );
      expect(made.ok).to.equal(false);
      expect(!made.ok && made.problem).to.match(
        /^the server refused to make directory "pvc-y" \(NFS3ERR_ACCES in MKDIR\): the export maps root to an unprivileged user \(root_squash\)/,
      );
      expect(await readdir(s.exportDir)).to.deep.equal([]);
    });
  });
});
