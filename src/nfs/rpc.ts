// ONC RPC over TCP (RFC 5531), as much of it as checking an NFS server needs:
// record marking, calls with AUTH_NONE or AUTH_SYS, replies, and the two
// results the probe reads (portmapper GETPORT, MOUNT v3 EXPORT). Everything
// here is pure: bytes in, values out. Malformed input throws RpcDecodeError
// with what was wrong and where; nothing reads past a buffer or loops on it.

export const RPC_VERSION = 2;

export const MSG_CALL = 0;
export const MSG_REPLY = 1;

export const AUTH_NONE = 0;
export const AUTH_SYS = 1;

/** Program numbers (RFC 1833, RFC 1813, RFC 7530). */
export const PROGRAM = {
  portmapper: 100000,
  nfs: 100003,
  mount: 100005,
} as const;

/** Portmapper v2 procedure GETPORT and the protocol numbers it takes. */
export const PMAPPROC_GETPORT = 3;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** MOUNT v3 procedure EXPORT (RFC 1813 Appendix I). */
export const MOUNTPROC3_EXPORT = 5;
/** MNTPATHLEN and MNTNAMLEN of RFC 1813: the longest dirpath and group name. */
export const MOUNT_MAX_PATH = 1024;
export const MOUNT_MAX_NAME = 255;

/** An opaque_auth body may hold at most 400 bytes (RFC 5531 §8.2). */
export const MAX_AUTH_BYTES = 400;

/** The default bound on one reassembled record. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
/**
 * The default bound on fragments in one record. Servers send a reply as one
 * fragment; the bound only needs room for senders that split large replies.
 */
export const DEFAULT_MAX_FRAGMENTS = 64;

const LAST_FRAGMENT = 0x8000_0000;
const MAX_FRAGMENT = 0x7fff_ffff;

/** Input that is not what the protocol says it should be. */
export class RpcDecodeError extends Error {
  override name = 'RpcDecodeError';
}

/**
 * Record marking that is well formed but breaks a limit no honest sender
 * reaches (empty fragments, too many fragments): a sign of a hostile or broken
 * peer rather than of another protocol on the port.
 */
export class RpcLimitError extends RpcDecodeError {
  override name = 'RpcLimitError';
}

// --- XDR (RFC 4506) ----------------------------------------------------------

const padding = (length: number): number => (4 - (length % 4)) % 4;

/** Appends XDR items; `bytes()` returns them as one buffer. */
export class XdrWriter {
  private readonly parts: Buffer[] = [];

  uint32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new RangeError(`not an XDR unsigned int: ${String(value)}`);
    }
    const b = Buffer.alloc(4);
    b.writeUInt32BE(value);
    this.parts.push(b);
    return this;
  }

  bool(value: boolean): this {
    return this.uint32(value ? 1 : 0);
  }

  /** Variable-length opaque: length, bytes, zero padding to a multiple of 4. */
  opaque(value: Uint8Array): this {
    this.uint32(value.length);
    this.parts.push(Buffer.from(value), Buffer.alloc(padding(value.length)));
    return this;
  }

  /** A string is an opaque of its UTF-8 bytes. */
  string(value: string): this {
    return this.opaque(Buffer.from(value, 'utf8'));
  }

  /** Bytes already in XDR form (procedure arguments), appended as they are. */
  raw(value: Uint8Array): this {
    this.parts.push(Buffer.from(value));
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads XDR items from a buffer, throwing RpcDecodeError instead of reading past it. */
export class XdrReader {
  private readonly buf: Buffer;
  private at = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n) {
      throw new RpcDecodeError(
        `truncated: ${what} needs ${String(n)} bytes at offset ${String(this.at)}, ${String(this.remaining)} left`,
      );
    }
  }

  uint32(what = 'unsigned int'): number {
    this.need(4, what);
    const value = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }

  bool(what = 'bool'): boolean {
    const value = this.uint32(what);
    if (value > 1) throw new RpcDecodeError(`${what} is ${String(value)}, not 0 or 1`);
    return value === 1;
  }

  opaque(max: number, what = 'opaque'): Buffer {
    const length = this.uint32(`${what} length`);
    if (length > max) {
      throw new RpcDecodeError(
        `${what} is ${String(length)} bytes long, more than the ${String(max)} allowed`,
      );
    }
    this.need(length + padding(length), what);
    const value = this.buf.subarray(this.at, this.at + length);
    this.at += length + padding(length);
    return value;
  }

  string(max: number, what = 'string'): string {
    return this.opaque(max, what).toString('utf8');
  }

  /** Everything not read yet. */
  rest(): Buffer {
    const value = this.buf.subarray(this.at);
    this.at = this.buf.length;
    return value;
  }
}

