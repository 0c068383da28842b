// A user-space NFSv3 client for directories (RFC 1813): the same DirClient
// as the NFSv4 one, for servers that offer only v3. The export's root handle
// comes from MOUNT v3 (MNT), on a port the caller gives or the portmapper
// names; UMNT tells MOUNT when the client is done. Calls go one at a time
// over one NFS connection; a call that fails at the RPC level (timeout, a
// hostile or garbled reply, abort) closes that connection for good. v3 has
// no COMPOUND, so what v4 does in one call may take several here.
import {
  type Attrs,
  type ClientOptions,
  type CreateAttrs,
  type DirClient,
  type FileHandle,
  type Found,
  type ReaddirEntry,
  type ReaddirPage,
  type Space,
  authSys,
  checkComponents,
  checkCookie,
  checkFh as checkHandle,
  checkListBytes,
  checkOptions,
  checkPort,
  checkServer,
  exportComponents,
  safeBytes,
} from '../dir/client.ts';
import { NFS_STATUS, NfsRpcError } from '../dir/errors.ts';
import { type Name, checkName, shown } from '../dir/names.ts';
import { type ConnectionOptions, RpcConnection } from '../rpc-connection.ts';
import {
  AUTH_NONE,
  AUTH_SYS,
  IPPROTO_TCP,
  PMAPPROC_GETPORT,
  PROGRAM,
  RpcDecodeError,
  decodeGetportResult,
  encodeGetportArgs,
} from '../rpc.ts';
import {
  MOUNT3_VERSION,
  MOUNTPROC3_MNT,
  MOUNTPROC3_UMNT,
  NFS3_FHSIZE,
  NFS3_OK,
  NFS3_VERSION,
  NFSPROC3,
  PMAP_VERSION,
  type Proc3,
  mountstat3Name,
} from './constants.ts';
import { Nfs3Error } from './errors.ts';
import {
  type Fattr3,
  type Sattr3,
  attrType,
  decodeFsstat,
  decodeGetattr,
  decodeLookup,
  decodeMkdir,
  decodeMnt,
  decodeReaddirplus,
  decodeRemove,
  decodeRename,
  decodeSetattr,
  encodeDirop,
  encodeDirpath,
  encodeGetattr,
  encodeMkdir,
  encodeReaddirplus,
  encodeRename,
  encodeSetattr,
} from './xdr.ts';

export { Nfs3Error } from './errors.ts';

export interface Nfs3Target {
  server: string;
  /** The NFS port. */
  port: number;
  /** Absolute export path, as MOUNT knows it (e.g. /export). */
  exportPath: string;
  /** MOUNT v3's port; asked of the portmapper when absent. */
  mountPort?: number;
  /** The portmapper's port; 111 when absent. */
  portmapperPort?: number;
}

export type Nfs3Options = ClientOptions;

/** Room a reply needs beside READDIRPLUS's entries (RPC header, status, directory attributes, verifier). */
const REPLY_OVERHEAD = 512;
/**
 * Pages read at most to find one entry besides "." and "..": v3 servers list
 * those two first, possibly alone on the first page.
 */
const MAX_DOT_PAGES = 3;

const checkFh = (fh: FileHandle, what?: string) => checkHandle(fh, NFS3_FHSIZE, what);

/** The Attrs a DirClient gives, from a fattr3. */
export function toAttrs(a: Fattr3): Attrs {
  // mode3 defines only the low 12 bits (RFC 1813 §2.6).
  return {
    type: attrType(a.type),
    fileid: a.fileid,
    fsid: String(a.fsid),
    mode: a.mode & 0o7777,
    uid: a.uid,
    gid: a.gid,
  };
}

