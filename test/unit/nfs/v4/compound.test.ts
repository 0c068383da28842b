import { expect } from 'chai';

import { RpcDecodeError } from '../../../../src/nfs/rpc.ts';
import { OBJECT_ATTRS, ENTRY_ATTRS } from '../../../../src/nfs/v4/attrs.ts';
import { type Op, decodeCompound, encodeCompound } from '../../../../src/nfs/v4/compound.ts';
import { statusName } from '../../../../src/nfs/v4/constants.ts';
import { Nfs4Error } from '../../../../src/nfs/v4/errors.ts';
import {
  CHANGE_INFO,
  compound,
  fattr,
  objectAttrs,
  opaque,
  readdirBody,
  result,
  u64,
  words,
} from '../../../support/nfs4-replies.ts';

const FH = Buffer.from([1, 2, 3]);
const ZERO8 = Buffer.alloc(8);
const LOOKUP_OPS: Op[] = [
  { op: 'PUTFH', fh: FH },
  { op: 'LOOKUP', name: 'a' },
  { op: 'GETFH' },
  { op: 'GETATTR', attrs: OBJECT_ATTRS },
];
const DIR_ATTRS = objectAttrs({
  type: 2,
  fsid: [7n, 9n],
  fileid: 42n,
  mode: 0o40755,
  owner: '1000',
  group: '1001@x',
});

function decodeError(bytes: Buffer, ops: readonly Op[]): string {
  try {
    decodeCompound(bytes, ops);
  } catch (err) {
    expect(err).to.be.instanceOf(RpcDecodeError);
    return (err as Error).message;
  }
  expect.fail('decoded without an error');
}

describe('NFSv4 COMPOUND encoding', () => {
  // Header of every call: tag "" (length 0), minorversion 0, operation count.
  it('encodes PUTROOTFH and GETFH as bare operation numbers', () => {
    expect(encodeCompound([{ op: 'PUTROOTFH' }, { op: 'GETFH' }])).to.deep.equal(words(0, 0, 2, 24, 10));
  });

  it('encodes PUTFH, LOOKUP, REMOVE and SAVEFH with padded opaques', () => {
    const bytes = encodeCompound([
      { op: 'PUTFH', fh: FH },
      { op: 'LOOKUP', name: 'abcde' },
      { op: 'SAVEFH' },
      { op: 'REMOVE', name: 'x' },
    ]);
    expect(bytes).to.deep.equal(
      words(0, 0, 4, 22, 3, '\x01\x02\x03\0', 15, 5, 'abcde\0\0\0', 32, 28, 1, 'x\0\0\0'),
    );
  });

  it('encodes GETATTR with a two-word bitmap', () => {
    // bits 1, 8, 20 in word 0; 33, 36, 37 are bits 1, 4, 5 of word 1.
    expect(encodeCompound([{ op: 'GETATTR', attrs: OBJECT_ATTRS }])).to.deep.equal(
      words(0, 0, 1, 9, 2, 0x0010_0102, 0x32),
    );
  });

  it('encodes CREATE of a directory with mode, owner and owner_group', () => {
    const bytes = encodeCompound([{ op: 'CREATE', name: 'd', attrs: { mode: 0o755, uid: 1000, gid: 1001 } }]);
    expect(bytes).to.deep.equal(
      words(0, 0, 1, 6, 2, 1, 'd\0\0\0', 2, 0, 0x32, 20, 0o755, 4, '1000', 4, '1001'),
    );
  });

  it('encodes CREATE with the mode only when no uid or gid is given', () => {
    const bytes = encodeCompound([{ op: 'CREATE', name: 'd', attrs: { mode: 0o700 } }]);
    expect(bytes).to.deep.equal(words(0, 0, 1, 6, 2, 1, 'd\0\0\0', 2, 0, 0x02, 4, 0o700));
  });

  it('encodes RENAME and READDIR', () => {
    const bytes = encodeCompound([
      { op: 'RENAME', from: 'a', to: 'bc' },
      { op: 'READDIR', cookie: 0x1_0000_0005n, verifier: ZERO8, dircount: 1024, maxcount: 2048, attrs: [1] },
    ]);
    expect(bytes).to.deep.equal(
      words(0, 0, 2, 29, 1, 'a\0\0\0', 2, 'bc\0\0', 26, 1, 5, 0, 0, 1024, 2048, 1, 2),
    );
  });

  it('encodes SETATTR of the mode with the anonymous stateid', () => {
    expect(encodeCompound([{ op: 'SETATTR', mode: 0o2775 }])).to.deep.equal(
      words(0, 0, 1, 34, 0, 0, 0, 0, 2, 0, 0x02, 4, 0o2775),
    );
  });

  it('refuses, before encoding, names and handles no call may carry', () => {
    for (const name of ['', '.', '..', 'a/b', 'a\0b', 'x'.repeat(256), '\ud800']) {
      expect(() => encodeCompound([{ op: 'LOOKUP', name }]), JSON.stringify(name)).to.throw(RangeError);
    }
    expect(() => encodeCompound([{ op: 'LOOKUP', name: 'é'.repeat(127) }])).not.to.throw();
    expect(() => encodeCompound([{ op: 'LOOKUP', name: 'é'.repeat(128) }])).to.throw(RangeError, /256 bytes/);
    expect(() => encodeCompound([{ op: 'PUTFH', fh: Buffer.alloc(129) }])).to.throw(RangeError, /128/);
    expect(() => encodeCompound([{ op: 'PUTFH', fh: Buffer.alloc(0) }])).to.throw(RangeError);
    expect(() => encodeCompound([{ op: 'CREATE', name: 'd', attrs: { mode: 0o10000 } }])).to.throw(
      RangeError,
      /mode/,
    );
    expect(() => encodeCompound([{ op: 'CREATE', name: 'd', attrs: { mode: 0o755, uid: -1 } }])).to.throw(
      RangeError,
      /uid/,
    );
  });
});

