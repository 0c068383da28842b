// The provisioner's I/O on the NFS server, over the user-space NFS clients
// (NFSv4, or NFSv3 where the class's mountOptions ask for it or the server
// offers only that): make a claim's directory, and later remove or archive
// exactly the directory recorded on its volume (by file handle, over the
// version recorded with it), never a parent and never a path that merely has
// the same name now. Failures come back as plain sentences for an event; only
// a connection that cannot be made or breaks is thrown.
import { connectDirClient } from '../nfs/connect.ts';
import {
  type DirClient,
  type FileHandle,
  NFS_STATUS,
  NfsStatusError,
  TreeRefusedError,
  removeTree,
} from '../nfs/dir/index.ts';
import type { NfsMount } from './mount-options.ts';
import type { ClassConfig } from './parameters.ts';
import type { ExportTarget, RecordedDirectory } from './plan.ts';
import { archiveName } from './plan.ts';

export interface ServerOptions {
  /** The servers' NFS port (--nfs-port), unless a class's port= says otherwise. */
  port: number;
  /** The limit on each NFS call. */
  timeoutMs: number;
  /** The portmapper's port, for NFSv3's MOUNT without mountport=; 111 when absent. */
  portmapperPort?: number;
}

export type MakeOutcome =
  { ok: true; handle: FileHandle; version: 3 | 4; adopted?: string } | { ok: false; problem: string };

export type RemoveOutcome =
  /** gone: the directory was not there any more before anything was removed. */
  | { state: 'done'; removed: number; gone: boolean; archivedAs?: string }
  | { state: 'partial'; removed: number }
  /** The record does not match the server: nothing is touched, nothing retried. */
  | { state: 'refused'; problem: string }
  /** The server said no (squash, read-only, ...): retried later, as it may be put right there. */
  | { state: 'failed'; problem: string };

const shown = (path: string): string => JSON.stringify(path.length > 128 ? `${path.slice(0, 128)}…` : path);

/** The sentence for a refusal of the server (either version), with the likely cause of the usual ones. */
export function refusalText(err: NfsStatusError, what: string): string {
  const s = err.status;
  const cause =
    err.op === 'MNT'
      ? ': the server does not let this client mount the export (its client list, or the export path: NFSv3 mounts the path on the server, not an NFSv4 pseudo path)'
      : s === NFS_STATUS.ACCES || s === NFS_STATUS.PERM
        ? ': the export maps root to an unprivileged user (root_squash) or the directory forbids it; ' +
          'export it with no_root_squash, or give the parent directory to the squashed user'
        : s === NFS_STATUS.ROFS
          ? ': the export is read-only'
          : s === NFS_STATUS.NOSPC || s === NFS_STATUS.DQUOT
            ? ': the export is full'
            : s === NFS_STATUS.STALE
              ? ': what the server had under that name changed meanwhile; it is looked up again'
              : '';
  return `the server refused to ${what} (${err.code} in ${err.op})${cause}`;
}

/** A client for the export over the version `mount` asks for (see nfs/connect.ts), on its ports or ours. */
export function connectClient(
  target: { server: string; path: string },
  mount: NfsMount,
  opts: ServerOptions,
): Promise<DirClient> {
  return connectDirClient(
    target,
    {
      version: mount.version,
      port: mount.port ?? opts.port,
      ...(mount.mountPort === undefined ? {} : { mountPort: mount.mountPort }),
      ...(opts.portmapperPort === undefined ? {} : { portmapperPort: opts.portmapperPort }),
    },
    { timeoutMs: opts.timeoutMs },
  );
}

