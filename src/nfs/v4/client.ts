// A user-space NFSv4.0 client for directories: enough to create, list,
// rename and remove entries of an export without mounting it. Stateless
// operations only (no OPEN, so no SETCLIENTID). Calls go one at a time over
// one connection; a call that fails at the RPC level (timeout, a hostile or
// garbled reply, abort) closes the connection for good: connect again.
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
import { type Name, checkName, shown } from '../dir/names.ts';
import { RpcConnection } from '../rpc-connection.ts';
import { PROGRAM, RpcDecodeError } from '../rpc.ts';
import { ENTRY_ATTRS, OBJECT_ATTRS, SPACE_ATTRS, type RawAttrs, toAttrs } from './attrs.ts';
import { type Op, type OpResult, decodeCompound, encodeCompound } from './compound.ts';
import { NFS4_FHSIZE, NFS4_OK, NFS4_VERSION, NFSPROC4_COMPOUND, type OpName } from './constants.ts';
import { Nfs4Error, Nfs4RpcError } from './errors.ts';

export type { Attrs, FileHandle, Found, ReaddirEntry, ReaddirPage } from '../dir/client.ts';
export { MAX_PATH_COMPONENTS, ZERO_VERIFIER, exportComponents, safeBytes } from '../dir/client.ts';
export { Nfs4Error, Nfs4RpcError } from './errors.ts';

export interface Nfs4Target {
  server: string;
  port: number;
  /** Absolute export path, e.g. /export. */
  exportPath: string;
}

export type Nfs4Options = ClientOptions;

/** Room a reply needs beside READDIR's own bytes (RPC header, compound, PUTFH). */
const REPLY_OVERHEAD = 512;

const checkFh = (fh: FileHandle, what?: string) => checkHandle(fh, NFS4_FHSIZE, what);

type Results = OpResult[];
/** A failure of this operation with one of these statuses is an answer, not an error. */
interface Allow {
  op: OpName;
  statuses: readonly number[];
}
const NOENT = 2;
const EXIST = 17;

/** The status of the last result: NFS4_OK when all succeeded. */
function lastStatus(res: Results): number {
  return res.at(-1)?.status ?? NFS4_OK;
}

function fhOf(r: OpResult | undefined): FileHandle {
  if (r?.fh === undefined) throw new RpcDecodeError('expected a GETFH result');
  return r.fh;
}

function rawOf(r: OpResult | undefined): RawAttrs {
  if (r?.attrs === undefined) throw new RpcDecodeError('expected a GETATTR result');
  return r.attrs;
}

export class Nfs4Client implements DirClient {
  readonly version = 4;
  readonly root: Found;
  private readonly conn: RpcConnection;
  private readonly maxReplyBytes: number;

  private constructor(conn: RpcConnection, root: Found, maxReplyBytes: number) {
    this.conn = conn;
    this.root = root;
    this.maxReplyBytes = maxReplyBytes;
  }

  /** Connects and resolves the export root (PUTROOTFH, then LOOKUP per component of exportPath). */
  static async connect(target: Nfs4Target, options: Nfs4Options): Promise<Nfs4Client> {
    const { timeoutMs, uid, gid, maxReplyBytes } = checkOptions(options);
    checkPort(target.port);
    const host = checkServer(target.server);
    const components = exportComponents(target.exportPath);
    const conn = await RpcConnection.open(host, target.port, {
      timeoutMs,
      maxReplyBytes,
      auth: authSys(uid, gid),
      signal: options.signal,
    });
    try {
      const ops: Op[] = [{ op: 'PUTROOTFH' }, ...components.map((name): Op => ({ op: 'LOOKUP', name }))];
      ops.push({ op: 'GETFH' }, { op: 'GETATTR', attrs: OBJECT_ATTRS });
      const res = await Nfs4Client.run(conn, ops, `of export ${target.exportPath}`);
      const root = { fh: fhOf(res.at(-2)), attrs: toAttrs(rawOf(res.at(-1)), 'export root attributes') };
      if (root.attrs.type !== 'dir') throw new Nfs4RpcError(`export ${target.exportPath} is not a directory`);
      return new Nfs4Client(conn, root, maxReplyBytes);
    } catch (err) {
      conn.close();
      if (err instanceof RpcDecodeError) {
        throw new Nfs4RpcError(`${conn.label} sent unusable export root attributes: ${err.message}`);
      }
      throw err;
    }
  }

