// NFSv3 and MOUNT v3 XDR, both ways: the arguments of each procedure the
// client sends, byte for byte, and the results it reads, good and hostile
// (long or empty handles, huge counts, truncations, names that are not one
// component, bogus statuses, bytes left over).
import { expect } from 'chai';

import { RpcDecodeError } from '../../../../src/nfs/rpc.ts';
import { status3Name } from '../../../../src/nfs/v3/constants.ts';
import {
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
} from '../../../../src/nfs/v3/xdr.ts';
import {
  entryplus,
  fattr3,
  mntOk,
  opaque,
  postOpAttr,
  postOpFh,
  readdirplusOk,
  u64,
  wcc,
  words,
} from '../../../support/nfs3-replies.ts';

const FH = Buffer.from('dir-handle-1');
const CHILD = Buffer.from('child-handle');
const VERF = Buffer.from('verifier');

function refused(decode: () => unknown, pattern: RegExp): void {
  expect(decode).to.throw(RpcDecodeError, pattern);
}

describe('NFSv3 XDR: arguments', () => {
  it('encodes a handle, and a directory handle with a name (GETATTR, FSSTAT, LOOKUP, REMOVE, RMDIR)', () => {
    expect(encodeGetattr(FH)).to.deep.equal(opaque(FH));
    expect(encodeDirop(FH, 'name')).to.deep.equal(Buffer.concat([opaque(FH), opaque('name')]));
  });

  it('encodes MKDIR with sattr3: mode, uid, gid set, size and times left alone', () => {
    expect(encodeMkdir(FH, 'd', { mode: 0o750, uid: 1000, gid: 1001 })).to.deep.equal(
      Buffer.concat([opaque(FH), opaque('d'), words(1, 0o750, 1, 1000, 1, 1001, 0, 0, 0)]),
    );
    expect(encodeMkdir(FH, 'd', { mode: 0o700 })).to.deep.equal(
      Buffer.concat([opaque(FH), opaque('d'), words(1, 0o700, 0, 0, 0, 0, 0)]),
    );
  });

  it('encodes SETATTR without a ctime guard, and RENAME as two diropargs3', () => {
    expect(encodeSetattr(FH, { mode: 0o2775 })).to.deep.equal(
      Buffer.concat([opaque(FH), words(1, 0o2775, 0, 0, 0, 0, 0, 0)]),
    );
    expect(encodeRename(FH, 'a', CHILD, 'b')).to.deep.equal(
      Buffer.concat([opaque(FH), opaque('a'), opaque(CHILD), opaque('b')]),
    );
  });

  it('encodes READDIRPLUS with a 64-bit cookie, the verifier and both counts', () => {
    expect(encodeReaddirplus(FH, 0x1_0000_0002n, VERF, 4096, 8192)).to.deep.equal(
      Buffer.concat([opaque(FH), u64(0x1_0000_0002n), VERF, words(4096, 8192)]),
    );
  });

  it('encodes MNT and UMNT with the export path, at most 1024 bytes', () => {
    expect(encodeDirpath('/export')).to.deep.equal(opaque('/export'));
    expect(() => encodeDirpath(`/${'a'.repeat(1024)}`)).to.throw(RangeError);
  });

  it('refuses handles longer than 64 bytes or empty, bad modes and ids, before encoding', () => {
    expect(() => encodeGetattr(Buffer.alloc(65))).to.throw(RangeError, /1 to 64 bytes/);
    expect(() => encodeGetattr(Buffer.alloc(0))).to.throw(RangeError);
    expect(() => encodeMkdir(FH, 'd', { mode: 0o10000 })).to.throw(RangeError, /mode/);
    expect(() => encodeMkdir(FH, 'd', { mode: 0o755, uid: 2 ** 32 })).to.throw(RangeError, /uid/);
  });
});

