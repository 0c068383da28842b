// NFSv4 attributes (RFC 7530 §5): bitmaps, the fattr4 values this client
// reads, and the createattrs it sends. Pure. A server may answer only with
// attributes that were asked for (§5.2); any other bit is refused, since
// fattr4 values have no length of their own and an unknown one cannot be
// skipped.
import type { Attrs, CreateAttrs } from '../dir/client.ts';
import { RpcDecodeError, XdrReader, XdrWriter, readUint64 } from '../rpc.ts';
import { FATTR4, NF4DIR, NF4LNK, NF4REG, NFS4_FHSIZE } from './constants.ts';

export type { Attrs, CreateAttrs } from '../dir/client.ts';

/** Words a bitmap from the server may have: attributes go up to 55 in v4.0; room for later minor versions. */
export const MAX_BITMAP_WORDS = 8;
/** owner and owner_group are user@domain strings; longer is not an honest answer. */
export const MAX_OWNER_BYTES = 1024;

/** The attributes as the server sent them, before they are checked. */
export interface RawAttrs {
  type?: number;
  fsid?: { major: bigint; minor: bigint };
  rdattrError?: number;
  filehandle?: Buffer;
  fileid?: bigint;
  mode?: number;
  owner?: string;
  ownerGroup?: string;
  spaceAvail?: bigint;
  spaceFree?: bigint;
  spaceTotal?: bigint;
}

/** What GETATTR asks for to build Attrs. */
export const OBJECT_ATTRS: readonly number[] = [
  FATTR4.TYPE,
  FATTR4.FSID,
  FATTR4.FILEID,
  FATTR4.MODE,
  FATTR4.OWNER,
  FATTR4.OWNER_GROUP,
];
/** What READDIR asks for: the object's attributes, its handle, and a per-entry error instead of failing the page. */
export const ENTRY_ATTRS: readonly number[] = [...OBJECT_ATTRS, FATTR4.RDATTR_ERROR, FATTR4.FILEHANDLE];
export const SPACE_ATTRS: readonly number[] = [FATTR4.SPACE_AVAIL, FATTR4.SPACE_FREE, FATTR4.SPACE_TOTAL];

export { readUint64, writeUint64 } from '../rpc.ts';

/** bitmap4 words with the given attribute numbers set. */
export function bitmapWords(attrs: readonly number[]): number[] {
  const words: number[] = [];
  for (const a of attrs) {
    const word = a >>> 5;
    while (words.length <= word) words.push(0);
    words[word] = ((words[word] as number) | (1 << (a & 31))) >>> 0;
  }
  return words;
}

export function writeBitmap(w: XdrWriter, attrs: readonly number[]): XdrWriter {
  const words = bitmapWords(attrs);
  w.uint32(words.length);
  for (const word of words) w.uint32(word);
  return w;
}

/** Reads a bitmap4 and returns the attribute numbers set in it, ascending. */
export function readBitmap(r: XdrReader, what: string): number[] {
  const count = r.uint32(`${what} length`);
  if (count > MAX_BITMAP_WORDS) {
    throw new RpcDecodeError(
      `${what} has ${String(count)} words, more than the ${String(MAX_BITMAP_WORDS)} allowed`,
    );
  }
  const set: number[] = [];
  for (let i = 0; i < count; i++) {
    const word = r.uint32(`${what} word ${String(i)}`);
    for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) set.push(i * 32 + bit);
  }
  return set;
}

/**
 * Reads a fattr4 {bitmap, opaque values}. Every bit must be one of `asked`;
 * the values must fill the opaque exactly.
 */
