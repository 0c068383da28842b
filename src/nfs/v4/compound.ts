// COMPOUND (RFC 7530 §15.2, §16): the operations this client sends and the
// results it reads. Pure: bytes in, values out. A reply that does not answer
// the operations sent, in order, or that breaks a bound, throws RpcDecodeError.
import { RpcDecodeError, XdrReader, XdrWriter } from '../rpc.ts';
import {
  type CreateAttrs,
  type RawAttrs,
  readBitmap,
  readFattr,
  readUint64,
  writeBitmap,
  writeCreateAttrs,
  writeModeAttr,
  writeUint64,
} from './attrs.ts';
import {
  NF4DIR,
  NFS4_FHSIZE,
  NFS4_OK,
  OP,
  OP_NAMES,
  type OpName,
  VERIFIER_BYTES,
  statusName,
} from './constants.ts';
import { type Name, checkName, nameBytes, readEntryName } from '../dir/names.ts';

/** The tag is ours to echo back; a server's longer one is not an echo. */
export const MAX_TAG_BYTES = 64;

export type Op =
  | { op: 'PUTROOTFH' }
  | { op: 'PUTFH'; fh: Buffer }
  | { op: 'LOOKUP'; name: Name }
  | { op: 'GETFH' }
  | { op: 'GETATTR'; attrs: readonly number[] }
  | { op: 'CREATE'; name: string; attrs: CreateAttrs }
  | { op: 'REMOVE'; name: Name }
  | { op: 'RENAME'; from: string; to: string }
  | {
      op: 'READDIR';
      cookie: bigint;
      verifier: Buffer;
      dircount: number;
      maxcount: number;
      attrs: readonly number[];
    }
  | { op: 'SAVEFH' }
  /** The mode only, with the anonymous stateid (no file is open). */
  | { op: 'SETATTR'; mode: number };

export interface DirEntry {
  cookie: bigint;
  name: string;
  /** The name's bytes where they are not UTF-8 (see readEntryName). */
  raw?: Buffer;
  attrs: RawAttrs;
}

/** One operation's result; the fields its operation returns are set when it succeeded. */
export interface OpResult {
  op: OpName;
  status: number;
  /** GETFH */
  fh?: Buffer;
  /** GETATTR */
  attrs?: RawAttrs;
  /** READDIR */
  listing?: { verifier: Buffer; entries: DirEntry[]; eof: boolean };
}

export interface CompoundReply {
  status: number;
  results: OpResult[];
}

function writeFh(w: XdrWriter, fh: Buffer): void {
  if (fh.length === 0 || fh.length > NFS4_FHSIZE) {
    throw new RangeError(`a file handle has 1 to ${String(NFS4_FHSIZE)} bytes, not ${String(fh.length)}`);
  }
  w.opaque(fh);
}

function writeOp(w: XdrWriter, op: Op): void {
  w.uint32(OP[op.op]);
  switch (op.op) {
    case 'PUTROOTFH':
    case 'GETFH':
    case 'SAVEFH':
      return;
    case 'PUTFH':
      writeFh(w, op.fh);
      return;
    case 'LOOKUP':
    case 'REMOVE':
      w.opaque(nameBytes(checkName(op.name)));
      return;
    case 'GETATTR':
      writeBitmap(w, op.attrs);
      return;
    case 'CREATE':
      // createtype4 for NF4DIR carries no data; then objname, createattrs.
      w.uint32(NF4DIR).string(checkName(op.name));
      writeCreateAttrs(w, op.attrs);
      return;
    case 'RENAME':
      w.string(checkName(op.from, 'from')).string(checkName(op.to, 'to'));
      return;
    case 'SETATTR':
      w.uint32(0).raw(Buffer.alloc(12));
      writeModeAttr(w, op.mode);
      return;
    case 'READDIR':
      if (op.verifier.length !== VERIFIER_BYTES) {
        throw new RangeError(
          `a cookie verifier has ${String(VERIFIER_BYTES)} bytes, not ${String(op.verifier.length)}`,
        );
      }
      writeUint64(w, op.cookie).raw(op.verifier).uint32(op.dircount).uint32(op.maxcount);
      writeBitmap(w, op.attrs);
      return;
  }
}

/** COMPOUND4args for minor version 0: tag, minorversion, the operations. */
export function encodeCompound(ops: readonly Op[], tag = ''): Buffer {
  const w = new XdrWriter().string(tag).uint32(0).uint32(ops.length);
  for (const op of ops) writeOp(w, op);
  return w.bytes();
}

function skipChangeInfo(r: XdrReader, what: string): void {
  r.bool(`${what} atomic`);
  readUint64(r, `${what} before`);
  readUint64(r, `${what} after`);
}

