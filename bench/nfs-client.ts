// The user-space NFS clients' raw rate against nfs-ganesha on loopback, NFSv4
// beside NFSv3 on one server that serves both: N mkdir calls, then N remove
// calls, one at a time on one connection, timed per call. The limit dynamic
// provisioning can approach. Then removeTree of one directory holding N
// empty files (planted on disk), as one deletion of a volume's directory
// would run. Prints numbers; asserts nothing.
//   make bench-nfs-client [N=1000]
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { DirClient } from '../src/nfs/dir/index.ts';
import { removeTree } from '../src/nfs/dir/remove-tree.ts';
import { Nfs3Client } from '../src/nfs/v3/index.ts';
import { Nfs4Client } from '../src/nfs/v4/client.ts';
import { markdownTable, percentile } from './support/table.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const script = join(repoRoot, 'scripts/nfs-server.sh');

const count = Number(process.env.N ?? '1000');
if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
  throw new RangeError(`N must be an integer from 1 to 1000000, not ${String(process.env.N)}`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Runs `call` for each i in turn; the wall time of each, in ms. */
async function timed(
  n: number,
  call: (i: number) => Promise<unknown>,
): Promise<{ ms: number[]; totalMs: number }> {
  const ms: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call(i);
    ms.push(performance.now() - t);
  }
  return { ms, totalMs: performance.now() - started };
}

function row(name: string, r: { ms: number[]; totalMs: number }): string[] {
  return [
    name,
    String(r.ms.length),
    ((r.ms.length * 1000) / r.totalMs).toFixed(0),
    percentile(r.ms, 50).toFixed(2),
    percentile(r.ms, 99).toFixed(2),
    Math.max(...r.ms).toFixed(2),
  ];
}

/** The calls over one client, and removeTree of a planted tree; its rows and the tree's line. */
async function measure(client: DirClient, label: string, exportDir: string) {
  const root = client.root.fh;
  const names = Array.from({ length: count }, (_, i) => `${label}-${String(i).padStart(7, '0')}`);
  const mkdirs = await timed(count, async (i) => {
    const made = await client.mkdir(root, names[i] as string, { mode: 0o777 });
    if (made === 'exists') throw new Error(`${names[i] as string} exists already`);
  });
  const removes = await timed(count, async (i) => {
    if ((await client.remove(root, names[i] as string)) !== 'removed') throw new Error('not removed');
  });
  const treeName = `tree-${label}`;
  const tree = join(exportDir, treeName);
  await mkdir(tree);
  for (let i = 0; i < count; i++) await writeFile(join(tree, `f${String(i)}`), '');
  const treeFh = (await client.lookup(root, treeName))?.fh;
  if (treeFh === undefined) throw new Error('the planted tree is not visible over NFS');
  const t = performance.now();
  const progress = await removeTree(client, root, treeName, treeFh, {
    maxOps: 10 * count + 10,
    deadline: Date.now() + 600_000,
  });
  const treeMs = performance.now() - t;
  if (!progress.done) throw new Error('removeTree did not finish within its budget');
  return {
    rows: [row(`${label} mkdir`, mkdirs), row(`${label} remove`, removes)],
    tree:
      `${label} removeTree of a directory of ${String(count)} files: ${String(progress.removed)} entries in ` +
      `${treeMs.toFixed(0)} ms, ${((progress.removed * 1000) / treeMs).toFixed(0)} entries/s`,
  };
}

const dir = join(repoRoot, '.cluster', `bench-nfs-client-${String(process.pid)}`);
const port = await freePort();
const mountPort = await freePort();
try {
  await run('bash', [script, 'start', dir, String(port)], {
    env: { ...process.env, NFS_PROTOCOLS: '3,4', NFS_MOUNT_PORT: String(mountPort) },
  });
} catch (err) {
  const failure = err as { code?: unknown; stderr?: string; message: string };
  process.stderr.write(`bench-nfs-client: no NFS server: ${(failure.stderr ?? failure.message).trim()}\n`);
  process.exit(failure.code === 3 ? 0 : 1);
}
try {
  const exportDir = join(dir, 'export');
  const results = [];
  // NFSv4 through the pseudo path; NFSv3 mounts the path on the server.
  const v4 = await Nfs4Client.connect(
    { server: '127.0.0.1', port, exportPath: '/export' },
    { timeoutMs: 10_000 },
  );
  try {
    results.push(await measure(v4, 'NFSv4', exportDir));
  } finally {
    v4.close();
  }
  const v3 = await Nfs3Client.connect(
    { server: '127.0.0.1', port, exportPath: exportDir, mountPort },
    { timeoutMs: 10_000 },
  );
  try {
    results.push(await measure(v3, 'NFSv3', exportDir));
  } finally {
    await v3.close();
  }
  console.log(
    `nfs-ganesha on 127.0.0.1:${String(port)} (NFSv4 and NFSv3), one connection, one call at a time, N=${String(count)}\n`,
  );
  console.log(
    markdownTable(
      ['call', 'calls', 'ops/s', 'p50 ms', 'p99 ms', 'max ms'],
      results.flatMap((r) => r.rows),
    ),
  );
  console.log('');
  for (const r of results) console.log(r.tree);
} finally {
  await run('bash', [script, 'stop', dir]);
  await run('bash', [script, 'stop-rpcbind']);
  await rm(dir, { recursive: true, force: true });
}
