// NFSv3 and MOUNT v3 arguments and results (RFC 1813 §3, Appendix I): the
// procedures this client calls, as pure functions, bytes in and values out.
// Every decoder reads the whole reply and refuses anything left over, a
// handle longer than NFS3_FHSIZE, an empty one, a name that is not one
// component, and lists longer than the reply holds: RpcDecodeError saying
// what and where. Failure bodies are read too, whatever the status, so a
// bogus status is still a well-formed answer.
import { type Name, nameBytes, readEntryName } from '../dir/names.ts';
import { MOUNT_MAX_PATH, RpcDecodeError, XdrReader, XdrWriter, readUint64, writeUint64 } from '../rpc.ts';
import {
  COOKIEVERF_BYTES,
  MAX_AUTH_FLAVORS,
  NF3DIR,
  NF3LNK,
  NF3REG,
  NFS3_FHSIZE,
  NFS3_OK,
} from './constants.ts';

/** What this client keeps of a fattr3. */
export interface Fattr3 {
  type: number;
  mode: number;
  uid: number;
  gid: number;
  fsid: bigint;
  fileid: bigint;
}

/** sattr3 fields this client sets; absent ones are left as they are. */
export interface Sattr3 {
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface Entry3 {
  fileid: bigint;
  name: string;
  /** The name's bytes where they are not UTF-8 (see readEntryName). */
  raw?: Buffer;
  cookie: bigint;
  attrs?: Fattr3;
  fh?: Buffer;
}

// --- pieces ------------------------------------------------------------------

function readFh(r: XdrReader, what: string): Buffer {
  const fh = r.opaque(NFS3_FHSIZE, what);
  if (fh.length === 0) throw new RpcDecodeError(`${what} is empty`);
  return Buffer.from(fh);
}

/** fattr3 (RFC 1813 §2.6): 84 bytes, of which type, mode, uid, gid, fsid and fileid are kept. */
export function readFattr3(r: XdrReader, what: string): Fattr3 {
  const type = r.uint32(`${what} type`);
  const mode = r.uint32(`${what} mode`);
  r.uint32(`${what} nlink`);
  const uid = r.uint32(`${what} uid`);
  const gid = r.uint32(`${what} gid`);
  readUint64(r, `${what} size`);
  readUint64(r, `${what} used`);
  readUint64(r, `${what} rdev`);
  const fsid = readUint64(r, `${what} fsid`);
  const fileid = readUint64(r, `${what} fileid`);
  for (const t of ['atime', 'mtime', 'ctime']) readUint64(r, `${what} ${t}`);
  return { type, mode, uid, gid, fsid, fileid };
}

function readPostOpAttr(r: XdrReader, what: string): Fattr3 | undefined {
  return r.bool(`${what} present`) ? readFattr3(r, what) : undefined;
}

function readPostOpFh(r: XdrReader, what: string): Buffer | undefined {
  return r.bool(`${what} present`) ? readFh(r, what) : undefined;
}

/** wcc_data: pre_op_attr (size, mtime, ctime) and post_op_attr; the post-op attributes are returned. */
function readWcc(r: XdrReader, what: string): Fattr3 | undefined {
  if (r.bool(`${what} before present`)) {
    readUint64(r, `${what} before size`);
    readUint64(r, `${what} before mtime`);
    readUint64(r, `${what} before ctime`);
  }
  return readPostOpAttr(r, `${what} after`);
}

function done(r: XdrReader, what: string): void {
  if (r.remaining > 0) {
    throw new RpcDecodeError(`${what} has ${String(r.remaining)} bytes beyond its result`);
  }
}

function fhArg(w: XdrWriter, fh: Buffer): XdrWriter {
  if (!Buffer.isBuffer(fh) || fh.length === 0 || fh.length > NFS3_FHSIZE) {
    throw new RangeError(`an NFSv3 file handle has 1 to ${String(NFS3_FHSIZE)} bytes`);
  }
  return w.opaque(fh);
}

/** diropargs3: a directory's handle and a name in it (the caller checked the name). */
function diropArg(w: XdrWriter, dir: Buffer, name: Name): XdrWriter {
  return fhArg(w, dir).opaque(nameBytes(name));
}

function checkId(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)) {
    throw new RangeError(`${name} must be an integer from 0 to 4294967295, not ${String(value)}`);
  }
}

