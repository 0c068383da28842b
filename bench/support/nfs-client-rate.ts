// The raw rate of the user-space NFSv4 client against one server: the limit
// dynamic provisioning can approach. Plain calls over one connection, one
// removeTree of a wide directory, and the provisioner's own per-volume I/O
// (makeDirectory and reclaimDirectory of src/provisioning/directories.ts,
// each of which connects, works and closes) one and several at a time.
import PQueue from 'p-queue';

import { type FileHandle, removeTree } from '../../src/nfs/dir/index.ts';
import { Nfs4Client } from '../../src/nfs/v4/index.ts';
import { makeDirectory, reclaimDirectory } from '../../src/provisioning/directories.ts';

export interface RateRow {
  what: string;
  /** Calls timed (or entries removed, for removeTree). */
  count: number;
  concurrency: number;
  seconds: number;
  /** Seconds per call; empty where only the whole is timed. */
  latencies: number[];
}

export interface RateOptions {
  port: number;
  count: number;
  /** The operator's --workers: how many volumes it works on at once. */
  workers: number;
  timeoutMs: number;
}

/** Runs call(i) for i in 0..count-1, at most concurrency at once, timing each. */
async function timed(
  count: number,
  concurrency: number,
  call: (i: number) => Promise<unknown>,
): Promise<{ seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  const queue = new PQueue({ concurrency });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    void queue.add(async () => {
      const t = performance.now();
      await call(i);
      latencies.push((performance.now() - t) / 1000);
    });
  }
  await queue.onIdle();
  return { seconds: (performance.now() - started) / 1000, latencies };
}

async function fresh(client: Nfs4Client, parent: FileHandle, name: string): Promise<FileHandle> {
  const made = await client.mkdir(parent, name, { mode: 0o777 });
  if (made === 'exists')
    throw new Error(`${name} exists on the bench's server already; start from a fresh one`);
  return made.fh;
}

/** Every measurement, in the order printed; each leaves the export as it found it. */
export async function clientRates(opts: RateOptions): Promise<RateRow[]> {
  const { count, port, timeoutMs } = opts;
  const target = { server: '127.0.0.1', port, exportPath: '/export' };
  const client = await Nfs4Client.connect(target, { timeoutMs });
  const rows: RateRow[] = [];
  const row = (what: string, concurrency: number, r: { seconds: number; latencies: number[] }) =>
    rows.push({ what, count, concurrency, ...r });
  try {
    const top = await fresh(client, client.root.fh, 'bench-raw');
    const name = (i: number) => `d${String(i)}`;

    // Plain calls, one connection (its calls go one at a time).
    row(
      'Nfs4Client.mkdir, one connection',
      1,
      await timed(count, 1, (i) => client.mkdir(top, name(i), { mode: 0o777 })),
    );
    row('Nfs4Client.remove, one connection', 1, await timed(count, 1, (i) => client.remove(top, name(i))));

    // One removeTree of a directory holding count empty directories.
    const wide = await fresh(client, top, 'wide');
    for (let i = 0; i < count; i++) await client.mkdir(wide, name(i), { mode: 0o777 });
    const t = performance.now();
    const tree = await removeTree(client, top, 'wide', wide, {
      maxOps: 10 * count + 10,
      deadline: Date.now() + 600_000,
    });
    if (!tree.done) throw new Error(`removeTree of ${String(count)} entries did not finish in one call`);
    rows.push({
      what: `removeTree of one directory with ${String(count)} empty ones (per entry)`,
      count: tree.removed,
      concurrency: 1,
      seconds: (performance.now() - t) / 1000,
      latencies: [],
    });

    // The provisioner's own calls, as its workers make them: a connection per
    // volume, and a directory right below the export (its default pattern).
    const server = { port, timeoutMs };
    const config = { mode: 0o777, existing: 'refuse' as const, mount: { version: 4 as const } };
    const exportTarget = { server: '127.0.0.1', path: '/export' };
    for (const concurrency of [...new Set([1, opts.workers])]) {
      const handles: FileHandle[] = [];
      row(
        'makeDirectory (connect, mkdir, close)',
        concurrency,
        await timed(count, concurrency, async (i) => {
          const made = await makeDirectory(exportTarget, [`bench-raw-${name(i)}`], config, server);
          if (!made.ok) throw new Error(`makeDirectory: ${made.problem}`);
          handles[i] = made.handle;
        }),
      );
      row(
        'reclaimDirectory delete (connect, lookup ×2, readdir, remove, close)',
        concurrency,
        await timed(count, concurrency, async (i) => {
          const recorded = {
            server: '127.0.0.1',
            exportPath: '/export',
            components: [`bench-raw-${name(i)}`],
            handle: handles[i] ?? Buffer.alloc(0),
            onDelete: 'delete' as const,
            version: 4 as const,
          };
          const out = await reclaimDirectory(
            recorded,
            server,
            { maxOps: 100, deadline: Date.now() + 60_000 },
            new Date(),
          );
          if (out.state !== 'done' || out.removed !== 1)
            throw new Error(`reclaimDirectory: ${JSON.stringify(out)}`);
        }),
      );
    }
    await client.remove(client.root.fh, 'bench-raw');
  } finally {
    client.close();
  }
  return rows;
}