/** An unsigned hyper (RFC 4506 §4.5): two words, high first. */
export function readUint64(r: XdrReader, what: string): bigint {
  const high = r.uint32(`${what} (high word)`);
  const low = r.uint32(`${what} (low word)`);
  return (BigInt(high) << 32n) | BigInt(low);
}

export function writeUint64(w: XdrWriter, value: bigint): XdrWriter {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new RangeError(`not a uint64: ${String(value)}`);
  return w.uint32(Number(value >> 32n)).uint32(Number(value & 0xffff_ffffn));
}

// --- Record marking (RFC 5531 §11) -------------------------------------------

/** Frames one message as a record: one last fragment, or several of at most maxFragment bytes. */
export function encodeRecord(message: Uint8Array, maxFragment = MAX_FRAGMENT): Buffer {
  if (!Number.isInteger(maxFragment) || maxFragment < 1 || maxFragment > MAX_FRAGMENT) {
    throw new RangeError(`fragment size must be 1 to ${String(MAX_FRAGMENT)}, not ${String(maxFragment)}`);
  }
  const parts: Buffer[] = [];
  let at = 0;
  do {
    const length = Math.min(maxFragment, message.length - at);
    const last = at + length === message.length;
    const header = Buffer.alloc(4);
    header.writeUInt32BE((last ? LAST_FRAGMENT : 0) + length);
    parts.push(header, Buffer.from(message.subarray(at, at + length)));
    at += length;
  } while (at < message.length);
  return Buffer.concat(parts);
}

/**
 * Reassembles records from a byte stream that arrives in arbitrary chunks,
 * within hard limits, so that a hostile sender costs bounded memory and work:
 *
 * - a record holds at most maxRecordBytes, refused as soon as a fragment
 *   header announces more (before any of it is buffered);
 * - a record has at most maxFragments fragments;
 * - a zero-length fragment is refused unless it is the last one of a record
 *   that has bytes (an empty non-final fragment carries nothing, and no RPC
 *   message is empty); otherwise a stream of zeros would be all headers.
 *
 * Each byte is copied once into its fragment, and once more into the record
 * only when the record has several fragments; nothing is copied per chunk.
 * What it holds (bufferedBytes) never exceeds maxRecordBytes + 3: the
 * fragments of the current record, the one being received (allocated when its
 * header is complete, at most what the bound leaves) and up to 3 header bytes.
 * After an error it stays failed: push throws that error again.
 */
export class RecordReader {
  readonly maxRecordBytes: number;
  readonly maxFragments: number;
  private readonly header = Buffer.alloc(4);
  private headerHave = 0;
  /** The fragment being received, once its header was read. */
  private body: Buffer | undefined;
  private bodyHave = 0;
  private bodyLast = false;
  /** Complete fragments of the current record. */
  private fragments: Buffer[] = [];
  private recordBytes = 0;
  private copied = 0;
  private failed: RpcDecodeError | undefined;

  constructor(maxRecordBytes = DEFAULT_MAX_RECORD_BYTES, maxFragments = DEFAULT_MAX_FRAGMENTS) {
    for (const [name, value] of [
      ['maxRecordBytes', maxRecordBytes],
      ['maxFragments', maxFragments],
    ] as const) {
      if (!Number.isInteger(value) || value < 1 || value > MAX_FRAGMENT) {
        throw new RangeError(`${name} must be 1 to ${String(MAX_FRAGMENT)}, not ${String(value)}`);
      }
    }
    this.maxRecordBytes = maxRecordBytes;
    this.maxFragments = maxFragments;
  }