/** sattr3: set_mode3, set_uid3, set_gid3 as given; size, atime and mtime left alone. */
export function writeSattr3(w: XdrWriter, attrs: Sattr3): XdrWriter {
  if (attrs.mode !== undefined && (!Number.isInteger(attrs.mode) || attrs.mode < 0 || attrs.mode > 0o7777)) {
    throw new RangeError(`mode must be an integer from 0 to 0o7777, not ${String(attrs.mode)}`);
  }
  checkId('uid', attrs.uid);
  checkId('gid', attrs.gid);
  for (const v of [attrs.mode, attrs.uid, attrs.gid]) {
    if (v === undefined) w.bool(false);
    else w.bool(true).uint32(v);
  }
  // set_size3, set_atime and set_mtime: DONT_CHANGE.
  return w.bool(false).uint32(0).uint32(0);
}

export function attrType(type: number): 'file' | 'dir' | 'symlink' | 'other' {
  if (type === NF3REG) return 'file';
  if (type === NF3DIR) return 'dir';
  if (type === NF3LNK) return 'symlink';
  return 'other';
}

// --- arguments ---------------------------------------------------------------

export const encodeGetattr = (fh: Buffer): Buffer => fhArg(new XdrWriter(), fh).bytes();
export const encodeFsstat = encodeGetattr;
export const encodeDirop = (dir: Buffer, name: Name): Buffer => diropArg(new XdrWriter(), dir, name).bytes();

export function encodeMkdir(dir: Buffer, name: string, attrs: Sattr3): Buffer {
  return writeSattr3(diropArg(new XdrWriter(), dir, name), attrs).bytes();
}

/** SETATTR3args: the object, the attributes, and no ctime guard. */
export function encodeSetattr(fh: Buffer, attrs: Sattr3): Buffer {
  return writeSattr3(fhArg(new XdrWriter(), fh), attrs).bool(false).bytes();
}

export function encodeRename(fromDir: Buffer, from: string, toDir: Buffer, to: string): Buffer {
  const w = diropArg(new XdrWriter(), fromDir, from);
  return diropArg(w, toDir, to).bytes();
}

export function encodeReaddirplus(
  dir: Buffer,
  cookie: bigint,
  verifier: Buffer,
  dircount: number,
  maxcount: number,
): Buffer {
  if (verifier.length !== COOKIEVERF_BYTES) throw new RangeError('a cookie verifier has 8 bytes');
  const w = writeUint64(fhArg(new XdrWriter(), dir), cookie).raw(verifier);
  return w.uint32(dircount).uint32(maxcount).bytes();
}

/** MNT and UMNT take the export's path (dirpath, at most MNTPATHLEN bytes). */
export function encodeDirpath(path: string): Buffer {
  if (Buffer.byteLength(path, 'utf8') > MOUNT_MAX_PATH) {
    throw new RangeError(`a MOUNT path has at most ${String(MOUNT_MAX_PATH)} bytes`);
  }
  return new XdrWriter().string(path).bytes();
}

// --- results -----------------------------------------------------------------

export interface Failed {
  status: number;
}

export type GetattrRes = Failed | { status: 0; attrs: Fattr3 };
export type LookupRes = Failed | { status: 0; fh: Buffer; attrs?: Fattr3 };
export type MkdirRes = Failed | { status: 0; fh?: Buffer; attrs?: Fattr3 };
export type SetattrRes = { status: number; attrs?: Fattr3 };
export type ReaddirplusRes = Failed | { status: 0; verifier: Buffer; entries: Entry3[]; eof: boolean };
export type FsstatRes = Failed | { status: 0; tbytes: bigint; fbytes: bigint; abytes: bigint };
export type MntRes = Failed | { status: 0; fh: Buffer; flavors: number[] };

export function decodeGetattr(buf: Buffer): GetattrRes {
  const r = new XdrReader(buf);
  const status = r.uint32('GETATTR status');
  const res: GetattrRes =
    status === NFS3_OK ? { status, attrs: readFattr3(r, 'GETATTR attributes') } : { status };
  done(r, 'GETATTR reply');
  return res;
}

export function decodeLookup(buf: Buffer): LookupRes {
  const r = new XdrReader(buf);
  const status = r.uint32('LOOKUP status');
  let res: LookupRes = { status };
  if (status === NFS3_OK) {
    const fh = readFh(r, 'LOOKUP file handle');
    const attrs = readPostOpAttr(r, 'LOOKUP object attributes');
    res = attrs ? { status, fh, attrs } : { status, fh };
  }
  readPostOpAttr(r, 'LOOKUP directory attributes');
  done(r, 'LOOKUP reply');
  return res;
}

export function decodeMkdir(buf: Buffer): MkdirRes {
  const r = new XdrReader(buf);
  const status = r.uint32('MKDIR status');
  let res: MkdirRes = { status };
  if (status === NFS3_OK) {
    const fh = readPostOpFh(r, 'MKDIR file handle');
    const attrs = readPostOpAttr(r, 'MKDIR attributes');
    res = { status, ...(fh ? { fh } : {}), ...(attrs ? { attrs } : {}) };
  }
  readWcc(r, 'MKDIR directory wcc');
  done(r, 'MKDIR reply');
  return res;
}

