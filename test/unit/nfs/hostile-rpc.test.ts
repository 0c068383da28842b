// Hostile NFS servers, one `it` per hostile input: what the record reader,
// the reply decoders and the probe (against real loopback sockets) do with
// input no honest server sends. Each case says what it expects: one clear
// error or probe reason, memory held within the bound, sockets closed.
import { expect } from 'chai';

import {
  EXCHANGE_BUDGET_BYTES,
  MAX_REPLY_BYTES,
  type ProbeOptions,
  probeServer,
} from '../../../src/nfs/probe.ts';
import {
  PROGRAM,
  RecordReader,
  RpcDecodeError,
  RpcLimitError,
  decodeExportList,
  decodeReply,
  encodeExportList,
  encodeRecord,
} from '../../../src/nfs/rpc.ts';
import {
  type FakeCall,
  type FakeRpcServer,
  type FakeRpcServerOptions,
  acceptedReply,
  closedPort,
  mountProgram,
  nfsProgram,
  portmapperProgram,
  startFakeRpcServer,
} from '../../support/fake-rpc-server.ts';

const MiB = 1024 * 1024;

/** Big-endian 32-bit words, then raw bytes, as one buffer. */
function words(...items: (number | string | Buffer)[]): Buffer {
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

/** Pushes chunks until one throws; returns what came out, the error, and the most bytes held. */
function feed(reader: RecordReader, chunks: Iterable<Buffer>) {
  const records: Buffer[] = [];
  let error: unknown;
  let peak = 0;
  let throws = 0;
  for (const chunk of chunks) {
    try {
      records.push(...reader.push(chunk));
    } catch (err) {
      error ??= err;
      throws++;
      // Once failed, every later push gives the same error, without reading.
      expect(err).to.equal(error);
    }
    peak = Math.max(peak, reader.bufferedBytes);
  }
  return { records, error, peak, throws };
}

function* repeat(chunk: Buffer, times: number): Generator<Buffer> {
  for (let i = 0; i < times; i++) yield chunk;
}

function* slices(bytes: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** 64 KiB chunks of zero bytes: 16 384 empty non-final fragment headers each. */
function zeros(total: number): Generator<Buffer> {
  return repeat(Buffer.alloc(64 * 1024), Math.ceil(total / (64 * 1024)));
}

/** Replies to every call but the right one, forever: 256 framed wrong-xid replies per chunk. */
function* wrongXidReplies(call: FakeCall): Generator<Buffer> {
  const batch = Buffer.concat(
    Array.from({ length: 256 }, (_, i) => encodeRecord(acceptedReply((call.xid + 1 + i) >>> 0, 0))),
  );
  for (;;) yield batch;
}

/** Runs fn while sampling heapUsed every 5 ms; returns its result and the heap's growth in MiB. */
async function heapDuring<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; baseMiB: number; growthMiB: number }> {
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 5);
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { value, baseMiB: base / MiB, growthMiB: (peak - base) / MiB };
  } finally {
    clearInterval(timer);
  }
}

