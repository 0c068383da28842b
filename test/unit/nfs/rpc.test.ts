import { expect } from 'chai';

import {
  RecordReader,
  RpcDecodeError,
  XdrReader,
  XdrWriter,
  decodeExportList,
  decodeGetportResult,
  decodeReply,
  describeReply,
  encodeCall,
  encodeExportList,
  encodeGetportArgs,
  encodeRecord,
} from '../../../src/nfs/rpc.ts';

/** Big-endian 32-bit words, then raw bytes, as one buffer. */
function words(...items: (number | string)[]): Buffer {
  return Buffer.concat(
    items.map((item) => {
      if (typeof item === 'string') return Buffer.from(item, 'latin1');
      const b = Buffer.alloc(4);
      b.writeUInt32BE(item >>> 0);
      return b;
    }),
  );
}

describe('ONC RPC codec', () => {
  describe('XDR', () => {
    it('writes unsigned ints, bools, and opaques and strings padded to four bytes', () => {
      const bytes = new XdrWriter()
        .uint32(0xdeadbeef)
        .bool(true)
        .string('abcde')
        .opaque(Buffer.from([1, 2, 3, 4]))
        .bytes();
      expect(bytes).to.deep.equal(
        Buffer.concat([
          words(0xdeadbeef, 1, 5),
          Buffer.from('abcde\0\0\0', 'latin1'),
          words(4),
          Buffer.from([1, 2, 3, 4]),
        ]),
      );
    });

    it('refuses values that are not unsigned 32-bit ints', () => {
      for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
        expect(() => new XdrWriter().uint32(bad)).to.throw(RangeError);
      }
    });

    it('reads back what it wrote and says where input runs out', () => {
      const r = new XdrReader(words(7, 3, 'xyz\0', 9));
      expect(r.uint32()).to.equal(7);
      expect(r.string(10)).to.equal('xyz');
      expect(r.uint32()).to.equal(9);
      expect(r.remaining).to.equal(0);
      expect(() => r.uint32('port')).to.throw(
        RpcDecodeError,
        'truncated: port needs 4 bytes at offset 16, 0 left',
      );
    });

    it('refuses an opaque longer than allowed, or whose padding is missing', () => {
      expect(() => new XdrReader(words(2000)).opaque(1024, 'dirpath')).to.throw(
        RpcDecodeError,
        'dirpath is 2000 bytes long, more than the 1024 allowed',
      );
      expect(() => new XdrReader(words(3, 'abc')).opaque(10, 'name')).to.throw(
        RpcDecodeError,
        'truncated: name',
      );
      expect(() => new XdrReader(words(0xffffffff)).opaque(0xffffffff)).to.throw(RpcDecodeError, 'truncated');
    });

    it('refuses a bool that is neither 0 nor 1', () => {
      expect(() => new XdrReader(words(2)).bool('more')).to.throw(RpcDecodeError, 'more is 2, not 0 or 1');
    });
  });

  describe('record marking', () => {
    it('frames a message as one last fragment', () => {
      expect(encodeRecord(Buffer.from('abcd'))).to.deep.equal(words(0x80000004, 'abcd'));
    });

    it('splits a message into fragments, only the final one marked last', () => {
      expect(encodeRecord(Buffer.from('abcdefghij'), 4)).to.deep.equal(
        words(4, 'abcd', 4, 'efgh', 0x80000002, 'ij'),
      );
      expect(encodeRecord(Buffer.alloc(0))).to.deep.equal(words(0x80000000));
    });

    it('reassembles records from fragments arriving a byte at a time', () => {
      // The first record ends with an empty last fragment, which is allowed after bytes.
      const stream = Buffer.concat([words(3, 'abc', 2, 'de', 0x80000000), words(0x80000001, 'f')]);
      const reader = new RecordReader();
      const records: Buffer[] = [];
      for (const byte of stream) records.push(...reader.push(Buffer.from([byte])));
      expect(records.map((r) => r.toString())).to.deep.equal(['abcde', 'f']);
      expect(reader.midRecord).to.be.false;
    });

    it('returns several records from one chunk and keeps a partial one for later', () => {
      const reader = new RecordReader();
      const first = reader.push(words(0x80000001, 'a', 0x80000001, 'b', 0x80000004, 'cd'));
      expect(first.map((r) => r.toString())).to.deep.equal(['a', 'b']);
      expect(reader.midRecord).to.be.true;
      expect(reader.push(Buffer.from('ef')).map((r) => r.toString())).to.deep.equal(['cdef']);
    });

    it('refuses a record larger than the bound as soon as a header announces it', () => {
      const reader = new RecordReader(1024);
      expect(() => reader.push(words(0x80000401))).to.throw(RpcDecodeError, 'record of more than 1024 bytes');
      // The stream is unusable afterwards.
      expect(() => reader.push(words(0x80000001, 'a'))).to.throw(RpcDecodeError);
    });

    it('counts every fragment of a record against the bound', () => {
      const reader = new RecordReader(8);
      reader.push(words(4, 'abcd', 4, 'efgh'));
      expect(() => reader.push(words(0x80000001))).to.throw(RpcDecodeError, 'more than 8 bytes');
    });

    it('refuses limits that are not positive integers up to 2^31 - 1', () => {
      for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
        expect(() => new RecordReader(bad)).to.throw(RangeError, 'maxRecordBytes');
        expect(() => new RecordReader(1024, bad)).to.throw(RangeError, 'maxFragments');
      }
    });

    it('reads an HTTP response as an oversized record, not as a wait for 1 GiB', () => {
      const reader = new RecordReader();
      expect(() => reader.push(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'))).to.throw(
        RpcDecodeError,
        'fragment header 0x48545450',
      );
    });
  });

  describe('calls', () => {
    it('encodes a NULL call with AUTH_NONE', () => {
      expect(encodeCall({ xid: 0x01020304, prog: 100003, vers: 4, proc: 0 })).to.deep.equal(
        words(0x01020304, 0, 2, 100003, 4, 0, 0, 0, 0, 0),
      );
    });

    it('encodes AUTH_SYS credentials and appends the arguments', () => {
      const call = encodeCall({
        xid: 1,
        prog: 100000,
        vers: 2,
        proc: 3,
        args: encodeGetportArgs({ prog: 100005, vers: 3, prot: 6 }),
        authSys: { stamp: 42, machineName: 'op', uid: 0, gid: 0, gids: [5] },
      });
      expect(call).to.deep.equal(
        words(1, 0, 2, 100000, 2, 3, 1, 28, 42, 2, 'op\0\0', 0, 0, 1, 5, 0, 0, 100005, 3, 6, 0),
      );
    });
  });

  describe('replies', () => {
    it('decodes SUCCESS with its results, skipping the verifier', () => {
      const reply = decodeReply(words(9, 1, 0, 1, 8, 'verifier', 0, 2049));
      expect(reply).to.deep.equal({
        xid: 9,
        status: 'accepted',
        acceptStat: 'SUCCESS',
        results: words(2049),
      });
    });

    it('decodes PROG_MISMATCH with the lowest and highest versions', () => {
      expect(decodeReply(words(9, 1, 0, 0, 0, 2, 2, 4))).to.deep.equal({
        xid: 9,
        status: 'accepted',
        acceptStat: 'PROG_MISMATCH',
        low: 2,
        high: 4,
      });
    });

    it('decodes the other accept_stat values', () => {
      const names = ['PROG_UNAVAIL', 'PROC_UNAVAIL', 'GARBAGE_ARGS', 'SYSTEM_ERR'];
      names.forEach((name, i) => {
        const code = i === 0 ? 1 : i + 2;
        expect(decodeReply(words(1, 1, 0, 0, 0, code))).to.deep.include({ acceptStat: name });
      });
    });

    it('decodes MSG_DENIED: RPC_MISMATCH and AUTH_ERROR', () => {
      expect(decodeReply(words(5, 1, 1, 0, 2, 2))).to.deep.equal({
        xid: 5,
        status: 'denied',
        rejectStat: 'RPC_MISMATCH',
        low: 2,
        high: 2,
      });
      const auth = decodeReply(words(5, 1, 1, 1, 5));
      expect(auth).to.deep.equal({
        xid: 5,
        status: 'denied',
        rejectStat: 'AUTH_ERROR',
        authStat: 'AUTH_TOOWEAK',
      });
      expect(describeReply(auth)).to.equal('call denied: AUTH_TOOWEAK');
    });

    const malformed: [string, Buffer, string][] = [
      ['an empty message', Buffer.alloc(0), 'truncated: xid'],
      ['a call', words(1, 0, 2, 100003, 4, 0), 'msg_type is 0 (a call), not 1 (a reply)'],
      ['an unknown msg_type', words(1, 7), 'msg_type is 7'],
      ['an unknown reply_stat', words(1, 1, 2), 'unknown reply_stat 2'],
      ['an unknown accept_stat', words(1, 1, 0, 0, 0, 6), 'unknown accept_stat 6'],
      ['an unknown reject_stat', words(1, 1, 1, 3), 'unknown reject_stat 3'],
      ['a truncated verifier', words(1, 1, 0, 0, 8, 'ver'), 'truncated: verifier body'],
      ['a verifier over 400 bytes', words(1, 1, 0, 0, 401), 'verifier body is 401 bytes long'],
      ['PROG_MISMATCH without high', words(1, 1, 0, 0, 0, 2, 2), 'truncated: mismatch high'],
      ['AUTH_ERROR without auth_stat', words(1, 1, 1, 1), 'truncated: auth_stat'],
    ];
    for (const [what, bytes, error] of malformed) {
      it(`refuses ${what}`, () => {
        expect(() => decodeReply(bytes)).to.throw(RpcDecodeError, error);
      });
    }
  });

  describe('portmapper GETPORT', () => {
    it('encodes the mapping with port 0 and decodes the port', () => {
      expect(encodeGetportArgs({ prog: 100005, vers: 3, prot: 6 })).to.deep.equal(words(100005, 3, 6, 0));
      expect(decodeGetportResult(words(20048))).to.equal(20048);
      expect(decodeGetportResult(words(0))).to.equal(0);
    });

    it('refuses a missing or impossible port', () => {
      expect(() => decodeGetportResult(Buffer.alloc(2))).to.throw(RpcDecodeError, 'truncated: port');
      expect(() => decodeGetportResult(words(70000))).to.throw(RpcDecodeError, 'port 70000');
    });
  });

  describe('MOUNT v3 EXPORT', () => {
    it('decodes the linked list of exports and their groups', () => {
      const bytes = words(1, 4, '/srv', 1, 1, '*\0\0\0', 1, 10, 'client.lan\0\0', 0, 1, 8, '/data/ab', 0, 0);
      expect(bytes.length % 4).to.equal(0);
      expect(decodeExportList(bytes)).to.deep.equal([
        { dir: '/srv', groups: ['*', 'client.lan'] },
        { dir: '/data/ab', groups: [] },
      ]);
    });

    it('decodes an empty list', () => {
      expect(decodeExportList(words(0))).to.deep.equal([]);
    });

    it('reads back what encodeExportList writes', () => {
      const entries = [
        { dir: '/a', groups: [] },
        { dir: '/b/c', groups: ['10.0.0.0/8', 'host'] },
      ];
      expect(decodeExportList(encodeExportList(entries))).to.deep.equal(entries);
    });

    const malformed: [string, Buffer, string][] = [
      ['an empty result', Buffer.alloc(0), 'truncated: export entry 1 present'],
      ['a list without its terminator', words(1, 2, '/a\0\0', 0), 'truncated: export entry 2 present'],
      [
        'a group list without its terminator',
        words(1, 2, '/a\0\0', 1, 1, 'x\0\0\0'),
        'truncated: group 2 of /a',
      ],
      ['a dirpath past the end', words(1, 100, '/a'), 'truncated: dirpath of export entry 1'],
      ['a dirpath over 1024 bytes', words(1, 1025), 'more than the 1024 allowed'],
      ['a group name over 255 bytes', words(1, 2, '/a\0\0', 1, 256), 'more than the 255 allowed'],
      ['a bad "more" flag', words(1, 2, '/a\0\0', 0, 3), 'export entry 2 present is 3'],
    ];
    for (const [what, bytes, error] of malformed) {
      it(`refuses ${what}`, () => {
        expect(() => decodeExportList(bytes)).to.throw(RpcDecodeError, error);
      });
    }

    it('ends on a long run of entries with the buffer, never looping', () => {
      // 10 000 entries without a terminator: the decoder stops at the end of the buffer.
      const entry = words(1, 0, 0);
      const bytes = Buffer.concat(Array.from({ length: 10_000 }, () => entry));
      expect(() => decodeExportList(bytes)).to.throw(RpcDecodeError, 'export entry 10001 present');
    });
  });
});
