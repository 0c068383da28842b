// The probe against a real NFS server: nfs-ganesha on loopback, NFSv4 only,
// started by scripts/nfs-server.sh. Needs no Kubernetes. Skipped, saying why,
// where the script cannot provide the server (exit 3: not installable, not
// root, no file system ganesha can export).
import { expect } from 'chai';

import { probeServer } from '../../src/nfs/probe.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';

describe('NFS probe against nfs-ganesha', function () {
  let port = 0;
  let server: NfsServer | undefined;

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    server = await startNfsServer(this, 'nfs-probe', await closedPort());
    port = server.port;
  });

  after(async function () {
    this.timeout(30_000);
    await server?.stop();
  });

  it('finds the export Reachable over NFSv4, the export unchecked without a portmapper', async () => {
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: port, portmapperPort: await closedPort() },
      { timeoutMs: 5000 },
    );
    expect(result).to.deep.include({
      reachable: true,
      reason: 'Reachable',
      nfsVersions: [4],
      exportChecked: false,
    });
    expect(result.message).to.match(
      /^127\.0\.0\.1:\d+ answers NFS version 4; the export \/export could not be checked: no portmapper on 127\.0\.0\.1:\d+: connection refused$/,
    );
  });

  it('reaches it by name too', async () => {
    const result = await probeServer(
      { server: 'localhost', path: '/export', nfsPort: port, portmapperPort: await closedPort() },
      { timeoutMs: 5000 },
    );
    expect(result).to.deep.include({ reachable: true, reason: 'Reachable', address: '127.0.0.1' });
  });

  it('says ConnectionRefused for a port nothing listens on', async () => {
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: await closedPort() },
      { timeoutMs: 5000 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'ConnectionRefused' });
  });

  it('says ConnectionRefused once the server is stopped', async function () {
    this.timeout(30_000);
    await server?.stop();
    server = undefined;
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: port },
      { timeoutMs: 5000 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'ConnectionRefused' });
  });
});