function why(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The MOUNT port the portmapper has registered for MOUNT v3 over TCP. */
export async function mountPortOf(
  host: string,
  portmapperPort: number,
  options: Pick<ConnectionOptions, 'timeoutMs' | 'signal'>,
): Promise<number> {
  const conn = await RpcConnection.open(host, portmapperPort, {
    ...options,
    maxReplyBytes: 4096,
    service: 'portmapper',
  });
  try {
    const results = await conn.call({
      prog: PROGRAM.portmapper,
      vers: PMAP_VERSION,
      proc: PMAPPROC_GETPORT,
      args: encodeGetportArgs({ prog: PROGRAM.mount, vers: MOUNT3_VERSION, prot: IPPROTO_TCP }),
      what: 'portmapper GETPORT',
    });
    let port;
    try {
      port = decodeGetportResult(results);
    } catch (err) {
      throw new NfsRpcError(`${conn.label} sent a bad GETPORT reply: ${why(err)}`);
    }
    if (port === 0) {
      throw new NfsRpcError(
        `MOUNT v3 over TCP is not registered with the ${conn.label}; give the class mountport= in its mountOptions`,
      );
    }
    return port;
  } finally {
    conn.close();
  }
}

export class Nfs3Client implements DirClient {
  readonly version = 3;
  readonly root: Found;
  private readonly conn: RpcConnection;
  private readonly mount: RpcConnection;
  private readonly exportPath: string;
  private readonly maxReplyBytes: number;

  private constructor(
    conn: RpcConnection,
    mount: RpcConnection,
    exportPath: string,
    root: Found,
    maxReplyBytes: number,
  ) {
    this.conn = conn;
    this.mount = mount;
    this.exportPath = exportPath;
    this.root = root;
    this.maxReplyBytes = maxReplyBytes;
  }

  /**
   * Mounts the export (MNT, on mountPort or the one the portmapper names)
   * and reads its root's attributes over NFSv3. The MOUNT connection stays
   * open for UMNT at close.
   */
  static async connect(target: Nfs3Target, options: Nfs3Options): Promise<Nfs3Client> {
    const { timeoutMs, uid, gid, maxReplyBytes } = checkOptions(options);
    checkPort(target.port);
    if (target.mountPort !== undefined) checkPort(target.mountPort, 'mountPort');
    const portmapperPort = checkPort(target.portmapperPort ?? 111, 'portmapperPort');
    const host = checkServer(target.server);
    exportComponents(target.exportPath);
    const exportPath = target.exportPath;
    const { signal } = options;
    const auth = authSys(uid, gid);
    const mountPort = target.mountPort ?? (await mountPortOf(host, portmapperPort, { timeoutMs, signal }));
    const mount = await RpcConnection.open(host, mountPort, {
      timeoutMs,
      maxReplyBytes: 64 * 1024,
      auth,
      signal,
      service: 'MOUNT server',
    });
    let conn: RpcConnection | undefined;
    let mounted = false;
    try {
      const results = await mount.call({
        prog: PROGRAM.mount,
        vers: MOUNT3_VERSION,
        proc: MOUNTPROC3_MNT,
        args: encodeDirpath(exportPath),
        what: 'MOUNT MNT',
      });
      let res;
      try {
        res = decodeMnt(results);
      } catch (err) {
        throw new NfsRpcError(`${mount.label} sent an undecodable MNT reply: ${why(err)}; connection closed`);
      }
      if (res.status !== NFS3_OK || !('fh' in res)) {
        throw new Nfs3Error(res.status, 'MNT', `of export ${exportPath}`, mountstat3Name(res.status));
      }
      mounted = true;
      // An empty list is what servers from before RFC 2623 send: AUTH_SYS is then assumed.
      if (res.flavors.length > 0 && !res.flavors.some((f) => f === AUTH_SYS || f === AUTH_NONE)) {
        throw new NfsRpcError(
          `${mount.label} lets export ${exportPath} be used only with auth flavors ${res.flavors.slice(0, 8).join(', ')}, ` +
            'not AUTH_SYS (1) or AUTH_NONE (0), the ones this client speaks',
        );
      }
      conn = await RpcConnection.open(host, target.port, { timeoutMs, maxReplyBytes, auth, signal });
      const attrs = await Nfs3Client.run(conn, 'GETATTR', encodeGetattr(res.fh), decodeGetattr);
      if (attrs.status !== NFS3_OK || !('attrs' in attrs)) {
        throw new Nfs3Error(attrs.status, 'GETATTR', `of export ${exportPath}`);
      }
      const root = { fh: res.fh, attrs: toAttrs(attrs.attrs) };
      if (root.attrs.type !== 'dir') throw new NfsRpcError(`export ${exportPath} is not a directory`);
      return new Nfs3Client(conn, mount, exportPath, root, maxReplyBytes);
    } catch (err) {
      conn?.close();
      if (mounted) await Nfs3Client.unmount(mount, exportPath);
      mount.close();
      throw err;
    }
  }

  /**
   * Tells MOUNT the export is no longer used (UMNT). Best effort: the
   * server's mount list is advisory (RFC 1813 Appendix I), so a failure or a
   * timeout is ignored; this never rejects.
   */
  private static async unmount(mount: RpcConnection, exportPath: string): Promise<void> {
    if (mount.closedBy) return;
    try {
      await mount.call({
        prog: PROGRAM.mount,
        vers: MOUNT3_VERSION,
        proc: MOUNTPROC3_UMNT,
        args: encodeDirpath(exportPath),
        what: 'MOUNT UMNT',
      });
    } catch {
      // Best effort, see above.
    }
  }

  /** One NFSv3 call: its decoded result; a reply that cannot be decoded closes the connection. */
  private static async run<T>(
    conn: RpcConnection,
    proc: Proc3,
    args: Buffer,
    decode: (results: Buffer) => T,
  ): Promise<T> {
    const results = await conn.call({
      prog: PROGRAM.nfs,
      vers: NFS3_VERSION,
      proc: NFSPROC3[proc],
      args,
      what: `NFSv3 ${proc}`,
    });
    try {
      return decode(results);
    } catch (err) {
      if (!(err instanceof RpcDecodeError)) throw err;
      const failure = new NfsRpcError(
        `${conn.label} sent an undecodable NFSv3 ${proc} reply: ${err.message}; connection closed`,
      );
      conn.fail(failure);
      throw failure;
    }
  }

  private call<T>(proc: Proc3, args: Buffer, decode: (results: Buffer) => T): Promise<T> {
    return Nfs3Client.run(this.conn, proc, args, decode);
  }

  private async getattr(fh: FileHandle, context: string): Promise<Attrs> {
    const res = await this.call('GETATTR', encodeGetattr(fh), decodeGetattr);
    if (res.status !== NFS3_OK || !('attrs' in res)) throw new Nfs3Error(res.status, 'GETATTR', context);
    return toAttrs(res.attrs);
  }

  /** The entry `name` of `dir`, or undefined when there is none. LOOKUP does not follow symlinks. */
  async lookup(dir: FileHandle, name: Name): Promise<Found | undefined> {
    checkFh(dir, 'dir');
    checkName(name);
    const res = await this.call('LOOKUP', encodeDirop(dir, name), decodeLookup);
    if (res.status === NFS_STATUS.NOENT) return undefined;
    const context = `of ${shown(name)}`;
    if (res.status !== NFS3_OK || !('fh' in res)) throw new Nfs3Error(res.status, 'LOOKUP', context);
    // Attributes are optional in the reply (post_op_attr): ask for them when missing.
    return { fh: res.fh, attrs: res.attrs ? toAttrs(res.attrs) : await this.getattr(res.fh, context) };
  }

  /**
   * Looks each component up from the export root, one LOOKUP each (v3 has
   * no COMPOUND); undefined if any is absent. One in the middle that is not
   * a directory fails with Nfs3Error NFS3ERR_NOTDIR, a symlink included: it
   * is not followed.
   */
  async lookupPath(
    components: readonly string[],
  ): Promise<{ parent: FileHandle; fh: FileHandle; attrs: Attrs } | undefined> {
    checkComponents(components);
    let parent = this.root.fh;
    let here: Found = this.root;
    for (const [i, name] of components.entries()) {
      if (here.attrs.type !== 'dir') {
        const path = components.slice(0, i).join('/');
        throw new Nfs3Error(
          NFS_STATUS.NOTDIR,
          'LOOKUP',
          `of ${components.join('/')}: ${JSON.stringify(path)} is a ${here.attrs.type}`,
        );
      }
      const found = await this.lookup(here.fh, name);
      if (!found) return undefined;
      parent = here.fh;
      here = found;
    }
    return { parent, fh: here.fh, attrs: here.attrs };
  }

  /**
   * Creates directory `name` in `dir` with mode, uid and gid (sattr3);
   * 'exists' when something has that name. A server creating it with another
   * mode or owner than asked (mkdir(2) drops setgid, a umask) gets them set
   * again with SETATTR; if that fails the directory stays, and the error
   * names SETATTR. The attributes returned are the server's.
   */
  async mkdir(dir: FileHandle, name: string, attrs: CreateAttrs): Promise<Found | 'exists'> {
    checkFh(dir, 'dir');
    checkName(name);
    const wanted: Sattr3 = { mode: attrs.mode, uid: attrs.uid, gid: attrs.gid };
    const context = `to create directory ${JSON.stringify(name)}`;
    const res = await this.call('MKDIR', encodeMkdir(dir, name, wanted), decodeMkdir);
    if (res.status === NFS_STATUS.EXIST) return 'exists';
    if (res.status !== NFS3_OK) throw new Nfs3Error(res.status, 'MKDIR', context);
    // The handle and attributes are optional in the reply (post_op_fh3, post_op_attr).
    let made: Found | undefined;
    if ('fh' in res && res.fh) {
      made = {
        fh: res.fh,
        attrs: res.attrs ? toAttrs(res.attrs) : await this.getattr(res.fh, `of new directory ${name}`),
      };
    } else {
      made = await this.lookup(dir, name);
      if (!made) throw new Nfs3Error(NFS_STATUS.NOENT, 'LOOKUP', `of new directory ${JSON.stringify(name)}`);
    }
    const fix: Sattr3 = {};
    if (made.attrs.mode !== attrs.mode) fix.mode = attrs.mode;
    if (attrs.uid !== undefined && made.attrs.uid !== attrs.uid) fix.uid = attrs.uid;
    if (attrs.gid !== undefined && made.attrs.gid !== attrs.gid) fix.gid = attrs.gid;
    if (Object.keys(fix).length === 0) return made;
    const set = await this.call('SETATTR', encodeSetattr(made.fh, fix), decodeSetattr);
    const fixing = `to set the ${Object.keys(fix).join(', ')} of new directory ${JSON.stringify(name)}`;
    if (set.status !== NFS3_OK) throw new Nfs3Error(set.status, 'SETATTR', fixing);
    return { fh: made.fh, attrs: set.attrs ? toAttrs(set.attrs) : await this.getattr(made.fh, fixing) };
  }

  /**
   * One page of `dir`'s entries from `cookie` (0 and ZERO_VERIFIER to start;
   * then the last entry's cookie and the verifier returned), with READDIRPLUS.
   * "." and ".." are left out. An entry the server sent without attributes,
   * or a directory without its handle, is looked up (one LOOKUP each); one
   * gone meanwhile is left out. maxBytes bounds each reply.
   */
  async readdir(dir: FileHandle, cookie: bigint, verifier: Buffer, maxBytes: number): Promise<ReaddirPage> {
    checkFh(dir, 'dir');
    checkCookie(cookie, verifier);
    checkListBytes(maxBytes, this.maxReplyBytes - REPLY_OVERHEAD);
    let from = cookie;
    let verf = verifier;
    for (let page = 1; ; page++) {
      const args = encodeReaddirplus(dir, from, verf, maxBytes, maxBytes);
      const res = await this.call('READDIRPLUS', args, decodeReaddirplus);
      if (res.status !== NFS3_OK || !('entries' in res))
        throw new Nfs3Error(res.status, 'READDIRPLUS', 'to list a directory');
      const entries: ReaddirEntry[] = [];
      for (const e of res.entries) {
        if (e.name === '.' || e.name === '..') continue;
        if (e.attrs && (e.fh || attrType(e.attrs.type) !== 'dir')) {
          entries.push({
            name: e.name,
            ...(e.raw ? { raw: e.raw } : {}),
            cookie: e.cookie,
            attrs: toAttrs(e.attrs),
            ...(e.fh ? { fh: e.fh } : {}),
          });
          continue;
        }
        const found = await this.lookup(dir, e.raw ?? e.name);
        if (found) {
          entries.push({
            name: e.name,
            ...(e.raw ? { raw: e.raw } : {}),
            cookie: e.cookie,
            attrs: found.attrs,
            fh: found.fh,
          });
        }
      }
      const last = res.entries.at(-1);
      // A page of only "." and "..": the next one from the last cookie, a few times at most.
      if (entries.length > 0 || res.eof || last === undefined || page >= MAX_DOT_PAGES) {
        if (entries.length === 0 && !res.eof) {
          throw new NfsRpcError(
            `${this.conn.label} listed ${String(page)} pages of no entry but "." and ".." without saying it was the end`,
          );
        }
        return { entries, eof: res.eof, verifier: res.verifier };
      }
      from = last.cookie;
      verf = res.verifier;
    }
  }

  /**
   * Removes entry `name` of `dir`: a file or symlink with REMOVE, an empty
   * directory with RMDIR ('dir' as type picks RMDIR first). When the type is
   * not known, or was wrong (the entry changed meanwhile), the other
   * procedure follows the server's ISDIR or NOTDIR. 'absent' when there is
   * none.
   */
  async remove(dir: FileHandle, name: Name, type?: Attrs['type']): Promise<'removed' | 'absent'> {
    checkFh(dir, 'dir');
    checkName(name);
    const order: ('REMOVE' | 'RMDIR')[] = type === 'dir' ? ['RMDIR', 'REMOVE'] : ['REMOVE', 'RMDIR'];
    for (const [i, proc] of order.entries()) {
      const res = await this.call(proc, encodeDirop(dir, name), (b) => decodeRemove(b, proc));
      if (res.status === NFS3_OK) return 'removed';
      if (res.status === NFS_STATUS.NOENT) return 'absent';
      const wrongKind =
        (proc === 'REMOVE' && res.status === NFS_STATUS.ISDIR) ||
        (proc === 'RMDIR' && res.status === NFS_STATUS.NOTDIR);
      if (i > 0 || !wrongKind) throw new Nfs3Error(res.status, proc, `to remove ${shown(name)}`);
    }
    throw new Error('unreachable: REMOVE or RMDIR answered');
  }

  /**
   * Renames `from` to `to` within `dir`. Beware: as in POSIX rename(2), an
   * existing `to` is replaced when it is a file and `from` is one, or when it
   * is an EMPTY directory and `from` is a directory; callers that must not
   * replace anything check that `to` is absent first.
   */
  async rename(dir: FileHandle, from: string, to: string): Promise<void> {
    checkFh(dir, 'dir');
    checkName(from, 'from');
    checkName(to, 'to');
    const res = await this.call('RENAME', encodeRename(dir, from, dir, to), decodeRename);
    if (res.status !== NFS3_OK) {
      throw new Nfs3Error(res.status, 'RENAME', `to rename ${JSON.stringify(from)} to ${JSON.stringify(to)}`);
    }
  }

  /** The file system's space as the server reports it for fh (the export root by default), with FSSTAT. */
  async space(fh: FileHandle = this.root.fh): Promise<Space> {
    checkFh(fh);
    const res = await this.call('FSSTAT', encodeGetattr(fh), decodeFsstat);
    if (res.status !== NFS3_OK || !('tbytes' in res))
      throw new Nfs3Error(res.status, 'FSSTAT', 'to report space');
    return {
      totalBytes: safeBytes(res.tbytes),
      freeBytes: safeBytes(res.fbytes),
      availBytes: safeBytes(res.abytes),
    };
  }

  /** Bytes read from the NFS server, and the most held for one reply at once (at most maxReplyBytes + 3). */
  get stats(): { bytesReceived: number; peakBufferedBytes: number } {
    return this.conn.stats;
  }

  /** Why the NFS connection is closed, once it is: every later call rejects with this. */
  get closedBy(): Error | undefined {
    return this.conn.closedBy;
  }

  /** Closes the NFS connection at once, then UMNTs (best effort, never rejecting) and closes MOUNT's. */
  async close(): Promise<void> {
    this.conn.close();
    try {
      await Nfs3Client.unmount(this.mount, this.exportPath);
    } finally {
      this.mount.close();
    }
  }
}
