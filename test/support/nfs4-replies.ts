// Builds NFSv4 COMPOUND replies by hand, for tests of the client's decoder
// and for fake servers that answer it: each helper writes exactly the XDR
// RFC 7531 gives, with nothing checked, so tests can also build bad ones.
import { XdrWriter } from '../../src/nfs/rpc.ts';
import { bitmapWords } from '../../src/nfs/v4/attrs.ts';

/** Big-endian 32-bit words, latin1 strings and buffers, as one buffer. */
export function words(...items: (number | string | Buffer)[]): Buffer {
  return Buffer.concat(
    items.map((item) => {
      if (Buffer.isBuffer(item)) return item;
      if (typeof item === 'string') return Buffer.from(item, 'latin1');
      const b = Buffer.alloc(4);
      b.writeUInt32BE(item >>> 0);
      return b;
    }),
  );
}

export function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  return b;
}

/** An XDR opaque: length, bytes, padding. */
export function opaque(value: Buffer | string): Buffer {
  return new XdrWriter().opaque(typeof value === 'string' ? Buffer.from(value, 'utf8') : value).bytes();
}

/** COMPOUND4res: status, empty tag, the results. */
export function compound(status: number, ...results: Buffer[]): Buffer {
  return words(status, 0, results.length, ...results);
}

/** One nfs_resop4: operation number, status, body. */
export function result(op: number, status = 0, body: Buffer = Buffer.alloc(0)): Buffer {
  return words(op, status, body);
}

/** fattr4 with these attribute numbers set and these already-encoded values. */
export function fattr(attrs: readonly number[], vals: Buffer): Buffer {
  const mask = bitmapWords(attrs);
  return words(mask.length, ...mask, opaque(vals));
}

export interface ObjectValues {
  type?: number;
  fsid?: [bigint, bigint];
  fileid?: bigint;
  mode?: number;
  owner?: string;
  group?: string;
  fh?: Buffer;
}

/** fattr4 of an object's attributes (type 1, fsid 8, fileid 20, mode 33, owner 36, owner_group 37, filehandle 19). */
export function objectAttrs(v: ObjectValues): Buffer {
  const set: number[] = [];
  const parts: Buffer[] = [];
  const add = (attr: number, ...bytes: Buffer[]) => {
    set.push(attr);
    parts.push(...bytes);
  };
  if (v.type !== undefined) add(1, words(v.type));
  if (v.fsid !== undefined) add(8, u64(v.fsid[0]), u64(v.fsid[1]));
  if (v.fh !== undefined) add(19, opaque(v.fh));
  if (v.fileid !== undefined) add(20, u64(v.fileid));
  if (v.mode !== undefined) add(33, words(v.mode));
  if (v.owner !== undefined) add(36, opaque(v.owner));
  if (v.group !== undefined) add(37, opaque(v.group));
  return fattr(set, Buffer.concat(parts));
}

/** A READDIR4resok body: verifier, the entries {cookie, name, attrs}, eof. */
export function readdirBody(
  verifier: Buffer,
  entries: readonly { cookie: bigint; name: Buffer | string; attrs: Buffer }[],
  eof: boolean,
): Buffer {
  const parts: Buffer[] = [verifier];
  for (const e of entries) parts.push(words(1), u64(e.cookie), opaque(e.name), e.attrs);
  parts.push(words(0, eof ? 1 : 0));
  return Buffer.concat(parts);
}

export const CHANGE_INFO: Buffer = words(1, u64(1n), u64(2n));