export function decodeSetattr(buf: Buffer): SetattrRes {
  const r = new XdrReader(buf);
  const status = r.uint32('SETATTR status');
  const attrs = readWcc(r, 'SETATTR wcc');
  done(r, 'SETATTR reply');
  return attrs ? { status, attrs } : { status };
}

/** REMOVE and RMDIR: a status and the directory's wcc_data. */
export function decodeRemove(buf: Buffer, proc: 'REMOVE' | 'RMDIR'): Failed {
  const r = new XdrReader(buf);
  const status = r.uint32(`${proc} status`);
  readWcc(r, `${proc} directory wcc`);
  done(r, `${proc} reply`);
  return { status };
}

export function decodeRename(buf: Buffer): Failed {
  const r = new XdrReader(buf);
  const status = r.uint32('RENAME status');
  readWcc(r, 'RENAME from-directory wcc');
  readWcc(r, 'RENAME to-directory wcc');
  done(r, 'RENAME reply');
  return { status };
}

/**
 * READDIRPLUS3res. Each entry takes at least 32 bytes of the reply, so the
 * list ends with it even without its terminator (then a truncation error).
 * "." and ".." are passed on (v3 servers list them; the client drops them);
 * any other name must be one component.
 */
export function decodeReaddirplus(buf: Buffer): ReaddirplusRes {
  const r = new XdrReader(buf);
  const status = r.uint32('READDIRPLUS status');
  readPostOpAttr(r, 'READDIRPLUS directory attributes');
  if (status !== NFS3_OK) {
    done(r, 'READDIRPLUS reply');
    return { status };
  }
  const verifier = Buffer.alloc(COOKIEVERF_BYTES);
  verifier.writeUInt32BE(r.uint32('READDIRPLUS cookie verifier'), 0);
  verifier.writeUInt32BE(r.uint32('READDIRPLUS cookie verifier'), 4);
  const entries: Entry3[] = [];
  while (r.bool(`READDIRPLUS entry ${String(entries.length + 1)} present`)) {
    const what = `READDIRPLUS entry ${String(entries.length + 1)}`;
    const fileid = readUint64(r, `${what} fileid`);
    const { name, raw } = readEntryName(r, what, true);
    const cookie = readUint64(r, `${what} cookie`);
    const attrs = readPostOpAttr(r, `${what} attributes`);
    const fh = readPostOpFh(r, `${what} file handle`);
    entries.push({
      fileid,
      name,
      ...(raw ? { raw } : {}),
      cookie,
      ...(attrs ? { attrs } : {}),
      ...(fh ? { fh } : {}),
    });
  }
  const eof = r.bool('READDIRPLUS eof');
  done(r, 'READDIRPLUS reply');
  return { status, verifier, entries, eof };
}

export function decodeFsstat(buf: Buffer): FsstatRes {
  const r = new XdrReader(buf);
  const status = r.uint32('FSSTAT status');
  readPostOpAttr(r, 'FSSTAT attributes');
  let res: FsstatRes = { status };
  if (status === NFS3_OK) {
    const tbytes = readUint64(r, 'FSSTAT tbytes');
    const fbytes = readUint64(r, 'FSSTAT fbytes');
    const abytes = readUint64(r, 'FSSTAT abytes');
    for (const f of ['tfiles', 'ffiles', 'afiles']) readUint64(r, `FSSTAT ${f}`);
    r.uint32('FSSTAT invarsec');
    res = { status, tbytes, fbytes, abytes };
  }
  done(r, 'FSSTAT reply');
  return res;
}

/** mountres3: a status; on MNT3_OK the root handle and the auth flavors the export takes. */
export function decodeMnt(buf: Buffer): MntRes {
  const r = new XdrReader(buf);
  const status = r.uint32('MNT status');
  let res: MntRes = { status };
  if (status === NFS3_OK) {
    const fh = readFh(r, 'MNT root file handle');
    const count = r.uint32('MNT auth flavor count');
    if (count > MAX_AUTH_FLAVORS) {
      throw new RpcDecodeError(
        `MNT lists ${String(count)} auth flavors, more than the ${String(MAX_AUTH_FLAVORS)} allowed`,
      );
    }
    const flavors: number[] = [];
    for (let i = 0; i < count; i++) flavors.push(r.uint32(`MNT auth flavor ${String(i + 1)}`));
    res = { status, fh, flavors };
  }
  done(r, 'MNT reply');
  return res;
}