  /** True while part of a record has been received and the rest has not. */
  get midRecord(): boolean {
    return this.headerHave > 0 || this.body !== undefined || this.fragments.length > 0;
  }

  /** Bytes held for the record in progress; at most maxRecordBytes + 3. */
  get bufferedBytes(): number {
    return this.headerHave + (this.body?.length ?? 0) + this.recordBytes;
  }

  /** Bytes copied so far, all records together: linear in the bytes pushed, never per chunk. */
  get copiedBytes(): number {
    return this.copied;
  }

  /** The error that ended the stream, if one did. */
  get error(): RpcDecodeError | undefined {
    return this.failed;
  }

  /** Adds bytes from the stream and returns the records they complete, in order. */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failed) throw this.failed;
    const records: Buffer[] = [];
    let at = 0;
    // Each turn takes at least one byte of the chunk, or ends a fragment that
    // has all its bytes (at most one such turn per header), so the loop ends.
    while (at < chunk.length || (this.body !== undefined && this.bodyHave === this.body.length)) {
      if (this.body === undefined) {
        const n = Math.min(4 - this.headerHave, chunk.length - at);
        this.header.set(chunk.subarray(at, at + n), this.headerHave);
        this.headerHave += n;
        this.copied += n;
        at += n;
        if (this.headerHave < 4) break;
        this.headerHave = 0;
        this.startFragment(this.header.readUInt32BE(0));
        continue;
      }
      const n = Math.min(this.body.length - this.bodyHave, chunk.length - at);
      this.body.set(chunk.subarray(at, at + n), this.bodyHave);
      this.bodyHave += n;
      this.copied += n;
      at += n;
      if (this.bodyHave < this.body.length) break;
      const record = this.endFragment();
      if (record) records.push(record);
    }
    return records;
  }

  private fail(message: string, limit = false): never {
    this.failed = limit ? new RpcLimitError(message) : new RpcDecodeError(message);
    this.fragments = [];
    this.body = undefined;
    this.recordBytes = 0;
    throw this.failed;
  }

  private startFragment(header: number): void {
    const last = (header & LAST_FRAGMENT) !== 0;
    const length = header & MAX_FRAGMENT;
    const hex = `0x${header.toString(16).padStart(8, '0')}`;
    if (this.recordBytes + length > this.maxRecordBytes) {
      this.fail(
        `record of more than ${String(this.maxRecordBytes)} bytes (fragment header ${hex} announces ${String(length)})`,
      );
    }
    if (this.fragments.length + 1 > this.maxFragments) {
      this.fail(`record of more than ${String(this.maxFragments)} fragments`, true);
    }
    if (length === 0 && !last) {
      this.fail(`empty fragment that is not the last (fragment header ${hex})`, true);
    }
    if (length === 0 && this.recordBytes === 0) {
      this.fail(`empty record (fragment header ${hex})`, true);
    }
    // Unsafe (pooled for small sizes) is fine: a fragment is only handed on
    // once every byte of it has been written from the stream.
    this.body = Buffer.allocUnsafe(length);
    this.bodyHave = 0;
    this.bodyLast = last;
  }

  /** Files the complete fragment; returns the record when it was the last. */
  private endFragment(): Buffer | undefined {
    const body = this.body as Buffer;
    this.body = undefined;
    if (body.length > 0) this.fragments.push(body);
    this.recordBytes += body.length;
    if (!this.bodyLast) return undefined;
    const parts = this.fragments;
    const record = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, this.recordBytes);
    if (parts.length > 1) this.copied += this.recordBytes;
    this.fragments = [];
    this.recordBytes = 0;
    return record;
  }
}

// --- Calls (RFC 5531 §9) ------------------------------------------------------

/** AUTH_SYS credentials (RFC 5531 Appendix A). */
export interface AuthSys {
  stamp: number;
  machineName: string;
  uid: number;
  gid: number;
  gids?: number[];
}

