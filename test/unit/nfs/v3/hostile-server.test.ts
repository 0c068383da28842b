// The NFSv3 client against servers that misbehave, over real loopback
// sockets: a fake server answers the portmapper, MNT and the root GETATTR
// properly (all on one port), then sends what no honest server sends. Each
// case expects a clear rejection and, where the reply was garbled, the
// connection closed, within maxReplyBytes + 3 of memory.
import { expect } from 'chai';

import { NfsRpcError } from '../../../../src/nfs/dir/errors.ts';
import { PROGRAM } from '../../../../src/nfs/rpc.ts';
import { Nfs3Client, Nfs3Error, mountPortOf } from '../../../../src/nfs/v3/index.ts';
import {
  type FakeCall,
  type FakeRpcServer,
  type FakeRpcServerOptions,
  acceptedReply,
  closedPort,
  portmapperProgram,
  startFakeRpcServer,
} from '../../../support/fake-rpc-server.ts';
import { entryplus, fattr3, mntOk, readdirplusOk, u64, wcc, words } from '../../../support/nfs3-replies.ts';
import { rejection } from '../../../support/rejection.ts';

const ROOT_FH = Buffer.from('v3-root-handle');
const MAX_REPLY = 64 * 1024;

/** The honest answers to what connect sends: MNT and the root's GETATTR. */
function connectAnswer(call: FakeCall, flavors = [1]): Buffer | undefined {
  if (call.prog === PROGRAM.mount && call.proc === 1)
    return acceptedReply(call.xid, 0, mntOk(ROOT_FH, flavors));
  if (call.prog === PROGRAM.mount && call.proc === 3) return acceptedReply(call.xid, 0);
  if (call.prog === PROGRAM.nfs && call.proc === 1 && call.args.includes(ROOT_FH))
    return acceptedReply(call.xid, 0, words(0, fattr3()));
  return undefined;
}

