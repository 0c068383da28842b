// The client against servers that misbehave, over real loopback sockets: a
// fake server answers the connect COMPOUND properly, then sends what no
// honest server sends. Each case expects a clear rejection, the connection
// closed, and memory within maxReplyBytes + 3.
import { expect } from 'chai';

import { encodeRecord } from '../../../../src/nfs/rpc.ts';
import { Nfs4Client, Nfs4Error, Nfs4RpcError } from '../../../../src/nfs/v4/client.ts';
import {
  type FakeCall,
  type FakeRpcServer,
  type FakeRpcServerOptions,
  acceptedReply,
  closedPort,
  deniedReply,
  startFakeRpcServer,
} from '../../../support/fake-rpc-server.ts';
import { compound, objectAttrs, opaque, result, words } from '../../../support/nfs4-replies.ts';
import { rejection } from '../../../support/rejection.ts';

const ROOT_FH = Buffer.from('root-handle');
const MAX_REPLY = 64 * 1024;
const rootAnswerBytes = encodeRecord(rootAnswer(0)).length;

/** The answer to connect's PUTROOTFH, LOOKUP export, GETFH, GETATTR. */
function rootAnswer(xid: number): Buffer {
  const attrs = objectAttrs({ type: 2, fsid: [1n, 1n], fileid: 1n, mode: 0o755 });
  return acceptedReply(
    xid,
    0,
    compound(0, result(24), result(15), result(10, 0, opaque(ROOT_FH)), result(9, 0, attrs)),
  );
}