describe('NFSv3 XDR: results', () => {
  it('decodes GETATTR, keeping type, mode, owner, fsid and fileid', () => {
    const v = { type: 2, mode: 0o2750, uid: 1000, gid: 1001, fsid: 2n ** 63n, fileid: 42n };
    expect(decodeGetattr(words(0, fattr3(v)))).to.deep.equal({ status: 0, attrs: v });
    expect(decodeGetattr(words(70))).to.deep.equal({ status: 70 });
  });

  it('decodes LOOKUP with and without the object attributes, and its failure', () => {
    const dir = postOpAttr({});
    expect(decodeLookup(words(0, opaque(CHILD), postOpAttr({ type: 5 }), dir))).to.deep.include({
      status: 0,
      fh: CHILD,
    });
    expect(decodeLookup(words(0, opaque(CHILD), postOpAttr(), dir))).to.deep.equal({ status: 0, fh: CHILD });
    expect(decodeLookup(words(2, dir))).to.deep.equal({ status: 2 });
  });

  it('decodes MKDIR with optional handle and attributes, and EXIST with the wcc_data', () => {
    const res = decodeMkdir(words(0, postOpFh(CHILD), postOpAttr({ mode: 0o750 }), wcc({})));
    expect(res).to.deep.include({ status: 0, fh: CHILD });
    expect(decodeMkdir(words(0, postOpFh(), postOpAttr(), wcc()))).to.deep.equal({ status: 0 });
    expect(decodeMkdir(words(17, wcc({})))).to.deep.equal({ status: 17 });
    // pre_op_attr present: size, mtime, ctime.
    expect(decodeMkdir(words(17, 1, u64(1n), u64(2n), u64(3n), postOpAttr()))).to.deep.equal({
      status: 17,
    });
  });

  it('decodes SETATTR with the attributes after, REMOVE, RMDIR and RENAME', () => {
    expect(decodeSetattr(words(0, wcc({ mode: 0o2775 }))).attrs?.mode).to.equal(0o2775);
    expect(decodeSetattr(words(1, wcc()))).to.deep.equal({ status: 1 });
    expect(decodeRemove(words(21, wcc({})), 'REMOVE')).to.deep.equal({ status: 21 });
    expect(decodeRemove(words(66, wcc()), 'RMDIR')).to.deep.equal({ status: 66 });
    expect(decodeRename(words(0, wcc({}), wcc({})))).to.deep.equal({ status: 0 });
  });

  it('decodes READDIRPLUS entries with names, cookies, attributes, handles, "." and "..", and eof', () => {
    const body = readdirplusOk(
      VERF,
      [
        entryplus('.', 1n, { attrs: {}, fh: FH }),
        entryplus('..', 2n),
        entryplus('a file', 0xffff_ffff_ffff_fff0n, { fileid: 9n, attrs: { type: 1 }, fh: CHILD }),
      ],
      true,
    );
    const res = decodeReaddirplus(body);
    if (!('entries' in res)) throw new Error('expected entries');
    expect(res.verifier).to.deep.equal(VERF);
    expect(res.eof).to.equal(true);
    expect(res.entries.map((e) => [e.name, e.cookie])).to.deep.equal([
      ['.', 1n],
      ['..', 2n],
      ['a file', 0xffff_ffff_ffff_fff0n],
    ]);
    expect(res.entries[2]).to.deep.include({ fileid: 9n, fh: CHILD });
    expect(res.entries[2]?.attrs?.type).to.equal(1);
    expect(res.entries[1]).to.not.have.property('fh');
    expect(decodeReaddirplus(words(10003, 0))).to.deep.equal({ status: 10003 });
  });

  it('decodes FSSTAT byte counts as the full uint64', () => {
    const body = words(0, 0, u64(2n ** 64n - 1n), u64(5n), u64(4n), u64(1n), u64(1n), u64(1n), 0);
    expect(decodeFsstat(body)).to.deep.equal({ status: 0, tbytes: 2n ** 64n - 1n, fbytes: 5n, abytes: 4n });
  });

  it('decodes MNT: the root handle and the auth flavors; a failure is its mountstat3', () => {
    expect(decodeMnt(mntOk(FH, [390003, 1]))).to.deep.equal({ status: 0, fh: FH, flavors: [390003, 1] });
    expect(decodeMnt(words(13))).to.deep.equal({ status: 13 });
  });

  it('passes a bogus nfsstat3 on as it came, named by its number', () => {
    expect(decodeRemove(words(12345, wcc()), 'REMOVE')).to.deep.equal({ status: 12345 });
    expect(status3Name(12345)).to.equal('NFS3ERR_UNKNOWN_12345');
    expect(status3Name(13)).to.equal('NFS3ERR_ACCES');
  });
});