describe('NFSv3 client against a hostile server (loopback)', function () {
  this.timeout(20000);
  let server: FakeRpcServer | undefined;
  let client: Nfs3Client | undefined;

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  /** A server that answers connect, then hands NFS calls after it to `then`. */
  async function connectTo(
    then: Partial<FakeRpcServerOptions> & { respond?: (call: FakeCall) => Buffer | null | undefined },
    timeoutMs = 2000,
  ): Promise<Nfs3Client> {
    let connected = false;
    const respond = (call: FakeCall) => (connected ? then.respond?.(call) : connectAnswer(call));
    const stream = then.stream && ((call: FakeCall) => (connected ? then.stream?.(call) : undefined));
    server = await startFakeRpcServer({ ...then, respond, stream });
    client = await Nfs3Client.connect(
      { server: '127.0.0.1', port: server.port, mountPort: server.port, exportPath: '/export' },
      { timeoutMs, maxReplyBytes: MAX_REPLY },
    );
    connected = true;
    return client;
  }

  /** The NFS connection is closed for good: the next call fails at once with the same error. */
  async function expectClosed(c: Nfs3Client): Promise<void> {
    expect(c.closedBy).to.be.instanceOf(NfsRpcError);
    const again = await rejection(c.remove(c.root.fh, 'x'));
    expect(again.message).to.equal(c.closedBy?.message);
  }

  it('mounts with MNT v3, reads the root with GETATTR v3, and UMNTs at close', async () => {
    const c = await connectTo({});
    expect(c.root.fh).to.deep.equal(ROOT_FH);
    expect(c.root.attrs).to.include({ type: 'dir', fsid: '7', mode: 0o755 });
    const calls = (server as FakeRpcServer).calls.map((x) => [x.prog, x.vers, x.proc]);
    expect(calls).to.deep.equal([
      [100005, 3, 1],
      [100003, 3, 1],
    ]);
    await c.close();
    client = undefined;
    // UMNT follows, best effort.
    expect((server as FakeRpcServer).calls.at(-1)).to.include({ prog: 100005, proc: 3 });
  });

  it('asks the portmapper for MOUNT v3 over TCP, and says so when it is not registered', async () => {
    server = await startFakeRpcServer({
      programs: portmapperProgram([{ prog: PROGRAM.mount, vers: 3, port: 20048 }]),
    });
    expect(await mountPortOf('127.0.0.1', server.port, { timeoutMs: 2000 })).to.equal(20048);
    await server.close();
    server = await startFakeRpcServer({ programs: portmapperProgram([]) });
    const err = await rejection(
      Nfs3Client.connect(
        { server: '127.0.0.1', port: 2049, exportPath: '/export', portmapperPort: server.port },
        { timeoutMs: 2000 },
      ),
    );
    expect(err).to.be.instanceOf(NfsRpcError);
    expect(err.message).to.match(/MOUNT v3 over TCP is not registered with the portmapper .*mountport=/);
  });

  it('refuses an export that takes neither AUTH_SYS nor AUTH_NONE', async () => {
    server = await startFakeRpcServer({
      respond: (call) => connectAnswer(call, [390003, 390004]),
    });
    const err = await rejection(
      Nfs3Client.connect(
        { server: '127.0.0.1', port: server.port, mountPort: server.port, exportPath: '/export' },
        { timeoutMs: 2000 },
      ),
    );
    expect(err).to.be.instanceOf(NfsRpcError);
    expect(err.message).to.match(
      /only with auth flavors 390003, 390004, not AUTH_SYS \(1\) or AUTH_NONE \(0\)/,
    );
  });

  it('refuses a root handle longer than 64 bytes, and names a MNT refusal by its mountstat3', async () => {
    server = await startFakeRpcServer({
      respond: (call) => acceptedReply(call.xid, 0, mntOk(Buffer.alloc(65))),
    });
    const target = { server: '127.0.0.1', port: server.port, mountPort: server.port, exportPath: '/export' };
    const long = await rejection(Nfs3Client.connect(target, { timeoutMs: 2000 }));
    expect(long.message).to.match(/undecodable MNT reply: .*65 bytes long, more than the 64/);
    await server.close();
    server = await startFakeRpcServer({ respond: (call) => acceptedReply(call.xid, 0, words(13)) });
    const denied = await rejection(
      Nfs3Client.connect({ ...target, port: server.port, mountPort: server.port }, { timeoutMs: 2000 }),
    );
    expect(denied).to.be.instanceOf(Nfs3Error).and.include({ code: 'MNT3ERR_ACCES', op: 'MNT' });
    expect(denied.message).to.match(/does not list this client/);
  });

  it('UMNTs what it mounted when the root cannot be read', async () => {
    server = await startFakeRpcServer({
      respond: (call) =>
        call.prog === PROGRAM.nfs ? acceptedReply(call.xid, 0, words(70)) : connectAnswer(call),
    });
    const err = await rejection(
      Nfs3Client.connect(
        { server: '127.0.0.1', port: server.port, mountPort: server.port, exportPath: '/export' },
        { timeoutMs: 2000 },
      ),
    );
    expect(err).to.be.instanceOf(Nfs3Error).and.include({ code: 'NFS3ERR_STALE', op: 'GETATTR' });
    expect(server.calls.map((x) => [x.prog, x.proc])).to.deep.equal([
      [100005, 1],
      [100003, 1],
      [100005, 3],
    ]);
  });

  it('closes on a reply with another xid', async () => {
    const c = await connectTo({ respond: (call) => acceptedReply(call.xid + 7, 0, words(0, wcc())) });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/answered call \d+ with a reply to call \d+; connection closed/);
    await expectClosed(c);
  });

  it('closes on a reply that cannot be decoded, naming the procedure', async () => {
    for (const [body, pattern] of [
      [words(0), /NFSv3 REMOVE reply: truncated/],
      [words(0, wcc(), 9), /NFSv3 REMOVE reply: .*bytes beyond its result/],
    ] as const) {
      const c = await connectTo({ respond: (call) => acceptedReply(call.xid, 0, body) });
      const err = await rejection(c.remove(c.root.fh, 'x'));
      expect(err).to.be.instanceOf(NfsRpcError);
      expect(err.message).to.match(pattern);
      await expectClosed(c);
      await c.close();
      client = undefined;
      await server?.close();
    }
  });

  it('closes on a READDIRPLUS entry whose name holds "/" or whose handle is too long', async () => {
    const verf = Buffer.alloc(8);
    for (const [entry, pattern] of [
      [entryplus('../etc', 3n, { attrs: {}, fh: Buffer.from('h') }), /contains "\/"/],
      [entryplus('x', 3n, { attrs: {}, fh: Buffer.alloc(100) }), /more than the 64/],
    ] as const) {
      const c = await connectTo({
        respond: (call) => acceptedReply(call.xid, 0, readdirplusOk(verf, [entry], true)),
      });
      const err = await rejection(c.readdir(c.root.fh, 0n, verf, 4096));
      expect(err.message).to.match(pattern);
      await expectClosed(c);
      await c.close();
      client = undefined;
      await server?.close();
    }
  });

  it('closes on a record announced larger than maxReplyBytes, before buffering it', async () => {
    const c = await connectTo({ stream: () => [words(0x8000_0000 + MAX_REPLY + 1)] });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/record of more than 65536 bytes/);
    expect(c.stats.peakBufferedBytes).to.be.at.most(MAX_REPLY + 3);
    await expectClosed(c);
  });

  it('rejects a call the server never answers once timeoutMs has passed, and closes', async () => {
    const c = await connectTo({ respond: () => null }, 300);
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/no reply from NFS server 127\.0\.0\.1:\d+ within 300 ms/);
    await expectClosed(c);
  });

  it('gives a bogus nfsstat3 as Nfs3Error named by its number, keeping the connection', async () => {
    const c = await connectTo({ respond: (call) => acceptedReply(call.xid, 0, words(12345, wcc())) });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err).to.be.instanceOf(Nfs3Error).and.include({ code: 'NFS3ERR_UNKNOWN_12345', op: 'REMOVE' });
    expect(c.closedBy).to.equal(undefined);
  });

  it('takes RMDIR after REMOVE says ISDIR, and RMDIR first for a directory', async () => {
    const procs: number[] = [];
    const c = await connectTo({
      respond: (call) => {
        procs.push(call.proc);
        // REMOVE (12) says ISDIR, RMDIR (13) works.
        return acceptedReply(call.xid, 0, words(call.proc === 12 ? 21 : 0, wcc()));
      },
    });
    expect(await c.remove(c.root.fh, 'd')).to.equal('removed');
    expect(procs).to.deep.equal([12, 13]);
    // Said to be a directory: RMDIR first.
    procs.length = 0;
    expect(await c.remove(c.root.fh, 'd', 'dir')).to.equal('removed');
    expect(procs).to.deep.equal([13]);
  });

  it('takes REMOVE after RMDIR says NOTDIR, and gives up after the second', async () => {
    const procs: number[] = [];
    const c = await connectTo({
      respond: (call) => {
        procs.push(call.proc);
        return acceptedReply(call.xid, 0, words(call.proc === 13 ? 20 : 21, wcc()));
      },
    });
    const err = await rejection(c.remove(c.root.fh, 'f', 'dir'));
    expect(err).to.be.instanceOf(Nfs3Error).and.include({ code: 'NFS3ERR_ISDIR', op: 'REMOVE' });
    expect(procs).to.deep.equal([13, 12]);
  });

  it('caps FSSTAT byte counts of 2^64-1 at 2^53-1', async () => {
    const max = 2n ** 64n - 1n;
    const c = await connectTo({
      respond: (call) =>
        acceptedReply(call.xid, 0, words(0, 0, u64(max), u64(max), u64(max), u64(1n), u64(1n), u64(1n), 0)),
    });
    expect(await c.space()).to.deep.equal({
      totalBytes: Number.MAX_SAFE_INTEGER,
      freeBytes: Number.MAX_SAFE_INTEGER,
      availBytes: Number.MAX_SAFE_INTEGER,
    });
  });

  it('stops after a few pages of only "." and ".." without an end', async () => {
    const verf = Buffer.alloc(8);
    let pages = 0;
    const c = await connectTo({
      respond: (call) => {
        pages++;
        return acceptedReply(
          call.xid,
          0,
          readdirplusOk(
            verf,
            [entryplus('.', BigInt(pages * 2)), entryplus('..', BigInt(pages * 2 + 1))],
            false,
          ),
        );
      },
    });
    const err = await rejection(c.readdir(c.root.fh, 0n, verf, 4096));
    expect(err.message).to.match(/listed 3 pages of no entry but "." and ".."/);
    expect(pages).to.equal(3);
  });

  it('says so when nothing listens on the MOUNT port', async () => {
    const port = await closedPort();
    const err = await rejection(
      Nfs3Client.connect(
        { server: '127.0.0.1', port, mountPort: port, exportPath: '/export' },
        { timeoutMs: 2000 },
      ),
    );
    expect(err).to.be.instanceOf(NfsRpcError);
    expect(err.message).to.match(/could not connect to MOUNT server 127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('refuses bad arguments before sending anything', async () => {
    const c = await connectTo({});
    const sent = (server as FakeRpcServer).calls.length;
    await rejection(c.remove(c.root.fh, '..'));
    await rejection(c.lookup(Buffer.alloc(65), 'a'));
    await rejection(c.readdir(c.root.fh, 0n, Buffer.alloc(8), MAX_REPLY));
    await rejection(c.lookupPath([]));
    await rejection(c.mkdir(c.root.fh, 'd', { mode: 0o755, gid: 2 ** 32 }));
    await rejection(c.rename(c.root.fh, 'a', 'b/c'));
    expect((server as FakeRpcServer).calls.length).to.equal(sent);
  });

  it('frames replies split into many fragments like one', async () => {
    server = await startFakeRpcServer({ fragmentSize: 7, respond: (call) => connectAnswer(call) });
    const c = await Nfs3Client.connect(
      { server: '127.0.0.1', port: server.port, mountPort: server.port, exportPath: '/export' },
      { timeoutMs: 2000 },
    );
    client = c;
    expect(c.root.fh).to.deep.equal(ROOT_FH);
  });
});