async function withClient<T>(
  target: { server: string; path: string },
  mount: NfsMount,
  opts: ServerOptions,
  work: (client: DirClient) => Promise<T>,
): Promise<T> {
  const client = await connectClient(target, mount, opts);
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

/**
 * Makes the directory (and missing levels above it) with the class's mode and
 * owner. One that exists already is taken over only when the class says
 * adopt, or when it is empty and no volume records it (left by an attempt
 * that ended before its volume was made); otherwise it is refused.
 */
export async function makeDirectory(
  target: ExportTarget,
  components: readonly string[],
  config: Pick<ClassConfig, 'mode' | 'uid' | 'gid' | 'existing' | 'mount'>,
  opts: ServerOptions,
): Promise<MakeOutcome> {
  const path = components.join('/');
  const attrs = { mode: config.mode, uid: config.uid, gid: config.gid };
  try {
    return await withClient(target, config.mount, opts, async (client) => {
      const version = client.version;
      let dir = client.root.fh;
      for (const [i, name] of components.entries()) {
        const made = await client.mkdir(dir, name, attrs);
        if (made !== 'exists') {
          dir = made.fh;
          if (i === components.length - 1) return { ok: true, handle: made.fh, version };
          continue;
        }
        const found = await client.lookup(dir, name);
        const here = components.slice(0, i + 1).join('/');
        if (!found)
          return { ok: false, problem: `${shown(here)} vanished while it was being made; will try again` };
        if (found.attrs.type !== 'dir') {
          return { ok: false, problem: `${shown(here)} exists on the server and is not a directory` };
        }
        if (found.attrs.fsid !== client.root.attrs.fsid) {
          return { ok: false, problem: `${shown(here)} is another file system mounted inside the export` };
        }
        dir = found.fh;
        if (i < components.length - 1) continue;
        if (config.existing === 'adopt') {
          return {
            ok: true,
            handle: found.fh,
            version,
            adopted: 'it existed and the class says existingDirectory: adopt',
          };
        }
        const page = await client.readdir(found.fh, 0n, Buffer.alloc(8), 4096);
        if (page.entries.length === 0) {
          return {
            ok: true,
            handle: found.fh,
            version,
            adopted: 'it existed, empty (left by an earlier attempt)',
          };
        }
        return {
          ok: false,
          problem:
            `directory ${shown(path)} already exists and is not empty; it is not taken over unless the ` +
            'StorageClass says existingDirectory: adopt',
        };
      }
      throw new Error('unreachable: a directory has at least one component');
    });
  } catch (err) {
    if (err instanceof NfsStatusError)
      return { ok: false, problem: refusalText(err, `make directory ${shown(path)}`) };
    throw err;
  }
}

/**
 * Carries out the volume's onDelete on its recorded directory: delete removes
 * it and what lies beneath (resumable: a partial result is called again);
 * archive renames it beside itself; retain leaves it.
 */
export async function reclaimDirectory(
  recorded: RecordedDirectory,
  opts: ServerOptions,
  budget: { maxOps: number; deadline: number },
  now: Date,
): Promise<RemoveOutcome> {
  if (recorded.onDelete === 'retain') return { state: 'done', removed: 0, gone: false };
  const path = recorded.components.join('/');
  const leaf = recorded.components.at(-1) ?? '';
  try {
    // The version recorded, exactly: the handle is one of it.
    const mount: NfsMount = {
      version: recorded.version,
      ...(recorded.port === undefined ? {} : { port: recorded.port }),
      ...(recorded.mountPort === undefined ? {} : { mountPort: recorded.mountPort }),
    };
    const target = { server: recorded.server, path: recorded.exportPath };
    return await withClient(target, mount, opts, async (client) => {
      const parents = recorded.components.slice(0, -1);
      const parent = parents.length === 0 ? client.root.fh : (await client.lookupPath(parents))?.fh;
      if (!parent) return { state: 'done', removed: 0, gone: true };
      const found = await client.lookup(parent, leaf);
      if (!found) return { state: 'done', removed: 0, gone: true };
      if (!found.fh.equals(recorded.handle)) {
        return {
          state: 'refused',
          problem: `${shown(path)} on the server is no longer the directory this volume was given (its file handle differs)`,
        };
      }
      if (recorded.onDelete === 'archive') {
        let name = archiveName(leaf, now);
        for (let n = 2; (await client.lookup(parent, name)) !== undefined; n++) {
          if (n > 9) return { state: 'refused', problem: `no free name to archive ${shown(path)} under` };
          name = `${archiveName(leaf, now)}-${String(n)}`;
        }
        await client.rename(parent, leaf, name);
        return { state: 'done', removed: 0, gone: false, archivedAs: [...parents, name].join('/') };
      }
      const result = await removeTree(client, parent, leaf, recorded.handle, budget);
      return result.done
        ? { state: 'done', removed: result.removed, gone: false }
        : { state: 'partial', removed: result.removed };
    });
  } catch (err) {
    if (err instanceof TreeRefusedError)
      return { state: 'refused', problem: `${shown(path)}: ${err.message}` };
    if (err instanceof NfsStatusError) {
      return { state: 'failed', problem: refusalText(err, `${recorded.onDelete} directory ${shown(path)}`) };
    }
    throw err;
  }
}