describe('Hostile NFS servers', () => {
  describe('record reader', () => {
    it('refuses an empty fragment that is not the last, at its header', () => {
      const reader = new RecordReader();
      expect(() => reader.push(words(0))).to.throw(RpcLimitError, 'empty fragment that is not the last');
      expect(reader.bufferedBytes).to.equal(0);
    });

    it('refuses 64 MiB of zero bytes at the first four, holding nothing', () => {
      const reader = new RecordReader();
      const started = performance.now();
      const { records, error, peak, throws } = feed(reader, zeros(64 * MiB));
      const ms = performance.now() - started;
      expect(error).to.be.instanceOf(RpcLimitError);
      expect(records).to.be.empty;
      expect(throws).to.equal(1024); // every chunk, the same error
      expect(peak).to.equal(0);
      expect(reader.copiedBytes).to.equal(4);
      console.log(`      64 MiB of zeros refused in ${ms.toFixed(1)} ms`);
    });

    it('refuses an empty record (a last fragment of length 0 with nothing before it)', () => {
      expect(() => new RecordReader().push(words(0x80000000))).to.throw(RpcLimitError, 'empty record');
    });

    it('refuses a 65th fragment, having taken a record of 64', () => {
      const reader = new RecordReader();
      const of64 = encodeRecord(Buffer.alloc(64, 1), 1);
      expect(reader.push(of64).map((r) => r.length)).to.deep.equal([64]);
      const of65 = encodeRecord(Buffer.alloc(65, 1), 1);
      expect(() => reader.push(of65)).to.throw(RpcLimitError, 'record of more than 64 fragments');
    });

    it('refuses endless one-byte fragments arriving a byte at a time, holding at most 64 bytes', () => {
      const stream = Buffer.concat(Array.from({ length: 1000 }, () => words(1, 'x')));
      const { error, peak } = feed(new RecordReader(), slices(stream, 1));
      expect(error).to.be.instanceOf(RpcLimitError);
      expect((error as Error).message).to.contain('more than 64 fragments');
      expect(peak).to.be.at.most(64 + 3);
    });

    it('refuses a header announcing 2^31 - 1 bytes before holding any of them', () => {
      const reader = new RecordReader();
      const { error, peak } = feed(reader, [words(0xffffffff), Buffer.alloc(64 * 1024)]);
      expect(error).to.be.instanceOf(RpcDecodeError).and.not.instanceOf(RpcLimitError);
      expect((error as Error).message).to.contain('announces 2147483647');
      expect(peak).to.equal(0);
    });

    it('refuses fragments adding up past 1 MiB at the header that crosses it', () => {
      const half = Buffer.alloc(MiB / 2, 7);
      const stream = words(MiB / 2, half, MiB / 2, half, 0x80000001, 'x');
      const { records, error, peak } = feed(new RecordReader(), slices(stream, 4096));
      expect(records).to.be.empty;
      expect((error as Error).message).to.contain('record of more than 1048576 bytes');
      expect(peak).to.be.at.most(MiB + 3);
    });

    it('holds at most the bound for a record of exactly 1 MiB sent 4 KiB at a time, then nothing', () => {
      const reader = new RecordReader();
      const { records, error, peak } = feed(reader, slices(encodeRecord(Buffer.alloc(MiB, 9)), 4096));
      expect(error).to.be.undefined;
      expect(records.map((r) => r.length)).to.deep.equal([MiB]);
      expect(peak).to.be.at.most(MiB + 3);
      expect(reader.bufferedBytes).to.equal(0);
    });

    it('stays failed: a valid record after an error is not read', () => {
      const reader = new RecordReader();
      let first: unknown;
      try {
        reader.push(words(0, 0x80000001, 'a'));
      } catch (err) {
        first = err;
      }
      expect(first).to.be.instanceOf(RpcLimitError);
      expect(() => reader.push(words(0x80000001, 'b')))
        .to.throw()
        .that.equals(first);
      expect(reader.error).to.equal(first);
    });

    it('copies a 1 MiB record arriving a byte at a time once per byte, not once per chunk', () => {
      const stream = encodeRecord(Buffer.alloc(MiB - 8, 3));
      const reader = new RecordReader();
      const started = performance.now();
      const { records } = feed(reader, slices(stream, 1));
      const ms = performance.now() - started;
      expect(records.map((r) => r.length)).to.deep.equal([MiB - 8]);
      expect(reader.copiedBytes).to.equal(stream.length);
      console.log(
        `      1 MiB in 1-byte chunks: ${ms.toFixed(0)} ms, ${String(reader.copiedBytes)} bytes copied`,
      );
    });

    it('copies a record of 64 fragments in 7-byte chunks at most twice per byte', () => {
      const stream = encodeRecord(Buffer.alloc(64 * 1000, 5), 1000);
      const reader = new RecordReader();
      const { records } = feed(reader, slices(stream, 7));
      expect(records.map((r) => r.length)).to.deep.equal([64_000]);
      expect(reader.copiedBytes).to.be.at.most(2 * stream.length);
    });

    it('gives 100 000 one-byte records in one chunk each once, holding nothing after', () => {
      const reader = new RecordReader();
      const records = reader.push(
        Buffer.concat(Array.from({ length: 100_000 }, () => words(0x80000001, 'r'))),
      );
      expect(records).to.have.length(100_000);
      expect(reader.bufferedBytes).to.equal(0);
      expect(reader.midRecord).to.be.false;
    });
  });

  describe('reply decoder', () => {
    it('refuses every truncation of a SUCCESS reply with a 400-byte verifier', () => {
      const full = words(7, 1, 0, 1, 400, Buffer.alloc(400, 0x61), 0);
      expect(decodeReply(full)).to.deep.include({ acceptStat: 'SUCCESS' });
      for (let length = 0; length < full.length; length++) {
        expect(() => decodeReply(full.subarray(0, length)), `prefix of ${String(length)}`).to.throw(
          RpcDecodeError,
          'truncated',
        );
      }
    });

    it('refuses a verifier announcing 4 GiB by its length, without reading on', () => {
      expect(() => decodeReply(words(7, 1, 0, 0, 0xffffffff))).to.throw(
        RpcDecodeError,
        'verifier body is 4294967295 bytes long, more than the 400 allowed',
      );
    });

    it('refuses msg_type, reply_stat and accept_stat of 2^32 - 1, naming the value', () => {
      expect(() => decodeReply(words(7, 0xffffffff))).to.throw(RpcDecodeError, 'msg_type is 4294967295');
      expect(() => decodeReply(words(7, 1, 0xffffffff))).to.throw(
        RpcDecodeError,
        'unknown reply_stat 4294967295',
      );
      expect(() => decodeReply(words(7, 1, 0, 0, 0, 0xffffffff))).to.throw(
        RpcDecodeError,
        'unknown accept_stat 4294967295',
      );
    });

    it('describes an AUTH_ERROR with an auth_stat past the known ones, never indexing past the table', () => {
      expect(decodeReply(words(7, 1, 1, 1, 0xffffffff))).to.deep.include({
        authStat: 'auth_stat 4294967295',
      });
    });

    it('keeps 1 MiB of SUCCESS results as a view of the record, not a copy', () => {
      const message = words(7, 1, 0, 0, 0, 0, Buffer.alloc(MiB - 24, 1));
      const reply = decodeReply(message);
      if (reply.status !== 'accepted' || reply.acceptStat !== 'SUCCESS') throw new Error('not SUCCESS');
      expect(reply.results.length).to.equal(MiB - 24);
      expect(reply.results.buffer).to.equal(message.buffer);
    });
  });

  describe('export list decoder', () => {
    it('refuses every truncation of a valid export list', () => {
      const full = encodeExportList([
        { dir: '/srv/a', groups: ['*', '10.0.0.0/8'] },
        { dir: '/srv/bb', groups: [] },
      ]);
      for (let length = 0; length < full.length; length++) {
        expect(() => decodeExportList(full.subarray(0, length)), `prefix of ${String(length)}`).to.throw(
          RpcDecodeError,
          'truncated',
        );
      }
    });

    it('refuses a dirpath announcing 4 GiB by its length', () => {
      expect(() => decodeExportList(words(1, 0xffffffff))).to.throw(
        RpcDecodeError,
        'more than the 1024 allowed',
      );
    });

    it('refuses a group name announcing 2^32 - 4 bytes by its length', () => {
      expect(() => decodeExportList(words(1, 2, '/a\0\0', 1, 0xfffffffc))).to.throw(
        RpcDecodeError,
        '4294967292 bytes long, more than the 255 allowed',
      );
    });

    it('decodes 87 379 empty entries filling a 1 MiB reply in one pass', () => {
      const count = Math.floor((MiB - 24 - 4) / 12);
      const list = Buffer.concat([...repeat(words(1, 0, 0), count), words(0)]);
      const started = performance.now();
      const entries = decodeExportList(list);
      const ms = performance.now() - started;
      expect(entries).to.have.length(count);
      expect(entries[count - 1]).to.deep.equal({ dir: '', groups: [] });
      console.log(`      ${String(count)} export entries decoded in ${ms.toFixed(0)} ms`);
    });

    it('decodes 131 067 groups of one entry filling a 1 MiB reply', () => {
      const count = Math.floor((MiB - 24 - 20) / 8);
      const list = Buffer.concat([words(1, 2, '/a\0\0'), ...repeat(words(1, 0), count), words(0, 0)]);
      const [entry] = decodeExportList(list);
      expect(entry?.groups).to.have.length(count);
    });

    it('decodes a dirpath that is not UTF-8, never throwing on it', () => {
      const [entry] = decodeExportList(words(1, 4, Buffer.from([0x2f, 0xff, 0xfe, 0x00]), 0, 0));
      expect(entry?.dir).to.equal('/\ufffd\ufffd\u0000');
    });
  });

  describe('the probe', () => {
    const servers: FakeRpcServer[] = [];
    const start = async (options: FakeRpcServerOptions) => {
      const server = await startFakeRpcServer(options);
      servers.push(server);
      return server;
    };
    const probe = async (nfsPort: number, portmapperPort?: number, more: Partial<ProbeOptions> = {}) =>
      probeServer(
        {
          server: '127.0.0.1',
          path: '/srv/nfs',
          nfsPort,
          portmapperPort: portmapperPort ?? (await closedPort()),
        },
        { timeoutMs: 5000, ...more },
      );
    /** NFS v3+v4, and a portmapper that knows this MOUNT. */
    const withMount = async (mount: FakeRpcServerOptions) => {
      const m = await start(mount);
      const nfs = await start({ programs: nfsProgram([3, 4]) });
      const portmapper = await start({
        programs: portmapperProgram([{ prog: PROGRAM.mount, vers: 3, port: m.port }]),
      });
      return { nfs, portmapper, mount: m };
    };

    afterEach(async () => {
      // The probe has closed every socket it opened when it returns.
      try {
        for (const server of servers) await server.waitUntilIdle();
      } finally {
        await Promise.all(servers.splice(0).map((s) => s.close()));
      }
    });

    it('NFS port sending 64 MiB of zero-length fragments: Malformed at once, nothing buffered', async () => {
      const flood = await start({ stream: () => zeros(64 * MiB) });
      const started = performance.now();
      const {
        value: result,
        baseMiB,
        growthMiB,
      } = await heapDuring(() => probe(flood.port, undefined, { timeoutMs: 30_000 }));
      const ms = performance.now() - started;
      expect(result).to.deep.include({ reachable: false, reason: 'Malformed', exportChecked: false });
      expect(result.message).to.equal(
        `127.0.0.1:${String(flood.port)} broke ONC RPC record marking: empty fragment that is not the last (fragment header 0x00000000)`,
      );
      expect(result.peakBufferedBytes).to.equal(0);
      expect(result.bytesReceived).to.be.above(0).and.at.most(EXCHANGE_BUDGET_BYTES);
      await flood.waitUntilIdle();
      expect(flood.streamed).to.be.below(64 * MiB); // the probe hung up long before the end
      console.log(
        `      ${ms.toFixed(0)} ms, read ${String(result.bytesReceived)} bytes of the ${String(flood.streamed)} sent, ` +
          `heap ${baseMiB.toFixed(1)} MiB, grew ${growthMiB.toFixed(1)} MiB`,
      );
    });

    it('NFS port streaming wrong-xid replies forever: NotNfs at the first, the connection closed', async () => {
      const liar = await start({ stream: wrongXidReplies });
      const result = await probe(liar.port, undefined, { timeoutMs: 30_000 });
      expect(result).to.deep.include({ reachable: false, reason: 'NotNfs' });
      expect(result.message).to.match(/answered call (\d+) with a reply to call (\d+)$/);
      expect(result.bytesReceived).to.be.at.most(EXCHANGE_BUDGET_BYTES);
      await liar.waitUntilIdle();
      expect(liar.calls).to.have.length(1);
    });

    it('NFS port streaming wrong-xid replies to the v3 call: v4 kept, the export still checked', async () => {
      const { mount, portmapper } = await withMount({
        programs: mountProgram([{ dir: '/srv/nfs', groups: [] }]),
      });
      const nfs = await start({
        programs: nfsProgram([3, 4]),
        stream: (call) => (call.vers === 3 ? wrongXidReplies(call) : undefined),
      });
      const result = await probe(nfs.port, portmapper.port);
      expect(result).to.deep.include({ reason: 'Reachable', nfsVersions: [4], exportChecked: true });
      expect(mount.calls).to.have.length(1);
    });

    it('portmapper streaming wrong-xid replies forever: the export unchecked, the connection closed', async () => {
      const nfs = await start({ programs: nfsProgram([4]) });
      const portmapper = await start({ stream: wrongXidReplies });
      const result = await probe(nfs.port, portmapper.port, { timeoutMs: 30_000 });
      expect(result).to.deep.include({ reachable: true, reason: 'Reachable', exportChecked: false });
      expect(result.message).to.match(
        /could not be checked: portmapper at .* answered call \d+ with a reply to call \d+$/,
      );
    });

    it('MOUNT sending zero-length fragments: Malformed, not a skipped export check', async () => {
      const { nfs, portmapper, mount } = await withMount({ stream: () => zeros(64 * MiB) });
      const result = await probe(nfs.port, portmapper.port);
      expect(result).to.deep.include({ reachable: false, reason: 'Malformed', address: '127.0.0.1' });
      expect(result.message).to.equal(
        `MOUNT at 127.0.0.1:${String(mount.port)} broke ONC RPC record marking: empty fragment that is not the last (fragment header 0x00000000)`,
      );
    });

    it('a reply in 72 one-byte fragments: Malformed, naming the limit of 64', async () => {
      const nfs = await start({
        stream: (call) => [encodeRecord(acceptedReply(call.xid, 0, Buffer.alloc(48)), 1)],
      });
      const result = await probe(nfs.port);
      expect(result).to.deep.include({ reason: 'Malformed' });
      expect(result.message).to.contain('broke ONC RPC record marking: record of more than 64 fragments');
    });

    it('a header announcing 1 GiB on the NFS port: NotNfs, nothing buffered', async () => {
      const nfs = await start({ stream: () => [words(0x40000000), Buffer.alloc(64 * 1024)] });
      const result = await probe(nfs.port);
      expect(result).to.deep.include({ reason: 'NotNfs' });
      expect(result.message).to.contain('record of more than 1048576 bytes');
      expect(result.peakBufferedBytes).to.equal(0);
    });

    it('replies padded to the 1 MiB record bound on every service: Malformed at the 4 MiB budget', async () => {
      const pad = (results: Buffer) => Buffer.concat([results, Buffer.alloc(MiB - 24 - results.length)]);
      const mount = await start({
        programs: {
          [PROGRAM.mount]: {
            versions: [3],
            procedures: { 5: () => pad(encodeExportList([{ dir: '/srv/nfs', groups: [] }])) },
          },
        },
      });
      const portmapper = await start({
        programs: {
          [PROGRAM.portmapper]: { versions: [2], procedures: { 3: () => pad(words(mount.port)) } },
        },
      });
      const nfs = await start({
        programs: { [PROGRAM.nfs]: { versions: [3, 4], procedures: { 0: () => pad(Buffer.alloc(0)) } } },
      });
      const result = await probe(nfs.port, portmapper.port);
      expect(result).to.deep.include({ reachable: false, reason: 'Malformed', exportChecked: false });
      expect(result.message).to.equal(
        `MOUNT at 127.0.0.1:${String(mount.port)} sent more than 4194304 bytes, the probe's budget for all replies`,
      );
      expect(result.bytesReceived).to.be.above(EXCHANGE_BUDGET_BYTES);
      expect(result.peakBufferedBytes).to.be.at.most(MAX_REPLY_BYTES + 3);
    });

    it('an endless fragment after the v4 reply: data past a reply counts against the budget', async () => {
      const nfs = await start({
        stream: function* (call) {
          yield Buffer.concat([encodeRecord(acceptedReply(call.xid, 0)), words(MiB)]);
          yield* repeat(Buffer.alloc(16 * 1024, 0x55), 64);
        },
      });
      const result = await probe(nfs.port, undefined, { budgetBytes: 64 * 1024 });
      expect(result).to.deep.include({ reason: 'Malformed' });
      expect(result.message).to.contain("sent more than 65536 bytes, the probe's budget for all replies");
      expect(result.bytesReceived).to.be.above(64 * 1024);
    });

    it('replies sent before their calls: refused, not queued, not taken as the next answer', async () => {
      const nfs = await start({
        stream: (call) => [
          // The v4 reply, an answer to the v3 call that is yet to come, and 10 000 more.
          Buffer.concat(
            Array.from({ length: 10_002 }, (_, i) => encodeRecord(acceptedReply((call.xid + i) >>> 0, 0))),
          ),
        ],
      });
      const result = await probe(nfs.port);
      expect(result).to.deep.include({ reachable: true, reason: 'Reachable', nfsVersions: [4] });
      expect(nfs.calls.map((c) => c.vers)).to.deep.equal([4]);
    });

    it('answers that each come well inside the step timeout stop at the overall deadline: Timeout', async () => {
      const delayed = { delayMs: 150 };
      const mount = await start({ programs: mountProgram([{ dir: '/srv/nfs', groups: [] }]), ...delayed });
      const portmapper = await start({
        programs: portmapperProgram([{ prog: PROGRAM.mount, vers: 3, port: mount.port }]),
        ...delayed,
      });
      const nfs = await start({ programs: nfsProgram([3, 4]), ...delayed });
      const result = await probe(nfs.port, portmapper.port, { timeoutMs: 1000, deadlineMs: 400 });
      expect(result).to.deep.include({
        reachable: false,
        reason: 'Timeout',
        address: '127.0.0.1',
        exportChecked: false,
      });
      expect(result.message).to.equal('the probe did not finish within 400 ms, its overall deadline');
      expect(mount.calls).to.be.empty;
    });

    it('an export list of 65 000 entries within the budget: ExportNotFound with a short message', async () => {
      const entries = Array.from({ length: 65_000 }, () => ({ dir: '/x', groups: [] }));
      const { nfs, portmapper } = await withMount({ programs: mountProgram(entries) });
      const result = await probe(nfs.port, portmapper.port);
      expect(result).to.deep.include({ reason: 'ExportNotFound', exportChecked: true });
      expect(result.message).to.match(/exports: \/x, \/x, .* and 649\d\d more$/);
      expect(result.message.length).to.be.below(400);
    });

    it('a 1024-byte dirpath of control characters: shown shortened and printable', async () => {
      const dir = `/${'\n\u001b[31m\u202e'.repeat(100)}xyz`;
      expect(Buffer.byteLength(dir)).to.be.at.most(1024);
      const { nfs, portmapper } = await withMount({ programs: mountProgram([{ dir, groups: [] }]) });
      const result = await probe(nfs.port, portmapper.port);
      expect(result).to.deep.include({ reason: 'ExportNotFound' });
      const shown = result.message.slice(result.message.indexOf('exports: ') + 'exports: '.length);
      expect(shown).to.match(/^\/[?[31m]+…$/);
      expect(shown.length).to.equal(200);
    });
  });
});
