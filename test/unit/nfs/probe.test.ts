// The probe against real loopback sockets: fake ONC RPC servers play NFS,
// the portmapper and MOUNT, or misbehave.
import { type Socket, connect } from 'node:net';

import { expect } from 'chai';

import { connectFailureReason, pathIsExported, probeServer } from '../../../src/nfs/probe.ts';
import { PROGRAM } from '../../../src/nfs/rpc.ts';
import {
  type FakeRpcServer,
  type FakeRpcServerOptions,
  acceptedReply,
  closedPort,
  deniedReply,
  mountProgram,
  nfsProgram,
  portmapperProgram,
  startFakeRpcServer,
} from '../../support/fake-rpc-server.ts';

describe('NFS server probe', () => {
  const servers: FakeRpcServer[] = [];
  const start = async (options: FakeRpcServerOptions) => {
    const server = await startFakeRpcServer(options);
    servers.push(server);
    return server;
  };

  afterEach(async () => {
    // Every socket the probe opened is closed by the time it returns.
    try {
      for (const server of servers) await server.waitUntilIdle();
    } finally {
      await Promise.all(servers.splice(0).map((s) => s.close()));
    }
  });

  /** NFS, MOUNT and a portmapper that knows MOUNT, each on its own port. */
  async function fullServer(exports: string[], options: Partial<FakeRpcServerOptions> = {}) {
    const nfs = await start({ programs: nfsProgram([3, 4]), ...options });
    const mount = await start({
      programs: mountProgram(exports.map((dir) => ({ dir, groups: ['*'] }))),
      ...options,
    });
    const portmapper = await start({
      programs: portmapperProgram([{ prog: PROGRAM.mount, vers: 3, port: mount.port }]),
      ...options,
    });
    return { nfs, mount, portmapper };
  }

  it('finds a reachable server and its export', async () => {
    const { nfs, mount, portmapper } = await fullServer(['/srv/a', '/srv/nfs']);
    const result = await probeServer(
      { server: '127.0.0.1', path: '/srv/nfs', nfsPort: nfs.port, portmapperPort: portmapper.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({
      reachable: true,
      reason: 'Reachable',
      address: '127.0.0.1',
      nfsVersions: [3, 4],
      exportChecked: true,
    });
    expect(result.message).to.equal(
      `127.0.0.1:${String(nfs.port)} answers NFS versions 3, 4; /srv/nfs is exported`,
    );
    expect(result.latencyMs).to.be.a('number').at.least(0);
    expect(result.rttMs).to.be.a('number').at.least(0);
    expect(nfs.calls.map((c) => [c.prog, c.vers, c.proc])).to.deep.equal([
      [100003, 4, 0],
      [100003, 3, 0],
    ]);
    expect(portmapper.calls.map((c) => [c.prog, c.vers, c.proc, c.args.toString('hex')])).to.deep.equal([
      [100000, 2, 3, '000186a5000000030000000600000000'],
    ]);
    expect(mount.calls.map((c) => [c.prog, c.vers, c.proc])).to.deep.equal([[100005, 3, 5]]);
  });

  it('accepts a path below an exported directory, and a name that resolves', async () => {
    const { nfs, portmapper } = await fullServer(['/srv/nfs/']);
    const result = await probeServer(
      { server: 'localhost', path: '/srv/nfs/team-a/', nfsPort: nfs.port, portmapperPort: portmapper.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({ reachable: true, reason: 'Reachable', exportChecked: true });
    expect(result.message).to.match(
      /^localhost:\d+ \(127\.0\.0\.1\) answers NFS versions 3, 4; \/srv\/nfs\/team-a\/ is below export \/srv\/nfs\/$/,
    );
  });

  it('reports ExportNotFound with the exports it saw, truncated', async () => {
    const exports = Array.from({ length: 40 }, (_, i) => `/exports/volume-${String(i).padStart(2, '0')}`);
    const { nfs, portmapper } = await fullServer(exports);
    const result = await probeServer(
      { server: '127.0.0.1', path: '/exports/volume', nfsPort: nfs.port, portmapperPort: portmapper.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({
      reachable: false,
      reason: 'ExportNotFound',
      exportChecked: true,
      nfsVersions: [3, 4],
    });
    expect(result.message).to.contain(
      'but /exports/volume is not exported; exports: /exports/volume-00, /exports/volume-01',
    );
    expect(result.message).to.match(/ and \d+ more$/);
    expect(result.message.length).to.be.below(320);
  });

  it('treats a server whose portmapper port is closed as NFSv4-only, export unchecked', async () => {
    const nfs = await start({ programs: nfsProgram([4]) });
    const portmapperPort = await closedPort();
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: nfs.port, portmapperPort },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({
      reachable: true,
      reason: 'Reachable',
      nfsVersions: [4],
      exportChecked: false,
    });
    expect(result.message).to.equal(
      `127.0.0.1:${String(nfs.port)} answers NFS version 4; the export /export could not be checked: ` +
        `no portmapper on 127.0.0.1:${String(portmapperPort)}: connection refused`,
    );
  });

  it('leaves the export unchecked when MOUNT is not registered or the portmapper lacks GETPORT', async () => {
    const nfs = await start({ programs: nfsProgram([4]) });
    const empty = await start({ programs: portmapperProgram([]) });
    const notPortmapper = await start({ programs: nfsProgram([4]) });
    const unregistered = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: nfs.port, portmapperPort: empty.port },
      { timeoutMs: 2000 },
    );
    expect(unregistered).to.deep.include({ reason: 'Reachable', exportChecked: false });
    expect(unregistered.message).to.contain('MOUNT v3 over TCP is not registered with the portmapper');
    const unavailable = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: nfs.port, portmapperPort: notPortmapper.port },
      { timeoutMs: 2000 },
    );
    expect(unavailable).to.deep.include({ reason: 'Reachable', exportChecked: false });
    expect(unavailable.message).to.contain('answered GETPORT with PROG_UNAVAIL');
  });

  it('leaves the export unchecked when the portmapper never answers, after one step timeout', async () => {
    const nfs = await start({ programs: nfsProgram([3, 4]) });
    const silent = await start({ mode: 'silent' });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: nfs.port, portmapperPort: silent.port },
      { timeoutMs: 200 },
    );
    expect(result).to.deep.include({ reason: 'Reachable', exportChecked: false });
    expect(result.message).to.contain(
      `no answer from portmapper at 127.0.0.1:${String(silent.port)} within 200 ms`,
    );
  });

  it('leaves the export unchecked when MOUNT sends a broken list', async () => {
    const nfs = await start({ programs: nfsProgram([3, 4]) });
    const mount = await start({
      programs: { [PROGRAM.mount]: { versions: [3], procedures: { 5: () => Buffer.from([0, 0, 0, 1]) } } },
    });
    const portmapper = await start({
      programs: portmapperProgram([{ prog: PROGRAM.mount, vers: 3, port: mount.port }]),
    });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: nfs.port, portmapperPort: portmapper.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({ reason: 'Reachable', exportChecked: false });
    expect(result.message).to.contain('sent a bad export list: truncated: dirpath of export entry 1');
  });

  it('reassembles replies split into many small fragments, up to the limit of 64', async () => {
    // The export list reply is 136 bytes: 46 fragments of at most 3 bytes.
    const exports = Array.from({ length: 3 }, (_, i) => `/srv/share-${String(i)}`);
    const { nfs, portmapper } = await fullServer(exports, { fragmentSize: 3 });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/srv/share-2', nfsPort: nfs.port, portmapperPort: portmapper.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({
      reachable: true,
      reason: 'Reachable',
      exportChecked: true,
      nfsVersions: [3, 4],
    });
  });

  it('learns the versions from PROG_MISMATCH', async () => {
    const nfs = await start({ programs: nfsProgram([2, 3]) });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: nfs.port, portmapperPort: await closedPort() },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({ reason: 'Reachable', nfsVersions: [2, 3] });
    expect(nfs.calls).to.have.length(1);
  });

  it('keeps a server that answers v4 but not v3 Reachable after the v3 call times out', async () => {
    const nfs = await start({
      programs: nfsProgram([3, 4]),
      respond: (call) => (call.vers === 3 ? null : undefined),
    });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: nfs.port, portmapperPort: await closedPort() },
      { timeoutMs: 150 },
    );
    expect(result).to.deep.include({ reachable: true, reason: 'Reachable', nfsVersions: [4] });
  });

  it('says ConnectionRefused when nothing listens on the NFS port', async () => {
    const port = await closedPort();
    const result = await probeServer({ server: '127.0.0.1', path: '/x', nfsPort: port }, { timeoutMs: 2000 });
    expect(result).to.deep.include({ reachable: false, reason: 'ConnectionRefused', exportChecked: false });
    expect(result.message).to.equal(`could not connect to 127.0.0.1:${String(port)}: connection refused`);
    expect(result.nfsVersions).to.be.undefined;
  });

  it('says Timeout when the server accepts but never answers', async () => {
    const silent = await start({ mode: 'silent' });
    const started = Date.now();
    const result = await probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: silent.port },
      { timeoutMs: 150 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'Timeout' });
    expect(result.message).to.equal(`no answer from 127.0.0.1:${String(silent.port)} within 150 ms`);
    expect(Date.now() - started).to.be.below(1000);
    expect(silent.accepted).to.equal(1);
  });

  it('says NotNfs when the port answers HTTP', async () => {
    const http = await start({ mode: 'http' });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: http.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'NotNfs' });
    expect(result.message).to.contain('answered with something that is not ONC RPC');
  });

  it('says NotNfs when the port answers with records that are not RPC replies', async () => {
    const garbage = await start({ mode: 'garbage' });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: garbage.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'NotNfs' });
  });

  it('says NotNfs when an RPC server does not serve program 100003', async () => {
    const portmapper = await start({ programs: portmapperProgram([]) });
    const result = await probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: portmapper.port },
      { timeoutMs: 2000 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'NotNfs' });
    expect(result.message).to.contain('speaks ONC RPC but does not serve NFS');
  });

  it('says ProtocolError when the server closes at once, denies the call, or answers the wrong call', async () => {
    const closing = await start({ mode: 'close' });
    const denied = await start({ respond: (call) => deniedReply(call.xid, 1, [5]) });
    const wrongXid = await start({ respond: (call) => acceptedReply(call.xid + 1, 0) });
    const systemErr = await start({ respond: (call) => acceptedReply(call.xid, 5) });
    const probe = (port: number) =>
      probeServer({ server: '127.0.0.1', path: '/x', nfsPort: port }, { timeoutMs: 2000 });

    const closed = await probe(closing.port);
    expect(closed).to.deep.include({ reason: 'ProtocolError' });
    expect(closed.message).to.match(/closed the connection without answering|reset the connection/);
    const auth = await probe(denied.port);
    expect(auth).to.deep.include({ reason: 'ProtocolError' });
    expect(auth.message).to.contain('call denied: AUTH_TOOWEAK');
    expect(await probe(wrongXid.port)).to.deep.include({ reason: 'NotNfs' });
    const err = await probe(systemErr.port);
    expect(err).to.deep.include({ reason: 'ProtocolError' });
    expect(err.message).to.contain('SYSTEM_ERR');
  });

  it('says HostNotFound for a name that cannot resolve', async () => {
    const result = await probeServer({ server: 'nfs-server.invalid', path: '/x' }, { timeoutMs: 5000 });
    expect(result).to.deep.include({ reachable: false, reason: 'HostNotFound', exportChecked: false });
    expect(result.message).to.match(/^could not resolve nfs-server\.invalid/);
    expect(result.address).to.be.undefined;
  });

  it('stops and closes its socket when aborted, rejecting with the reason', async () => {
    const silent = await start({ mode: 'silent' });
    const controller = new AbortController();
    const probing = probeServer(
      { server: '127.0.0.1', path: '/x', nfsPort: silent.port },
      { timeoutMs: 10_000, signal: controller.signal },
    );
    setTimeout(() => {
      controller.abort(new Error('shutting down'));
    }, 50);
    let error: unknown;
    try {
      await probing;
    } catch (err) {
      error = err;
    }
    expect((error as Error).message).to.equal('shutting down');
    await silent.waitUntilIdle();
  });

  it('refuses a timeout that is not positive', async () => {
    let error: unknown;
    try {
      await probeServer({ server: '127.0.0.1', path: '/x' }, { timeoutMs: 0 });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(RangeError);
  });

  it('maps connect errors to reasons', () => {
    expect(connectFailureReason('ECONNREFUSED')).to.equal('ConnectionRefused');
    expect(connectFailureReason('EHOSTUNREACH')).to.equal('Unreachable');
    expect(connectFailureReason('ENETUNREACH')).to.equal('Unreachable');
    expect(connectFailureReason('ETIMEDOUT')).to.equal('Timeout');
  });

  it('matches paths against exported directories', () => {
    expect(pathIsExported('/srv/nfs', '/srv/nfs')).to.be.true;
    expect(pathIsExported('/srv/nfs/', '/srv/nfs')).to.be.true;
    expect(pathIsExported('/srv/nfs/a/b', '/srv/nfs/')).to.be.true;
    expect(pathIsExported('//srv/./nfs', '/srv/nfs')).to.be.true;
    expect(pathIsExported('/anything', '/')).to.be.true;
    expect(pathIsExported('/srv/nfs2', '/srv/nfs')).to.be.false;
    expect(pathIsExported('/srv', '/srv/nfs')).to.be.false;
  });

  it('has a fake server that notices a client socket left open', async () => {
    // A guard for the afterEach check: an open client socket keeps the fake server busy.
    const server = await start({ mode: 'silent' });
    const socket = await new Promise<Socket>((resolve) => {
      const client = connect(server.port, '127.0.0.1', () => {
        resolve(client);
      });
    });
    let threw = false;
    try {
      await server.waitUntilIdle(100);
    } catch {
      threw = true;
    }
    socket.destroy();
    expect(threw).to.be.true;
  });
});
