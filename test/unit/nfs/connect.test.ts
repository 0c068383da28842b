// Picking the NFS version over loopback fake servers: v4 when asked or
// offered, v3 when the server's NFS program has no version 4, and a failure
// of both said with both reasons.
import { expect } from 'chai';

import { connectDirClient } from '../../../src/nfs/connect.ts';
import { NfsRpcError } from '../../../src/nfs/dir/errors.ts';
import { PROGRAM } from '../../../src/nfs/rpc.ts';
import {
  type FakeCall,
  type FakeRpcServer,
  acceptedReply,
  closedPort,
  startFakeRpcServer,
} from '../../support/fake-rpc-server.ts';
import { fattr3, mntOk, words } from '../../support/nfs3-replies.ts';
import { rejection } from '../../support/rejection.ts';

const ROOT_FH = Buffer.from('root');

/** MNT and GETATTR of the root for NFSv3; anything else to the programs (NFS v3 only: v4 gets PROG_MISMATCH). */
function v3Only(call: FakeCall): Buffer | undefined {
  if (call.prog === PROGRAM.mount)
    return acceptedReply(call.xid, 0, call.proc === 1 ? mntOk(ROOT_FH) : undefined);
  if (call.prog === PROGRAM.nfs && call.vers === 3 && call.proc === 1)
    return acceptedReply(call.xid, 0, words(0, fattr3()));
  return undefined;
}

describe('connecting over the NFS version asked for, or offered', () => {
  let server: FakeRpcServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const target = { server: '127.0.0.1', path: '/export' };
  const options = { timeoutMs: 2000 };

  it('falls back to v3 when the NFS program has no version 4, and stays on v4 when asked for it', async () => {
    server = await startFakeRpcServer({ programs: { [PROGRAM.nfs]: { versions: [3] } }, respond: v3Only });
    const port = server.port;
    const client = await connectDirClient(target, { version: 'auto', port, mountPort: port }, options);
    expect(client.version).to.equal(3);
    expect(client.root.fh).to.deep.equal(ROOT_FH);
    await client.close();
    expect(server.calls.map((c) => [c.prog, c.vers, c.proc])).to.deep.equal([
      [100003, 4, 1],
      [100005, 3, 1],
      [100003, 3, 1],
      [100005, 3, 3],
    ]);
    const asked4 = await rejection(connectDirClient(target, { version: 4, port }, options));
    expect(asked4).to.be.instanceOf(NfsRpcError);
    expect(asked4.message).to.match(/did not run the NFSv4 call: PROG_MISMATCH \(versions 3 to 3\)/);
  });

  it('says both reasons when v4 is not offered and v3 cannot be reached either', async () => {
    server = await startFakeRpcServer({ programs: { [PROGRAM.nfs]: { versions: [3] } } });
    const mountPort = await closedPort();
    const err = await rejection(
      connectDirClient(target, { version: 'auto', port: server.port, mountPort }, options),
    );
    expect(err).to.be.instanceOf(NfsRpcError);
    expect(err.message).to.match(
      /^NFSv4 does not serve the export \(.*PROG_MISMATCH.*\), and NFSv3: could not connect to MOUNT server 127\.0\.0\.1:\d+: ECONNREFUSED$/,
    );
  });

  it('does not try v3 when v4 fails otherwise (a closed port)', async () => {
    const port = await closedPort();
    const err = await rejection(
      connectDirClient(target, { version: 'auto', port, mountPort: port }, options),
    );
    expect(err.message).to.match(/^could not connect to NFS server 127\.0\.0\.1:\d+: ECONNREFUSED$/);
  });
});