export interface RpcCall {
  xid: number;
  prog: number;
  vers: number;
  proc: number;
  /** The procedure's arguments, already XDR-encoded; none when absent. */
  args?: Uint8Array;
  /** AUTH_SYS credentials; AUTH_NONE when absent. */
  authSys?: AuthSys;
}

export function encodeAuthSysBody(auth: AuthSys): Buffer {
  const gids = auth.gids ?? [];
  if (gids.length > 16) throw new RangeError(`AUTH_SYS allows 16 extra groups, not ${String(gids.length)}`);
  if (Buffer.byteLength(auth.machineName, 'utf8') > 255) {
    throw new RangeError('AUTH_SYS machine name longer than 255 bytes');
  }
  const w = new XdrWriter().uint32(auth.stamp).string(auth.machineName).uint32(auth.uid).uint32(auth.gid);
  w.uint32(gids.length);
  for (const gid of gids) w.uint32(gid);
  return w.bytes();
}

/** The call message, without record marking. */
export function encodeCall(call: RpcCall): Buffer {
  const w = new XdrWriter()
    .uint32(call.xid)
    .uint32(MSG_CALL)
    .uint32(RPC_VERSION)
    .uint32(call.prog)
    .uint32(call.vers)
    .uint32(call.proc);
  if (call.authSys) w.uint32(AUTH_SYS).opaque(encodeAuthSysBody(call.authSys));
  else w.uint32(AUTH_NONE).opaque(Buffer.alloc(0));
  w.uint32(AUTH_NONE).opaque(Buffer.alloc(0)); // verifier
  if (call.args) w.raw(call.args);
  return w.bytes();
}

// --- Replies (RFC 5531 §9) ----------------------------------------------------

export const ACCEPT_STATS = [
  'SUCCESS',
  'PROG_UNAVAIL',
  'PROG_MISMATCH',
  'PROC_UNAVAIL',
  'GARBAGE_ARGS',
  'SYSTEM_ERR',
] as const;
export type AcceptStat = (typeof ACCEPT_STATS)[number];

export const AUTH_STATS = [
  'AUTH_OK',
  'AUTH_BADCRED',
  'AUTH_REJECTEDCRED',
  'AUTH_BADVERF',
  'AUTH_REJECTEDVERF',
  'AUTH_TOOWEAK',
  'AUTH_INVALIDRESP',
  'AUTH_FAILED',
  'AUTH_KERB_GENERIC',
  'AUTH_TIMEEXPIRE',
  'AUTH_TKT_FILE',
  'AUTH_DECODE',
  'AUTH_NET_ADDR',
  'RPCSEC_GSS_CREDPROBLEM',
  'RPCSEC_GSS_CTXPROBLEM',
] as const;

export type RpcReply =
  | { xid: number; status: 'accepted'; acceptStat: 'SUCCESS'; results: Buffer }
  | { xid: number; status: 'accepted'; acceptStat: 'PROG_MISMATCH'; low: number; high: number }
  | {
      xid: number;
      status: 'accepted';
      acceptStat: 'PROG_UNAVAIL' | 'PROC_UNAVAIL' | 'GARBAGE_ARGS' | 'SYSTEM_ERR';
    }
  | { xid: number; status: 'denied'; rejectStat: 'RPC_MISMATCH'; low: number; high: number }
  | { xid: number; status: 'denied'; rejectStat: 'AUTH_ERROR'; authStat: string };

