// nfs-ganesha on 127.0.0.1 for the benches, through scripts/nfs-server.sh (as
// the tests' test/support/nfs-server.ts, without mocha). Where the script
// cannot provide a server (its exit 3: not installable, not root, no file
// system ganesha can export) the caller is told why instead of an error.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = join(fileURLToPath(new URL('../..', import.meta.url)), 'scripts', 'nfs-server.sh');

export interface Ganesha {
  port: number;
  /** The directory exported as /export: what a mount of it would show. */
  exportDir: string;
  /** ganesha.nfsd's own pid, for its CPU time. */
  pid: number;
  stop(): Promise<void>;
}

/** Starts ganesha with its files in dir; resolves with the reason instead when this machine cannot run it. */
export async function startGanesha(dir: string, port: number): Promise<Ganesha | { unavailable: string }> {
  try {
    await run('bash', [script, 'start', dir, String(port)]);
  } catch (err) {
    const failure = err as { code?: unknown; stderr?: string; message: string };
    const why = (failure.stderr ?? '').trim() || failure.message;
    if (failure.code === 3) return { unavailable: why };
    throw new Error(`scripts/nfs-server.sh start failed: ${why}`, { cause: err });
  }
  const pidText = readFileSync(join(dir, 'nfsd.pid'), 'utf8').trim();
  if (!/^\d{1,10}$/.test(pidText)) throw new Error(`${dir}/nfsd.pid holds no pid: ${pidText.slice(0, 40)}`);
  return {
    port,
    exportDir: join(dir, 'export'),
    pid: Number(pidText),
    stop: async () => {
      await run('bash', [script, 'stop', dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