describe('NFSv3 XDR: hostile results', () => {
  const good: [string, Buffer, (b: Buffer) => unknown][] = [
    ['GETATTR', words(0, fattr3()), decodeGetattr],
    ['LOOKUP', words(0, opaque(CHILD), postOpAttr({}), postOpAttr({})), decodeLookup],
    ['MKDIR', words(0, postOpFh(CHILD), postOpAttr({}), wcc({})), decodeMkdir],
    ['SETATTR', words(0, wcc({})), decodeSetattr],
    ['RENAME', words(0, wcc({}), wcc({})), decodeRename],
    [
      'READDIRPLUS',
      readdirplusOk(VERF, [entryplus('x', 3n, { attrs: {}, fh: CHILD })], false),
      decodeReaddirplus,
    ],
    ['FSSTAT', words(0, 0, u64(1n), u64(1n), u64(1n), u64(1n), u64(1n), u64(1n), 0), decodeFsstat],
    ['MNT', mntOk(FH), decodeMnt],
  ];

  it('refuses every truncation of a good reply, and bytes after it', () => {
    for (const [what, body, decode] of good) {
      expect(() => decode(body), what).to.not.throw();
      for (let cut = 0; cut < body.length; cut += 4) {
        expect(() => decode(body.subarray(0, cut)), `${what} cut at ${String(cut)}`).to.throw(
          RpcDecodeError,
          /truncated/,
        );
      }
      expect(() => decode(Buffer.concat([body, words(0)])), what).to.throw(
        RpcDecodeError,
        /beyond its result/,
      );
    }
  });

  it('refuses handles longer than NFS3_FHSIZE (64) and empty ones, wherever they come', () => {
    const long = Buffer.alloc(65, 1);
    refused(() => decodeLookup(words(0, opaque(long), 0, 0)), /65 bytes long, more than the 64/);
    refused(() => decodeMkdir(words(0, postOpFh(long), 0, wcc())), /more than the 64/);
    refused(() => decodeMnt(mntOk(long)), /more than the 64/);
    refused(
      () => decodeReaddirplus(readdirplusOk(VERF, [entryplus('x', 1n, { fh: long })], true)),
      /more than the 64/,
    );
    refused(() => decodeLookup(words(0, 0, 0, 0)), /file handle is empty/);
    refused(() => decodeMnt(mntOk(Buffer.alloc(0))), /is empty/);
  });

  it('refuses huge counts without reading further: names, handles, auth flavors', () => {
    refused(() => decodeMnt(words(0, opaque(FH), 0x8000_0000)), /2147483648 auth flavors, more than the 32/);
    refused(() => decodeLookup(words(0, 0x7fff_ffff)), /more than the 64/);
    refused(
      () => decodeReaddirplus(Buffer.concat([words(0, 0), VERF, words(1), u64(1n), words(0xffff_ffff)])),
      /more than the 255/,
    );
  });

  it('refuses READDIRPLUS names that are not one component', () => {
    for (const [name, why] of [
      ['a/b', /contains "\/"/],
      ['', /is empty/],
      ['nul\0', /contains NUL/],
      [Buffer.from([0xff, 0x2f, 0xfe]), /contains "\/"/],
      ['x'.repeat(256), /more than the 255/],
    ] as const) {
      refused(() => decodeReaddirplus(readdirplusOk(VERF, [entryplus(name, 1n)], true)), why);
    }
  });

  it('keeps a READDIRPLUS name that is not UTF-8 as its bytes, shown with \\xNN escapes', () => {
    const odd = Buffer.from([0xff, 0x61, 0xfe]);
    const res = decodeReaddirplus(readdirplusOk(VERF, [entryplus(odd, 1n)], true));
    const [entry] = 'entries' in res ? res.entries : [];
    expect(entry?.name).to.equal('\\xffa\\xfe');
    expect(entry?.raw?.equals(odd)).to.equal(true);
    // Sent back exactly, not as the escaped string.
    expect(encodeDirop(FH, odd)).to.deep.equal(Buffer.concat([opaque(FH), opaque(odd)]));
  });

  it('refuses a list whose terminator never comes, and bools that are not 0 or 1', () => {
    refused(() => decodeReaddirplus(Buffer.concat([words(0, 0), VERF, entryplus('x', 1n)])), /truncated/);
    refused(() => decodeLookup(words(0, opaque(CHILD), 7, 0)), /not 0 or 1/);
  });
});