/** Decodes one reply message (a reassembled record). Throws RpcDecodeError if it is not one. */
export function decodeReply(message: Buffer): RpcReply {
  const r = new XdrReader(message);
  const xid = r.uint32('xid');
  const type = r.uint32('msg_type');
  if (type !== MSG_REPLY) {
    throw new RpcDecodeError(
      `msg_type is ${String(type)}${type === MSG_CALL ? ' (a call)' : ''}, not ${String(MSG_REPLY)} (a reply)`,
    );
  }
  const replyStat = r.uint32('reply_stat');
  if (replyStat === 0) {
    r.uint32('verifier flavor');
    r.opaque(MAX_AUTH_BYTES, 'verifier body');
    const code = r.uint32('accept_stat');
    const acceptStat = ACCEPT_STATS[code];
    if (acceptStat === undefined) throw new RpcDecodeError(`unknown accept_stat ${String(code)}`);
    if (acceptStat === 'SUCCESS') return { xid, status: 'accepted', acceptStat, results: r.rest() };
    if (acceptStat === 'PROG_MISMATCH') {
      const low = r.uint32('mismatch low');
      const high = r.uint32('mismatch high');
      return { xid, status: 'accepted', acceptStat, low, high };
    }
    return { xid, status: 'accepted', acceptStat };
  }
  if (replyStat === 1) {
    const reject = r.uint32('reject_stat');
    if (reject === 0) {
      const low = r.uint32('mismatch low');
      const high = r.uint32('mismatch high');
      return { xid, status: 'denied', rejectStat: 'RPC_MISMATCH', low, high };
    }
    if (reject === 1) {
      const code = r.uint32('auth_stat');
      return {
        xid,
        status: 'denied',
        rejectStat: 'AUTH_ERROR',
        authStat: AUTH_STATS[code] ?? `auth_stat ${String(code)}`,
      };
    }
    throw new RpcDecodeError(`unknown reject_stat ${String(reject)}`);
  }
  throw new RpcDecodeError(`unknown reply_stat ${String(replyStat)}`);
}

/** A short description of a reply that is not SUCCESS, for messages. */
export function describeReply(reply: RpcReply): string {
  if (reply.status === 'denied') {
    return reply.rejectStat === 'RPC_MISMATCH'
      ? `call denied: RPC version mismatch (server takes ${String(reply.low)} to ${String(reply.high)})`
      : `call denied: ${reply.authStat}`;
  }
  if (reply.acceptStat === 'PROG_MISMATCH') {
    return `PROG_MISMATCH (versions ${String(reply.low)} to ${String(reply.high)})`;
  }
  return reply.acceptStat;
}

// --- Portmapper v2 (RFC 1833 §3) ---------------------------------------------

export function encodeGetportArgs(mapping: { prog: number; vers: number; prot: number }): Buffer {
  return new XdrWriter().uint32(mapping.prog).uint32(mapping.vers).uint32(mapping.prot).uint32(0).bytes();
}

/** GETPORT's result: the port, 0 when the program is not registered. */
export function decodeGetportResult(results: Buffer): number {
  const r = new XdrReader(results);
  const port = r.uint32('port');
  if (port > 65535) throw new RpcDecodeError(`GETPORT answered port ${String(port)}, more than 65535`);
  return port;
}

// --- MOUNT v3 EXPORT (RFC 1813 Appendix I §5.2.5) ----------------------------

export interface ExportEntry {
  dir: string;
  groups: string[];
}

/**
 * EXPORT's result: exports = optional exportnode {dirpath, groups, next},
 * groups = optional groupnode {name, next}. Every node takes at least 8
 * bytes of the buffer, so a list ends with the buffer even if its terminator
 * never comes; a missing terminator is a truncation error.
 */
export function decodeExportList(results: Buffer): ExportEntry[] {
  const r = new XdrReader(results);
  const entries: ExportEntry[] = [];
  while (r.bool(`export entry ${String(entries.length + 1)} present`)) {
    const dir = r.string(MOUNT_MAX_PATH, `dirpath of export entry ${String(entries.length + 1)}`);
    const groups: string[] = [];
    while (r.bool(`group ${String(groups.length + 1)} of ${dir} present`)) {
      groups.push(r.string(MOUNT_MAX_NAME, `group ${String(groups.length + 1)} of ${dir}`));
    }
    entries.push({ dir, groups });
  }
  return entries;
}

/** The EXPORT result for a list of entries (the inverse of decodeExportList). */
export function encodeExportList(entries: readonly ExportEntry[]): Buffer {
  const w = new XdrWriter();
  for (const entry of entries) {
    w.bool(true).string(entry.dir);
    for (const group of entry.groups) w.bool(true).string(group);
    w.bool(false);
  }
  return w.bool(false).bytes();
}