  /**
   * Sends a COMPOUND and returns its results when every operation succeeded;
   * else an Nfs4Error naming the failed operation. A reply that cannot be
   * decoded closes the connection.
   */
  private static async run(conn: RpcConnection, ops: Op[], context: string, allow?: Allow): Promise<Results> {
    const bytes = await conn.call({
      prog: PROGRAM.nfs,
      vers: NFS4_VERSION,
      proc: NFSPROC4_COMPOUND,
      args: encodeCompound(ops),
      what: 'NFSv4',
    });
    let reply;
    try {
      reply = decodeCompound(bytes, ops);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const failure = new Nfs4RpcError(
        `${conn.label} sent an undecodable NFSv4 reply: ${why}; connection closed`,
      );
      conn.fail(failure);
      throw failure;
    }
    if (reply.status !== NFS4_OK) {
      const last = reply.results.at(-1);
      if (allow && last?.op === allow.op && allow.statuses.includes(reply.status)) return reply.results;
      throw new Nfs4Error(reply.status, last?.op ?? 'COMPOUND', context);
    }
    return reply.results;
  }

  private call(ops: Op[], context: string, allow?: Allow): Promise<Results> {
    return Nfs4Client.run(this.conn, ops, context, allow);
  }

  /** Guards decoding of attributes: a bad one closes the connection like any undecodable reply. */
  private attrs(raw: RawAttrs, what: string): Attrs {
    try {
      return toAttrs(raw, what);
    } catch (err) {
      if (!(err instanceof RpcDecodeError)) throw err;
      const failure = new Nfs4RpcError(
        `${this.conn.label} sent unusable attributes: ${err.message}; connection closed`,
      );
      this.conn.fail(failure);
      throw failure;
    }
  }

  /** The entry `name` of `dir`, or undefined when there is none. LOOKUP does not follow symlinks. */
  async lookup(dir: FileHandle, name: Name): Promise<Found | undefined> {
    checkFh(dir, 'dir');
    checkName(name);
    const res = await this.call(
      [
        { op: 'PUTFH', fh: dir },
        { op: 'LOOKUP', name },
        { op: 'GETFH' },
        { op: 'GETATTR', attrs: OBJECT_ATTRS },
      ],
      `of ${shown(name)}`,
      { op: 'LOOKUP', statuses: [NOENT] },
    );
    if (lastStatus(res) === NOENT) return undefined;
    return { fh: fhOf(res[2]), attrs: this.attrs(rawOf(res[3]), `attributes of ${shown(name)}`) };
  }

  /**
   * Looks each component up from the export root, in one COMPOUND; undefined
   * if any is absent. One in the middle that is not a directory fails with
   * Nfs4Error NFS4ERR_NOTDIR (NFS4ERR_SYMLINK when it is a symlink).
   */
  async lookupPath(
    components: readonly string[],
  ): Promise<{ parent: FileHandle; fh: FileHandle; attrs: Attrs } | undefined> {
    checkComponents(components);
    const ops: Op[] = [{ op: 'PUTFH', fh: this.root.fh }];
    for (const name of components.slice(0, -1)) ops.push({ op: 'LOOKUP', name });
    ops.push({ op: 'GETFH' }, { op: 'LOOKUP', name: components.at(-1) as string }, { op: 'GETFH' });
    ops.push({ op: 'GETATTR', attrs: OBJECT_ATTRS });
    const res = await this.call(ops, `of ${components.join('/')}`, { op: 'LOOKUP', statuses: [NOENT] });
    if (lastStatus(res) === NOENT) return undefined;
    return {
      parent: fhOf(res.at(-4)),
      fh: fhOf(res.at(-2)),
      attrs: this.attrs(rawOf(res.at(-1)), components.join('/')),
    };
  }

  /**
   * Creates directory `name` in `dir` with these attributes; 'exists' when
   * something has that name. A server creating it with another mode than
   * asked (mkdir(2) drops setuid/setgid, some servers apply a umask) gets the
   * mode set again with SETATTR; if that fails the directory stays, and the
   * error names SETATTR. The attributes returned are the server's.
   */
  async mkdir(dir: FileHandle, name: string, attrs: CreateAttrs): Promise<Found | 'exists'> {
    checkFh(dir, 'dir');
    checkName(name);
    const res = await this.call(
      [
        { op: 'PUTFH', fh: dir },
        { op: 'CREATE', name, attrs },
        { op: 'GETFH' },
        { op: 'GETATTR', attrs: OBJECT_ATTRS },
      ],
      `to create directory ${JSON.stringify(name)}`,
      { op: 'CREATE', statuses: [EXIST] },
    );
    if (lastStatus(res) === EXIST) return 'exists';
    const made = { fh: fhOf(res[2]), attrs: this.attrs(rawOf(res[3]), `attributes of ${name}`) };
    if (made.attrs.mode === undefined || made.attrs.mode === attrs.mode) return made;
    const fixed = await this.call(
      [
        { op: 'PUTFH', fh: made.fh },
        { op: 'SETATTR', mode: attrs.mode },
        { op: 'GETATTR', attrs: OBJECT_ATTRS },
      ],
      `to set the mode of new directory ${JSON.stringify(name)}`,
    );
    return { fh: made.fh, attrs: this.attrs(rawOf(fixed[2]), `attributes of ${name}`) };
  }