function readEntries(r: XdrReader, attrs: readonly number[]): DirEntry[] {
  const entries: DirEntry[] = [];
  // Each entry takes at least 20 bytes of the reply, so the list ends with it.
  while (r.bool(`READDIR entry ${String(entries.length + 1)} present`)) {
    const what = `READDIR entry ${String(entries.length + 1)}`;
    const cookie = readUint64(r, `${what} cookie`);
    const { name, raw } = readEntryName(r, what);
    entries.push({ cookie, name, ...(raw ? { raw } : {}), attrs: readFattr(r, attrs, `${what} attributes`) });
  }
  return entries;
}

function readOk(r: XdrReader, op: Op): OpResult {
  switch (op.op) {
    case 'GETFH': {
      const fh = r.opaque(NFS4_FHSIZE, 'GETFH file handle');
      if (fh.length === 0) throw new RpcDecodeError('GETFH file handle is empty');
      return { op: 'GETFH', status: 0, fh: Buffer.from(fh) };
    }
    case 'GETATTR':
      return { op: 'GETATTR', status: 0, attrs: readFattr(r, op.attrs, 'GETATTR') };
    case 'READDIR': {
      const verifier = Buffer.alloc(VERIFIER_BYTES);
      verifier.writeUInt32BE(r.uint32('READDIR cookie verifier'), 0);
      verifier.writeUInt32BE(r.uint32('READDIR cookie verifier'), 4);
      const entries = readEntries(r, op.attrs);
      return { op: 'READDIR', status: 0, listing: { verifier, entries, eof: r.bool('READDIR eof') } };
    }
    case 'CREATE':
      skipChangeInfo(r, 'CREATE change_info');
      readFattrBitmapOnly(r, 'CREATE attrset');
      return { op: 'CREATE', status: 0 };
    case 'REMOVE':
      skipChangeInfo(r, 'REMOVE change_info');
      return { op: 'REMOVE', status: 0 };
    case 'RENAME':
      skipChangeInfo(r, 'RENAME source change_info');
      skipChangeInfo(r, 'RENAME target change_info');
      return { op: 'RENAME', status: 0 };
    default:
      return { op: op.op, status: 0 };
  }
}

/** A bitmap of attributes set (CREATE, SETATTR), read for framing only. */
function readFattrBitmapOnly(r: XdrReader, what: string): void {
  readBitmap(r, what);
}

/**
 * COMPOUND4res for the operations sent: status, tag, one result per
 * operation up to and including the first that failed. The compound's status
 * must be the last result's, and nothing may follow the results.
 */
export function decodeCompound(results: Buffer, ops: readonly Op[]): CompoundReply {
  const r = new XdrReader(results);
  const status = r.uint32('COMPOUND status');
  r.opaque(MAX_TAG_BYTES, 'COMPOUND tag');
  const count = r.uint32('COMPOUND result count');
  if (count > ops.length) {
    throw new RpcDecodeError(`COMPOUND has ${String(count)} results for ${String(ops.length)} operations`);
  }
  const out: OpResult[] = [];
  for (let i = 0; i < count; i++) {
    const op = ops[i] as Op;
    const code = r.uint32(`result ${String(i + 1)} operation`);
    if (code !== OP[op.op]) {
      const named = OP_NAMES.get(code) ?? `operation ${String(code)}`;
      throw new RpcDecodeError(`COMPOUND result ${String(i + 1)} is for ${named}, not ${op.op}`);
    }
    const opStatus = r.uint32(`${op.op} status`);
    // SETATTR4res carries attrsset whatever its status.
    if (op.op === 'SETATTR') readFattrBitmapOnly(r, 'SETATTR attrsset');
    if (opStatus !== NFS4_OK) {
      if (i !== count - 1)
        throw new RpcDecodeError(`${op.op} failed (${statusName(opStatus)}) but results follow it`);
      out.push({ op: op.op, status: opStatus });
      break;
    }
    out.push(readOk(r, op));
  }
  if (r.remaining > 0)
    throw new RpcDecodeError(`COMPOUND reply has ${String(r.remaining)} bytes after its results`);
  const last = out.at(-1);
  if (status === NFS4_OK) {
    if (out.length !== ops.length) {
      throw new RpcDecodeError(
        `COMPOUND succeeded with ${String(out.length)} results for ${String(ops.length)} operations`,
      );
    }
  } else if (last !== undefined && last.status !== status) {
    throw new RpcDecodeError(
      `COMPOUND status ${statusName(status)} is not its last result's (${last.op} ${statusName(last.status)})`,
    );
  }
  return { status, results: out };
}
