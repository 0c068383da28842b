// Builds NFSv3 and MOUNT v3 results by hand, for tests of the client's
// decoders and for fake servers that answer it: each helper writes exactly
// the XDR RFC 1813 gives, with nothing checked, so tests can build bad ones.
import { words, u64, opaque } from './nfs4-replies.ts';

export { opaque, u64, words } from './nfs4-replies.ts';

export interface Fattr3Values {
  type?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  fsid?: bigint;
  fileid?: bigint;
}

/** A fattr3 (84 bytes); unset values are a directory 0755 of root, fsid 7, fileid 1. */
export function fattr3(v: Fattr3Values = {}): Buffer {
  return Buffer.concat([
    words(v.type ?? 2, v.mode ?? 0o755, 2, v.uid ?? 0, v.gid ?? 0),
    u64(4096n), // size
    u64(4096n), // used
    u64(0n), // rdev
    u64(v.fsid ?? 7n),
    u64(v.fileid ?? 1n),
    u64(0n), // atime
    u64(0n), // mtime
    u64(0n), // ctime
  ]);
}

/** post_op_attr: present with these values, or absent. */
export const postOpAttr = (v?: Fattr3Values): Buffer => (v ? words(1, fattr3(v)) : words(0));
/** post_op_fh3. */
export const postOpFh = (fh?: Buffer): Buffer => (fh ? words(1, opaque(fh)) : words(0));
/** wcc_data with no pre-op attributes and these post-op ones (or none). */
export const wcc = (after?: Fattr3Values): Buffer => words(0, postOpAttr(after));

/** One entryplus3 (present flag included). */
export function entryplus(
  name: string | Buffer,
  cookie: bigint,
  opts: { fileid?: bigint; attrs?: Fattr3Values; fh?: Buffer } = {},
): Buffer {
  return Buffer.concat([
    words(1),
    u64(opts.fileid ?? cookie),
    opaque(name),
    u64(cookie),
    postOpAttr(opts.attrs),
    postOpFh(opts.fh),
  ]);
}

/** READDIRPLUS3resok: no directory attributes, verifier, the entries, the end of the list and eof. */
export function readdirplusOk(verifier: Buffer, entries: Buffer[], eof: boolean): Buffer {
  return Buffer.concat([words(0, 0), verifier, ...entries, words(0, eof ? 1 : 0)]);
}

/** mountres3 MNT3_OK with a handle and auth flavors. */
export const mntOk = (fh: Buffer, flavors: number[] = [1]): Buffer =>
  words(0, opaque(fh), flavors.length, ...flavors);