  /**
   * One page of `dir`'s entries from `cookie` (0 and ZERO_VERIFIER to start;
   * then the last entry's cookie and the verifier returned). maxBytes bounds
   * the reply and must fit within maxReplyBytes.
   */
  async readdir(dir: FileHandle, cookie: bigint, verifier: Buffer, maxBytes: number): Promise<ReaddirPage> {
    checkFh(dir, 'dir');
    checkCookie(cookie, verifier);
    checkListBytes(maxBytes, this.maxReplyBytes - REPLY_OVERHEAD);
    const res = await this.call(
      [
        { op: 'PUTFH', fh: dir },
        { op: 'READDIR', cookie, verifier, dircount: maxBytes, maxcount: maxBytes, attrs: ENTRY_ATTRS },
      ],
      'to list a directory',
    );
    const page = res[1]?.listing;
    if (page === undefined) throw new RpcDecodeError('expected a READDIR result');
    const entries = page.entries.map((e): ReaddirEntry => {
      if (e.attrs.rdattrError !== undefined && e.attrs.rdattrError !== NFS4_OK) {
        throw new Nfs4Error(
          e.attrs.rdattrError,
          'READDIR',
          `to read the attributes of ${JSON.stringify(e.name)}`,
        );
      }
      const entry: ReaddirEntry = {
        name: e.name,
        ...(e.raw ? { raw: e.raw } : {}),
        cookie: e.cookie,
        attrs: this.attrs(e.attrs, `attributes of ${e.name}`),
      };
      if (e.attrs.filehandle !== undefined) entry.fh = e.attrs.filehandle;
      return entry;
    });
    return { entries, eof: page.eof, verifier: page.verifier };
  }

  /** Removes entry `name` of `dir` (a file, a symlink, or an empty directory); 'absent' when there is none. */
  async remove(dir: FileHandle, name: Name): Promise<'removed' | 'absent'> {
    checkFh(dir, 'dir');
    checkName(name);
    const res = await this.call(
      [
        { op: 'PUTFH', fh: dir },
        { op: 'REMOVE', name },
      ],
      `to remove ${shown(name)}`,
      {
        op: 'REMOVE',
        statuses: [NOENT],
      },
    );
    return lastStatus(res) === NOENT ? 'absent' : 'removed';
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
    await this.call(
      [{ op: 'PUTFH', fh: dir }, { op: 'SAVEFH' }, { op: 'RENAME', from, to }],
      `to rename ${JSON.stringify(from)} to ${JSON.stringify(to)}`,
    );
  }

  /** The file system's space as the server reports it for fh (the export root by default). */
  async space(fh: FileHandle = this.root.fh): Promise<Space> {
    checkFh(fh);
    const res = await this.call(
      [
        { op: 'PUTFH', fh },
        { op: 'GETATTR', attrs: SPACE_ATTRS },
      ],
      'to report space',
    );
    const raw = rawOf(res[1]);
    if (raw.spaceTotal === undefined || raw.spaceFree === undefined || raw.spaceAvail === undefined) {
      throw new Nfs4RpcError(`${this.conn.label} did not report space_total, space_free and space_avail`);
    }
    return {
      totalBytes: safeBytes(raw.spaceTotal),
      freeBytes: safeBytes(raw.spaceFree),
      availBytes: safeBytes(raw.spaceAvail),
    };
  }

  /** Bytes read from the server, and the most held for one reply at once (at most maxReplyBytes + 3). */
  get stats(): { bytesReceived: number; peakBufferedBytes: number } {
    return this.conn.stats;
  }

  /** Why the connection is closed, once it is: every later call rejects with this. */
  get closedBy(): Error | undefined {
    return this.conn.closedBy;
  }

  close(): void {
    this.conn.close();
  }
}