describe('NFSv4 COMPOUND decoding', () => {
  it('decodes a successful LOOKUP with its handle and attributes', () => {
    const reply = compound(
      0,
      result(22),
      result(15),
      result(10, 0, opaque(Buffer.from('handle'))),
      result(9, 0, DIR_ATTRS),
    );
    const { status, results } = decodeCompound(reply, LOOKUP_OPS);
    expect(status).to.equal(0);
    expect(results.map((r) => r.op)).to.deep.equal(['PUTFH', 'LOOKUP', 'GETFH', 'GETATTR']);
    expect(results[2]?.fh?.toString()).to.equal('handle');
    expect(results[3]?.attrs).to.deep.equal({
      type: 2,
      fsid: { major: 7n, minor: 9n },
      fileid: 42n,
      mode: 0o40755,
      owner: '1000',
      ownerGroup: '1001@x',
    });
  });

  it('stops at the operation that failed and reports its status', () => {
    const { status, results } = decodeCompound(compound(2, result(22), result(15, 2)), LOOKUP_OPS);
    expect(status).to.equal(2);
    expect(results.at(-1)).to.deep.equal({ op: 'LOOKUP', status: 2 });
  });

  it('keeps a status it has no name for, and names it by number', () => {
    const { status } = decodeCompound(compound(12345, result(22), result(15, 12345)), LOOKUP_OPS);
    expect(status).to.equal(12345);
    expect(statusName(12345)).to.equal('NFS4ERR_UNKNOWN_12345');
    const err = new Nfs4Error(12345, 'LOOKUP', 'of "a"');
    expect(err.code).to.equal('NFS4ERR_UNKNOWN_12345');
    expect(err.message).to.include('LOOKUP').and.include('NFS4ERR_UNKNOWN_12345');
    expect(new Nfs4Error(13, 'CREATE', 'x').message).to.match(/NFS4ERR_ACCESS.*root squash/);
  });

  it('reads the attrsset SETATTR carries even when it failed', () => {
    const ops: Op[] = [
      { op: 'PUTFH', fh: FH },
      { op: 'SETATTR', mode: 0o755 },
    ];
    expect(
      decodeCompound(compound(1, result(22), result(34, 1, words(0))), ops).results.at(-1),
    ).to.deep.equal({
      op: 'SETATTR',
      status: 1,
    });
    expect(decodeCompound(compound(0, result(22), result(34, 0, words(2, 0, 2))), ops).status).to.equal(0);
  });

  it('accepts a failed compound with no results (the server named no operation)', () => {
    expect(decodeCompound(compound(10021), LOOKUP_OPS)).to.deep.equal({ status: 10021, results: [] });
  });

  it('refuses every truncation of a good reply', () => {
    const reply = compound(
      0,
      result(22),
      result(15),
      result(10, 0, opaque(Buffer.from('handle'))),
      result(9, 0, DIR_ATTRS),
    );
    for (let n = 0; n < reply.length; n += 1) {
      expect(() => decodeCompound(reply.subarray(0, n), LOOKUP_OPS), `length ${String(n)}`).to.throw(
        RpcDecodeError,
      );
    }
  });

  it('refuses bytes after the results', () => {
    expect(
      decodeError(Buffer.concat([compound(2, result(22), result(15, 2)), words(0)]), LOOKUP_OPS),
    ).to.match(/4 bytes after/);
  });

  it('refuses a result count of 2^31 without reading further', () => {
    expect(decodeError(words(0, 0, 0x8000_0000), LOOKUP_OPS)).to.match(/2147483648 results for 4/);
  });

  it('refuses results for operations not sent, or in another order', () => {
    expect(decodeError(compound(0, result(22), result(28, 0, CHANGE_INFO)), LOOKUP_OPS.slice(0, 2))).to.match(
      /REMOVE, not LOOKUP/,
    );
    expect(decodeError(compound(0, result(22)), LOOKUP_OPS)).to.match(/1 results for 4/);
    expect(decodeError(compound(0, result(22, 2), result(15, 2)), LOOKUP_OPS)).to.match(/results follow/);
    expect(decodeError(compound(13, result(22), result(15, 2)), LOOKUP_OPS)).to.match(/not its last/);
  });

  it('refuses a file handle longer than 128 bytes, and an empty one', () => {
    const ops = LOOKUP_OPS.slice(0, 3);
    expect(
      decodeError(compound(0, result(22), result(15), result(10, 0, opaque(Buffer.alloc(129)))), ops),
    ).to.match(/129 bytes long, more than the 128/);
    expect(
      decodeError(compound(0, result(22), result(15), result(10, 0, opaque(Buffer.alloc(0)))), ops),
    ).to.match(/empty/);
    expect(decodeError(compound(0, result(22), result(15), result(10, 0, words(0xffff_ffff))), ops)).to.match(
      /more than the 128/,
    );
  });

  it('refuses attributes that were not asked for, since their size is unknown', () => {
    // bit 4 (size) and bit 60 (beyond v4.0) set beside type.
    for (const mask of [words(1, 0x12), words(2, 0x2, 0x1000_0000)]) {
      const attrs = Buffer.concat([mask, opaque(words(2, 0, 0))]);
      expect(
        decodeError(
          compound(0, result(22), result(15), result(10, 0, opaque(FH)), result(9, 0, attrs)),
          LOOKUP_OPS,
        ),
      ).to.match(/not asked for/);
    }
  });

  it('refuses an attribute bitmap of 2^31 words, and values longer or shorter than the bits say', () => {
    const head = [result(22), result(15), result(10, 0, opaque(FH))];
    expect(decodeError(compound(0, ...head, result(9, 0, words(0x8000_0000))), LOOKUP_OPS)).to.match(
      /2147483648 words/,
    );
    const extra = fattr([1], words(2, 0));
    expect(decodeError(compound(0, ...head, result(9, 0, extra)), LOOKUP_OPS)).to.match(/4 bytes beyond/);
    const short = fattr([1, 20], words(2, 0));
    expect(decodeError(compound(0, ...head, result(9, 0, short)), LOOKUP_OPS)).to.match(/truncated/);
    const owner = fattr([36], opaque('x'.repeat(1025)));
    expect(decodeError(compound(0, ...head, result(9, 0, owner)), LOOKUP_OPS)).to.match(
      /owner is 1025 bytes/,
    );
  });

  it('decodes READDIR entries with cookies, names, handles and eof', () => {
    const ops: Op[] = [
      { op: 'PUTFH', fh: FH },
      { op: 'READDIR', cookie: 0n, verifier: ZERO8, dircount: 4096, maxcount: 4096, attrs: ENTRY_ATTRS },
    ];
    const body = readdirBody(
      Buffer.from('verifier'),
      [
        {
          cookie: 3n,
          name: 'a',
          attrs: objectAttrs({ type: 1, fsid: [1n, 1n], fileid: 5n, fh: Buffer.from('fa') }),
        },
        { cookie: 2n ** 63n, name: 'bé', attrs: objectAttrs({ type: 5, fsid: [1n, 1n], fileid: 6n }) },
      ],
      true,
    );
    const { results } = decodeCompound(compound(0, result(22), result(26, 0, body)), ops);
    const listing = results[1]?.listing;
    expect(listing?.eof).to.equal(true);
    expect(listing?.verifier.toString()).to.equal('verifier');
    expect(listing?.entries.map((e) => [e.cookie, e.name, e.attrs.filehandle?.toString()])).to.deep.equal([
      [3n, 'a', 'fa'],
      [2n ** 63n, 'bé', undefined],
    ]);
  });

  it('refuses READDIR entry names that are not one component', () => {
    const ops: Op[] = [
      { op: 'PUTFH', fh: FH },
      { op: 'READDIR', cookie: 0n, verifier: ZERO8, dircount: 4096, maxcount: 4096, attrs: ENTRY_ATTRS },
    ];
    const attrs = objectAttrs({ type: 1, fsid: [1n, 1n], fileid: 5n });
    for (const [name, why] of [
      ['..', /"\.\."/],
      ['a/b', /contains "\/"/],
      ['', /empty/],
      [Buffer.from([0x66, 0xff, 0x2f]), /contains "\/"/],
      [Buffer.from([0xfe, 0x00]), /contains NUL/],
      ['x'.repeat(256), /256 bytes long/],
    ] as const) {
      const body = readdirBody(ZERO8, [{ cookie: 1n, name, attrs }], true);
      expect(decodeError(compound(0, result(22), result(26, 0, body)), ops), String(name)).to.match(why);
    }
    // A name that is not UTF-8 is a name all the same (POSIX names are bytes):
    // shown with \xNN escapes, its exact bytes kept to send back.
    const odd = Buffer.from([0x66, 0xff, 0xc3, 0xa9]);
    const body = readdirBody(ZERO8, [{ cookie: 1n, name: odd, attrs }], true);
    const [entry] =
      decodeCompound(compound(0, result(22), result(26, 0, body)), ops).results[1]?.listing?.entries ?? [];
    expect(entry?.name).to.equal('f\\xffé');
    expect(entry?.raw?.equals(odd)).to.equal(true);
    // An entry list that never ends runs into the end of the reply.
    const endless = Buffer.concat([ZERO8, words(1), u64(1n), opaque('a'), attrs]);
    expect(decodeError(compound(0, result(22), result(26, 0, endless)), ops)).to.match(/truncated/);
  });
});
