// A user-space NFSv4.0 client for directories: enough to create, list,
// rename and remove entries of an export without mounting it. Stateless
// operations only (no OPEN, so no SETCLIENTID). Calls go one at a time over
// one connection; a call that fails at the RPC level (timeout, a hostile or
// garbled reply, abort) closes the connection for good: connect again.
import { hostname } from 'node:os';

import { DEFAULT_MAX_RECORD_BYTES, RpcDecodeError } from '../rpc.ts';
import {
  type Attrs,
  type CreateAttrs,
  ENTRY_ATTRS,
  OBJECT_ATTRS,
  SPACE_ATTRS,
  type RawAttrs,
  toAttrs,
} from './attrs.ts';
import { type Op, type OpResult, decodeCompound, encodeCompound } from './compound.ts';
import { NFS4_FHSIZE, NFS4_OK, type OpName, VERIFIER_BYTES } from './constants.ts';
import { Nfs4Connection } from './connection.ts';
import { Nfs4Error, Nfs4RpcError } from './errors.ts';
import { checkName, shown } from './names.ts';

export type { Attrs } from './attrs.ts';
export { Nfs4Error, Nfs4RpcError } from './errors.ts';

export interface Nfs4Target {
  server: string;
  port: number;
  /** Absolute export path, e.g. /export. */
  exportPath: string;
}

export interface Nfs4Options {
  /** Each call; a call past it closes the connection and rejects. */
  timeoutMs: number;
  /** AUTH_SYS identity; 0/0 by default. */
  uid?: number;
  gid?: number;
  /** Bound per reply; 1 MiB by default. */
  maxReplyBytes?: number;
  /** Aborting closes the socket and rejects pending calls. */
  signal?: AbortSignal;
}

/** At most NFS4_FHSIZE (128) bytes; a longer one from a server is refused. */
export type FileHandle = Buffer;

export interface Found {
  fh: FileHandle;
  attrs: Attrs;
}

export interface ReaddirEntry {
  name: string;
  cookie: bigint;
  attrs: Attrs;
  fh?: FileHandle;
}

export interface ReaddirPage {
  entries: ReaddirEntry[];
  eof: boolean;
  verifier: Buffer;
}

/** Path components lookupPath accepts at most (one COMPOUND carries them all). */
export const MAX_PATH_COMPONENTS = 64;
/** Smallest READDIR reply asked for: room for a few entries with attributes. */
export const MIN_READDIR_BYTES = 1024;
/** Room a reply needs beside READDIR's own bytes (RPC header, compound, PUTFH). */
const REPLY_OVERHEAD = 512;
const MAX_TIMEOUT_MS = 24 * 3600 * 1000;
/** READDIR's 8 zero bytes that start a listing. */
export const ZERO_VERIFIER: Buffer = Buffer.alloc(VERIFIER_BYTES);

function checkOptions(options: Nfs4Options): Required<Omit<Nfs4Options, 'signal'>> {
  const { timeoutMs, uid = 0, gid = 0, maxReplyBytes = DEFAULT_MAX_RECORD_BYTES } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(
      `timeoutMs must be a positive number of at most ${String(MAX_TIMEOUT_MS)}, not ${String(timeoutMs)}`,
    );
  }
  for (const [name, v] of [
    ['uid', uid],
    ['gid', gid],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
      throw new RangeError(`${name} must be an integer from 0 to 4294967295, not ${String(v)}`);
  }
  if (!Number.isInteger(maxReplyBytes) || maxReplyBytes < 4096 || maxReplyBytes > 64 * 1024 * 1024) {
    throw new RangeError(
      `maxReplyBytes must be an integer from 4096 to 64 MiB, not ${String(maxReplyBytes)}`,
    );
  }
  return { timeoutMs, uid, gid, maxReplyBytes };
}

/** The export path's components: absolute, each one a valid name. */
export function exportComponents(exportPath: string): string[] {
  if (typeof exportPath !== 'string' || !exportPath.startsWith('/')) {
    throw new RangeError(`exportPath must be an absolute path, not ${shown(exportPath)}`);
  }
  const parts = exportPath.split('/').filter((p) => p !== '');
  if (parts.length > MAX_PATH_COMPONENTS)
    throw new RangeError(`exportPath has more than ${String(MAX_PATH_COMPONENTS)} components`);
  for (const p of parts) checkName(p, 'exportPath component');
  return parts;
}

function checkFh(fh: FileHandle, what = 'file handle'): FileHandle {
  if (!Buffer.isBuffer(fh) || fh.length === 0 || fh.length > NFS4_FHSIZE) {
    throw new RangeError(`${what} must be a Buffer of 1 to ${String(NFS4_FHSIZE)} bytes`);
  }
  return fh;
}

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

