// The probe against a real NFS server: nfs-ganesha on loopback, NFSv4 only,
// started by scripts/nfs-server.sh. Needs no Kubernetes. Skipped, saying why,
// where the script cannot provide the server (exit 3: not installable, not
// root, no file system ganesha can export).
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { probeServer } from '../../src/nfs/probe.ts';
import { closedPort } from '../support/fake-rpc-server.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const script = join(repoRoot, 'scripts/nfs-server.sh');
// Under .cluster/ (ignored by git; ext4 on these machines, which ganesha's VFS backend needs).
const dir = join(repoRoot, '.cluster', `nfs-probe-${String(process.pid)}`);

describe('NFS probe against nfs-ganesha', function () {
  let port = 0;
  let started = false;

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    port = await closedPort();
    try {
      await run('bash', [script, 'start', dir, String(port)]);
      started = true;
    } catch (err) {
      const failure = err as { code?: unknown; stderr?: string; message: string };
      const why = (failure.stderr ?? '').trim() || failure.message;
      if (failure.code === 3) {
        process.stderr.write(`    skipping: no NFS server on this machine: ${why}\n`);
        this.skip();
      }
      throw new Error(`scripts/nfs-server.sh start failed: ${why}`, { cause: err });
    }
  });

  after(async function () {
    this.timeout(30_000);
    if (started) await run('bash', [script, 'stop', dir]);
    await rm(dir, { recursive: true, force: true });
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
    await run('bash', [script, 'stop', dir]);
    started = false;
    const result = await probeServer(
      { server: '127.0.0.1', path: '/export', nfsPort: port },
      { timeoutMs: 5000 },
    );
    expect(result).to.deep.include({ reachable: false, reason: 'ConnectionRefused' });
  });
});
