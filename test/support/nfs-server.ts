// A real NFS server for tests: nfs-ganesha on 127.0.0.1, driven by
// scripts/nfs-server.sh. Where the script cannot provide one (exit 3: not
// installable, not root, no file system ganesha can export), the suite is
// skipped and says why.
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { closedPort } from './fake-rpc-server.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const script = join(repoRoot, 'scripts/nfs-server.sh');

export interface NfsServer {
  port: number;
  /** MOUNT v3's port, when the server serves NFSv3. */
  mountPort?: number;
  /** The directory ganesha exports as /export: what a mount of it would show. */
  exportDir: string;
  /** Stops the server but keeps its files; resume starts it again on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface NfsServerOptions {
  /** 'root' maps root to the anonymous user (Squash=Root_Squash); none by default. */
  squash?: 'root' | 'none';
  /**
   * The NFS versions served: [4] by default; with 3, MOUNT v3 listens on
   * mountPort (a free port when absent) and ganesha registers with a
   * loopback-only rpcbind (see scripts/nfs-server.sh). NFSv3 mounts the
   * export by its path on the server, exportDir; NFSv4 by /export.
   */
  protocols?: (3 | 4)[];
  mountPort?: number;
}

/**
 * Starts a server exporting /export on 127.0.0.1:port, with its files in a
 * folder under .cluster/ (ext4 on these machines). Call from a before hook.
 */
export async function startNfsServer(
  ctx: Mocha.Context,
  name: string,
  port: number,
  options: NfsServerOptions = {},
): Promise<NfsServer> {
  const dir = join(repoRoot, '.cluster', `${name}-${String(process.pid)}`);
  // resume starts it again with the same settings.
  const protocols = [...new Set(options.protocols ?? [4])].sort();
  const v3 = protocols.includes(3);
  const mountPort = v3 ? (options.mountPort ?? (await closedPort())) : undefined;
  const env = {
    ...process.env,
    NFS_SQUASH: options.squash ?? 'none',
    NFS_PROTOCOLS: protocols.join(','),
    ...(mountPort === undefined ? {} : { NFS_MOUNT_PORT: String(mountPort) }),
  };
  try {
    await run('bash', [script, 'start', dir, String(port)], { env });
  } catch (err) {
    const failure = err as { code?: unknown; stderr?: string; message: string };
    const why = (failure.stderr ?? '').trim() || failure.message;
    if (failure.code === 3) {
      process.stderr.write(`    skipping: no NFS server on this machine: ${why}\n`);
      ctx.skip();
    }
    throw new Error(`scripts/nfs-server.sh start failed: ${why}`, { cause: err });
  }
  if (v3) liveV3Servers++;
  return {
    port,
    ...(mountPort === undefined ? {} : { mountPort }),
    exportDir: join(dir, 'export'),
    pause: async () => {
      await run('bash', [script, 'stop', dir]);
    },
    resume: async () => {
      await run('bash', [script, 'start', dir, String(port)], { env });
    },
    stop: async () => {
      await run('bash', [script, 'stop', dir]);
      await rm(dir, { recursive: true, force: true });
      // The last NFSv3 server of this run takes down the rpcbind start began
      // (only one it started itself: the script keeps its pid).
      if (v3 && --liveV3Servers === 0) await run('bash', [script, 'stop-rpcbind']);
    },
  };
}

/** NFSv3 servers this process started and has not stopped: they share one rpcbind. */
let liveV3Servers = 0;