/**
 * A uint64 from the server as a number, capped at 2^53-1 bytes (8 PiB): what
 * a hostile 2^64-1 becomes must stay exact and fit the status's int64 fields.
 */
export function safeBytes(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

export class Nfs4Client {
  readonly root: Found;
  private readonly conn: Nfs4Connection;
  private readonly maxReplyBytes: number;

  private constructor(conn: Nfs4Connection, root: Found, maxReplyBytes: number) {
    this.conn = conn;
    this.root = root;
    this.maxReplyBytes = maxReplyBytes;
  }

  /** Connects and resolves the export root (PUTROOTFH, then LOOKUP per component of exportPath). */
  static async connect(target: Nfs4Target, options: Nfs4Options): Promise<Nfs4Client> {
    const { timeoutMs, uid, gid, maxReplyBytes } = checkOptions(options);
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      throw new RangeError(`port must be 1 to 65535, not ${String(target.port)}`);
    }
    if (typeof target.server !== 'string' || target.server === '' || target.server.length > 253) {
      throw new RangeError('server must be a host name or address of 1 to 253 characters');
    }
    const components = exportComponents(target.exportPath);
    const host = target.server.replace(/^\[(.*)\]$/, '$1');
    // The machine name in ASCII, so it stays within AUTH_SYS's 255 bytes.
    const machineName = hostname()
      .replace(/[^\x21-\x7e]/gu, '?')
      .slice(0, 64);
    const auth = { stamp: Math.floor(Date.now() / 1000) >>> 0, machineName, uid, gid };
    const conn = await Nfs4Connection.open(host, target.port, {
      timeoutMs,
      maxReplyBytes,
      auth,
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
  private static async run(
    conn: Nfs4Connection,
    ops: Op[],
    context: string,
    allow?: Allow,
  ): Promise<Results> {
    const bytes = await conn.compound(encodeCompound(ops));
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
  async lookup(dir: FileHandle, name: string): Promise<Found | undefined> {
    checkFh(dir, 'dir');
    checkName(name);
    const res = await this.call(
      [
        { op: 'PUTFH', fh: dir },
        { op: 'LOOKUP', name },
        { op: 'GETFH' },
        { op: 'GETATTR', attrs: OBJECT_ATTRS },
      ],
      `of ${JSON.stringify(name)}`,
      { op: 'LOOKUP', statuses: [NOENT] },
    );
    if (lastStatus(res) === NOENT) return undefined;
    return { fh: fhOf(res[2]), attrs: this.attrs(rawOf(res[3]), `attributes of ${name}`) };
  }

  /**
   * Looks each component up from the export root, in one COMPOUND; undefined
   * if any is absent. One in the middle that is not a directory fails with
   * Nfs4Error NFS4ERR_NOTDIR (NFS4ERR_SYMLINK when it is a symlink).
   */
  async lookupPath(
    components: readonly string[],
  ): Promise<{ parent: FileHandle; fh: FileHandle; attrs: Attrs } | undefined> {
    if (components.length === 0 || components.length > MAX_PATH_COMPONENTS) {
      throw new RangeError(
        `a path has 1 to ${String(MAX_PATH_COMPONENTS)} components, not ${String(components.length)}`,
      );
    }
    components.forEach((c, i) => checkName(c, `component ${String(i + 1)}`));
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
    if (typeof cookie !== 'bigint' || cookie < 0n || cookie > 0xffff_ffff_ffff_ffffn)
      throw new RangeError('cookie must be a uint64 bigint');
    if (!Buffer.isBuffer(verifier) || verifier.length !== VERIFIER_BYTES)
      throw new RangeError('verifier must be 8 bytes');
    const most = this.maxReplyBytes - REPLY_OVERHEAD;
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_READDIR_BYTES || maxBytes > most) {
      throw new RangeError(
        `maxBytes must be an integer from ${String(MIN_READDIR_BYTES)} to ${String(most)}, not ${String(maxBytes)}`,
      );
    }
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
        cookie: e.cookie,
        attrs: this.attrs(e.attrs, `attributes of ${e.name}`),
      };
      if (e.attrs.filehandle !== undefined) entry.fh = e.attrs.filehandle;
      return entry;
    });
    return { entries, eof: page.eof, verifier: page.verifier };
  }

  /** Removes entry `name` of `dir` (a file, a symlink, or an empty directory); 'absent' when there is none. */
  async remove(dir: FileHandle, name: string): Promise<'removed' | 'absent'> {
    checkFh(dir, 'dir');
    checkName(name);
    const res = await this.call(
      [
        { op: 'PUTFH', fh: dir },
        { op: 'REMOVE', name },
      ],
      `to remove ${JSON.stringify(name)}`,
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
  async space(
    fh: FileHandle = this.root.fh,
  ): Promise<{ totalBytes: number; freeBytes: number; availBytes: number }> {
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