export function readFattr(r: XdrReader, asked: readonly number[], what: string): RawAttrs {
  const present = readBitmap(r, `${what} bitmap`);
  const unasked = present.filter((a) => !asked.includes(a));
  if (unasked.length > 0) {
    throw new RpcDecodeError(
      `${what} holds attribute${unasked.length > 1 ? 's' : ''} ${unasked.join(', ')}, not asked for`,
    );
  }
  const vals = new XdrReader(r.opaque(r.remaining, `${what} values`));
  const out: RawAttrs = {};
  for (const a of present) {
    const name = `${what} attribute ${String(a)}`;
    switch (a) {
      case FATTR4.TYPE:
        out.type = vals.uint32(name);
        break;
      case FATTR4.FSID:
        out.fsid = { major: readUint64(vals, name), minor: readUint64(vals, name) };
        break;
      case FATTR4.RDATTR_ERROR:
        out.rdattrError = vals.uint32(name);
        break;
      case FATTR4.FILEHANDLE:
        out.filehandle = Buffer.from(vals.opaque(NFS4_FHSIZE, `${what} filehandle`));
        break;
      case FATTR4.FILEID:
        out.fileid = readUint64(vals, name);
        break;
      case FATTR4.MODE:
        out.mode = vals.uint32(name);
        break;
      case FATTR4.OWNER:
        out.owner = vals.string(MAX_OWNER_BYTES, `${what} owner`);
        break;
      case FATTR4.OWNER_GROUP:
        out.ownerGroup = vals.string(MAX_OWNER_BYTES, `${what} owner_group`);
        break;
      case FATTR4.SPACE_AVAIL:
        out.spaceAvail = readUint64(vals, name);
        break;
      case FATTR4.SPACE_FREE:
        out.spaceFree = readUint64(vals, name);
        break;
      case FATTR4.SPACE_TOTAL:
        out.spaceTotal = readUint64(vals, name);
        break;
      default:
        // Only reachable if a caller asks for an attribute this file cannot read.
        throw new RpcDecodeError(`${name} cannot be decoded by this client`);
    }
  }
  if (vals.remaining > 0) {
    throw new RpcDecodeError(
      `${what} values have ${String(vals.remaining)} bytes beyond the attributes named`,
    );
  }
  return out;
}

/** A numeric owner: "1000" or "1000@domain"; a name that is not numeric gives undefined. */
export function parseOwnerId(owner: string | undefined): number | undefined {
  if (owner === undefined) return undefined;
  const m = /^([0-9]{1,10})(@.*)?$/su.exec(owner);
  if (!m) return undefined;
  const id = Number(m[1]);
  return id <= 0xffff_ffff ? id : undefined;
}

function typeName(type: number): Attrs['type'] {
  if (type === NF4REG) return 'file';
  if (type === NF4DIR) return 'dir';
  if (type === NF4LNK) return 'symlink';
  return 'other';
}

/** Checks that the attributes every object needs are there and builds Attrs. */
export function toAttrs(raw: RawAttrs, what: string): Attrs {
  if (raw.type === undefined || raw.fileid === undefined || raw.fsid === undefined) {
    const missing = [
      raw.type === undefined ? 'type' : '',
      raw.fileid === undefined ? 'fileid' : '',
      raw.fsid === undefined ? 'fsid' : '',
    ].filter(Boolean);
    throw new RpcDecodeError(`${what} lacks ${missing.join(', ')}`);
  }
  const attrs: Attrs = {
    type: typeName(raw.type),
    fileid: raw.fileid,
    fsid: `${String(raw.fsid.major)}:${String(raw.fsid.minor)}`,
  };
  // mode4 defines only the low 12 bits (RFC 7530 §5.8.2.15).
  if (raw.mode !== undefined) attrs.mode = raw.mode & 0o7777;
  const uid = parseOwnerId(raw.owner);
  if (uid !== undefined) attrs.uid = uid;
  const gid = parseOwnerId(raw.ownerGroup);
  if (gid !== undefined) attrs.gid = gid;
  return attrs;
}

function checkId(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)) {
    throw new RangeError(`${name} must be an integer from 0 to 4294967295, not ${String(value)}`);
  }
}

/** fattr4 for SETATTR of the mode alone. */
export function writeModeAttr(w: XdrWriter, mode: number): XdrWriter {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(`mode must be an integer from 0 to 0o7777, not ${String(mode)}`);
  }
  return writeBitmap(w, [FATTR4.MODE]).opaque(new XdrWriter().uint32(mode).bytes());
}

/** fattr4 for CREATE: mode, and owner / owner_group as numeric strings when given. */
export function writeCreateAttrs(w: XdrWriter, attrs: CreateAttrs): XdrWriter {
  if (!Number.isInteger(attrs.mode) || attrs.mode < 0 || attrs.mode > 0o7777) {
    throw new RangeError(`mode must be an integer from 0 to 0o7777, not ${String(attrs.mode)}`);
  }
  checkId('uid', attrs.uid);
  checkId('gid', attrs.gid);
  const set: number[] = [FATTR4.MODE];
  const vals = new XdrWriter().uint32(attrs.mode);
  if (attrs.uid !== undefined) {
    set.push(FATTR4.OWNER);
    vals.string(String(attrs.uid));
  }
  if (attrs.gid !== undefined) {
    set.push(FATTR4.OWNER_GROUP);
    vals.string(String(attrs.gid));
  }
  return writeBitmap(w, set).opaque(vals.bytes());
}