describe('NFSv4 client against a hostile server (loopback)', function () {
  this.timeout(20000);
  let server: FakeRpcServer | undefined;
  let client: Nfs4Client | undefined;

  afterEach(async () => {
    client?.close();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  /** A server that answers connect, then hands later calls to `then`. */
  async function connectTo(
    then: Partial<FakeRpcServerOptions> & { respond?: (call: FakeCall) => Buffer | null | undefined },
    timeoutMs = 2000,
  ): Promise<Nfs4Client> {
    // The server's call list already holds the call being answered.
    const first = () => (server as FakeRpcServer).calls.length === 1;
    const respond = (call: FakeCall) => (first() ? rootAnswer(call.xid) : then.respond?.(call));
    const stream = then.stream && ((call: FakeCall) => (first() ? undefined : then.stream?.(call)));
    server = await startFakeRpcServer({ ...then, respond, stream });
    client = await Nfs4Client.connect(
      { server: '127.0.0.1', port: server.port, exportPath: '/export' },
      { timeoutMs, maxReplyBytes: MAX_REPLY },
    );
    return client;
  }

  /** The connection is closed for good: the server sees it go, and the next call fails at once. */
  async function expectClosed(c: Nfs4Client): Promise<void> {
    await (server as FakeRpcServer).waitUntilIdle(5000);
    expect(c.closedBy).to.be.instanceOf(Nfs4RpcError);
    const again = await rejection(c.remove(c.root.fh, 'x'));
    expect(again.message).to.equal(c.closedBy?.message);
  }

  it('resolves the export root on connect', async () => {
    const c = await connectTo({});
    expect(c.root.fh).to.deep.equal(ROOT_FH);
    expect(c.root.attrs).to.include({ type: 'dir', fsid: '1:1', mode: 0o755 });
    const call = (server as FakeRpcServer).calls[0] as FakeCall;
    expect([call.prog, call.vers, call.proc]).to.deep.equal([100003, 4, 1]);
  });

  it('closes on a reply with another xid', async () => {
    const c = await connectTo({ respond: (call) => acceptedReply(call.xid + 7, 0, compound(0)) });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err).to.be.instanceOf(Nfs4RpcError);
    expect(err.message).to.match(/answered call \d+ with a reply to call \d+; connection closed/);
    await expectClosed(c);
  });

  it('closes on a record announced larger than maxReplyBytes, before buffering it', async () => {
    const c = await connectTo({ stream: () => [words(0x8000_0000 + MAX_REPLY + 1)] });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/record of more than 65536 bytes/);
    expect(c.stats.peakBufferedBytes).to.be.at.most(MAX_REPLY + 3);
    await expectClosed(c);
  });

  it('holds at most maxReplyBytes + 3 of an endless stream of fragments', async () => {
    function* endless(): Generator<Buffer> {
      const fragment = Buffer.concat([words(10_000), Buffer.alloc(10_000, 0x61)]);
      for (;;) yield fragment;
    }
    const c = await connectTo({ stream: () => endless() });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/record of more than 65536 bytes/);
    expect(c.stats.peakBufferedBytes).to.be.at.most(MAX_REPLY + 3);
    await expectClosed(c);
  });

  it('closes on a well-framed record that is not an RPC reply', async () => {
    const c = await connectTo({ respond: () => Buffer.from('this is not an RPC reply\n') });
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/not ONC RPC/);
    await expectClosed(c);
  });

  it('closes on an RPC reply whose COMPOUND cannot be decoded', async () => {
    for (const body of [
      words(0, 0, 0x8000_0000),
      words(0, 0),
      compound(0, result(22), result(28, 0, words(1))),
    ]) {
      const c = await connectTo({ respond: (call) => acceptedReply(call.xid, 0, body) });
      const err = await rejection(c.remove(c.root.fh, 'x'));
      expect(err).to.be.instanceOf(Nfs4RpcError);
      expect(err.message).to.match(/undecodable NFSv4 reply/);
      await expectClosed(c);
      c.close();
      await server?.close();
    }
  });

  it('refuses a server whose root file handle is longer than 128 bytes', async () => {
    server = await startFakeRpcServer({
      respond: (call) =>
        acceptedReply(
          call.xid,
          0,
          compound(0, result(24), result(15), result(10, 0, opaque(Buffer.alloc(200)))),
        ),
    });
    const err = await rejection(
      Nfs4Client.connect(
        { server: '127.0.0.1', port: server.port, exportPath: '/export' },
        { timeoutMs: 2000 },
      ),
    );
    expect(err.message).to.match(/200 bytes long, more than the 128/);
    await server.waitUntilIdle(5000);
  });

  it('closes on a second reply to one call', async () => {
    const c = await connectTo({
      stream: (call) => {
        const one = encodeRecord(acceptedReply(call.xid, 0, compound(0, result(22), result(28, 2))));
        return [Buffer.concat([one, one])];
      },
    });
    expect(await c.remove(c.root.fh, 'x')).to.equal('absent');
    await (server as FakeRpcServer).waitUntilIdle(5000);
    expect(c.closedBy?.message).to.match(/reply to no call/);
  });

  it('rejects a call the server never answers once timeoutMs has passed, and closes', async () => {
    const c = await connectTo({ respond: () => null }, 300);
    const err = await rejection(c.remove(c.root.fh, 'x'));
    expect(err.message).to.match(/no reply from NFS server 127\.0\.0\.1:\d+ within 300 ms/);
    await expectClosed(c);
  });

  it('waits for a slow answer that comes within timeoutMs', async () => {
    const c = await connectTo({
      delayMs: 200,
      respond: (call) => acceptedReply(call.xid, 0, compound(2, result(22), result(28, 2))),
    });
    expect(await c.remove(c.root.fh, 'x')).to.equal('absent');
    expect(c.closedBy).to.equal(undefined);
  });

  it('says so when nothing listens on the port', async () => {
    const err = await rejection(
      Nfs4Client.connect(
        { server: '127.0.0.1', port: await closedPort(), exportPath: '/export' },
        { timeoutMs: 2000 },
      ),
    );
    expect(err).to.be.instanceOf(Nfs4RpcError);
    expect(err.message).to.match(/could not connect to NFS server 127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('rejects when the server closes in the middle of a reply', async () => {
    const c = await connectTo({ stream: () => [words(0x8000_0100, 1, 2)] });
    const pending = rejection(c.remove(c.root.fh, 'x'));
    while (c.stats.bytesReceived < rootAnswerBytes + 12)
      await new Promise((resolve) => setTimeout(resolve, 5));
    await server?.close();
    const err = await pending;
    expect(err.message).to.match(/closed the connection in the middle of a reply/);
    await expectClosed(c);
  });

  it('rejects pending calls and closes when the signal aborts', async () => {
    server = await startFakeRpcServer({
      respond: (call) => ((server as FakeRpcServer).calls.length === 1 ? rootAnswer(call.xid) : null),
    });
    const controller = new AbortController();
    const c = await Nfs4Client.connect(
      { server: '127.0.0.1', port: server.port, exportPath: '/export' },
      { timeoutMs: 60_000, signal: controller.signal },
    );
    client = c;
    const pending = rejection(c.remove(c.root.fh, 'x'));
    const queued = rejection(c.remove(c.root.fh, 'y'));
    setImmediate(() => {
      controller.abort(new Error('shutting down'));
    });
    expect((await pending).message).to.equal('aborted: shutting down');
    expect((await queued).message).to.equal('aborted: shutting down');
    await expectClosed(c);
  });

  it('reports an RPC denial without closing, and a status as Nfs4Error with code and op', async () => {
    let n = 0;
    const c = await connectTo({
      respond: (call) =>
        n++ === 0
          ? deniedReply(call.xid, 1, [1])
          : acceptedReply(call.xid, 0, compound(13, result(22), result(6, 13))),
    });
    const denied = await rejection(c.remove(c.root.fh, 'x'));
    expect(denied).to.be.instanceOf(Nfs4RpcError);
    expect(denied.message).to.match(/call denied: AUTH_BADCRED/);
    const refused = await rejection(c.mkdir(c.root.fh, 'd', { mode: 0o755 }));
    expect(refused).to.be.instanceOf(Nfs4Error);
    expect(refused).to.include({ code: 'NFS4ERR_ACCESS', op: 'CREATE', status: 13 });
    expect(c.closedBy).to.equal(undefined);
  });

  it('refuses bad arguments before sending anything', async () => {
    const c = await connectTo({});
    const sent = (server as FakeRpcServer).calls.length;
    await rejection(c.remove(c.root.fh, '..'));
    await rejection(c.lookup(Buffer.alloc(129), 'a'));
    await rejection(c.readdir(c.root.fh, 0n, Buffer.alloc(8), MAX_REPLY));
    await rejection(c.readdir(c.root.fh, -1n, Buffer.alloc(8), 4096));
    await rejection(c.lookupPath([]));
    await rejection(c.mkdir(c.root.fh, 'd', { mode: 0o755, gid: 2 ** 32 }));
    expect((server as FakeRpcServer).calls.length).to.equal(sent);
  });
});
