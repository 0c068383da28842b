// Fuzzing the ONC RPC record reader and reply decoders with thousands of
// generated inputs: random fragment headers, empty fragments, huge announced
// lengths, valid records cut into random chunks, mutations and garbage. Each
// input must give exactly the records a whole-buffer model of RFC 5531 §11
// (with the reader's limits) finds, or one RpcDecodeError after some of them; the
// reader must never hold more than its bound, and its copying must stay
// linear in the input. Times per input are printed, never asserted.
// FUZZ_SEED=<n> replays a run.
import { expect } from 'chai';

import {
  RecordReader,
  RpcDecodeError,
  decodeExportList,
  decodeReply,
  encodeExportList,
  encodeRecord,
} from '../../../src/nfs/rpc.ts';

const MAX_RECORD = 8192;
const MAX_FRAGMENTS = 64;
const PER_KIND = 1000;

/** mulberry32: small, fast and good enough to spread inputs; seeded so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

const seed = Number(process.env.FUZZ_SEED ?? 0x5eed_2024);
const random = prng(seed);
const int = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)] as T;
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n + 3);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(Math.floor(random() * 0x1_0000_0000), i);
  return b.subarray(0, n);
}

function header(last: boolean, length: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(((last ? 0x8000_0000 : 0) + length) >>> 0);
  return b;
}

/** A message cut into 1 to 64 fragments of random sizes, sometimes ending in an empty last one. */
function fragmented(message: Buffer): Buffer {
  const withEmptyLast = random() < 0.2;
  const count = Math.min(message.length, int(1, MAX_FRAGMENTS - (withEmptyLast ? 1 : 0)));
  const cuts = new Set<number>();
  while (cuts.size < count - 1) cuts.add(int(1, message.length - 1));
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), message.length];
  const parts: Buffer[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const body = message.subarray(bounds[i], bounds[i + 1]);
    parts.push(header(!withEmptyLast && i + 2 === bounds.length, body.length), body);
  }
  if (withEmptyLast) parts.push(header(true, 0));
  return Buffer.concat(parts);
}

function validMessages(): Buffer[] {
  return Array.from({ length: int(1, 5) }, () =>
    bytes(random() < 0.05 ? MAX_RECORD : pick([int(1, 16), int(1, 600), int(1, MAX_RECORD)])),
  );
}

/** What a whole-buffer reading finds: the records before any error, whether one came, and a record left open. */
function model(stream: Buffer): { records: Buffer[]; failed: boolean; midRecord: boolean } {
  const records: Buffer[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  let at = 0;
  while (stream.length - at >= 4) {
    const word = stream.readUInt32BE(at);
    const last = word >= 0x8000_0000;
    const length = word & 0x7fff_ffff;
    const refused =
      size + length > MAX_RECORD || parts.length >= MAX_FRAGMENTS || (length === 0 && (!last || size === 0));
    if (refused) return { records, failed: true, midRecord: false };
    if (stream.length - at - 4 < length) break;
    parts.push(stream.subarray(at + 4, at + 4 + length));
    size += length;
    at += 4 + length;
    if (last) {
      records.push(Buffer.concat(parts));
      parts = [];
      size = 0;
    }
  }
  return { records, failed: false, midRecord: at < stream.length || parts.length > 0 };
}

type Kind =
  'valid, random chunks' | 'random headers' | 'empty fragments' | 'huge lengths' | 'mutated' | 'garbage';

const generators: Record<Kind, () => { stream: Buffer; expected?: Buffer[] }> = {
  'valid, random chunks': () => {
    const messages = validMessages();
    return { stream: Buffer.concat(messages.map(fragmented)), expected: messages };
  },
  'random headers': () => {
    const parts: Buffer[] = [];
    for (let i = int(1, 20); i > 0; i--) {
      const length = pick([0, int(1, 16), int(0, 4096), int(0, MAX_RECORD + 16), int(0, 0x7fff_ffff)]);
      // The body as announced, or cut short; never more than a record's worth.
      const body = Math.min(length, MAX_RECORD + 64, random() < 0.7 ? length : int(0, 64));
      parts.push(header(random() < 0.5, length), bytes(body));
    }
    return { stream: Buffer.concat(parts) };
  },
  'empty fragments': () => {
    const stream = Buffer.concat(validMessages().map(fragmented));
    const at = random() < 0.5 ? 0 : int(0, stream.length);
    const empties = Buffer.concat(Array.from({ length: int(1, 8) }, () => header(random() < 0.3, 0)));
    return { stream: Buffer.concat([stream.subarray(0, at), empties, stream.subarray(at)]) };
  },
  'huge lengths': () => {
    const stream = Buffer.concat(validMessages().map(fragmented));
    const huge = header(random() < 0.5, int(MAX_RECORD + 1, 0x7fff_ffff));
    const at = int(0, stream.length);
    return { stream: Buffer.concat([stream.subarray(0, at), huge, bytes(int(0, 256)), stream.subarray(at)]) };
  },
  mutated: () => {
    const stream = Buffer.concat(validMessages().map(fragmented));
    for (let i = int(1, 3); i > 0; i--) stream[int(0, stream.length - 1)] = int(0, 255);
    return { stream };
  },
  garbage: () => ({ stream: bytes(pick([int(0, 8), int(0, 256), int(0, 5000)])) }),
};

function* chunksOf(stream: Buffer): Generator<Buffer> {
  const size = pick([() => 1, () => int(1, 7), () => int(1, 4096), () => stream.length || 1]);
  for (let at = 0; at < stream.length;) {
    const n = size();
    yield stream.subarray(at, at + n);
    at += n;
  }
}

/** The same records, byte for byte (chai's deep equality is too slow for thousands of buffers). */
function expectSame(got: Buffer[], want: Buffer[], context: string): void {
  expect(
    got.map((r) => r.length),
    context,
  ).to.deep.equal(want.map((r) => r.length));
  got.forEach((record, i) => {
    expect(record.equals(want[i] as Buffer), `${context}: record ${String(i)}`).to.be.true;
  });
}

function report(label: string, times: number[]): void {
  const sorted = [...times].sort((a, b) => a - b);
  const total = sorted.reduce((a, b) => a + b, 0);
  const at = (q: number) =>
    (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(3);
  console.log(
    `      ${label}: ${String(times.length)} inputs, mean ${(total / times.length).toFixed(3)} ms, ` +
      `p99 ${at(0.99)} ms, max ${at(1)} ms`,
  );
}

describe(`ONC RPC fuzz (seed ${String(seed)})`, () => {
  it(`reads ${String(PER_KIND * Object.keys(generators).length)} generated streams as a whole-buffer model does`, function () {
    this.timeout(120_000);
    const bound = MAX_RECORD + 3;
    const outcomes = { records: 0, errors: 0, open: 0 };
    for (const [kind, generate] of Object.entries(generators)) {
      const times: number[] = [];
      for (let i = 0; i < PER_KIND; i++) {
        const { stream, expected } = generate();
        const want = model(stream);
        if (expected) expectSame(want.records, expected, 'the model reads valid streams back');
        const reader = new RecordReader(MAX_RECORD, MAX_FRAGMENTS);
        const got: Buffer[] = [];
        let error: unknown;
        let pushed = 0;
        let peak = 0;
        const chunks = [...chunksOf(stream)];
        const started = performance.now();
        for (const chunk of chunks) {
          pushed += chunk.length;
          try {
            got.push(...reader.push(chunk));
          } catch (err) {
            error = err;
            break;
          }
          peak = Math.max(peak, reader.bufferedBytes);
        }
        times.push(performance.now() - started);
        const context = `${kind} #${String(i)}: ${stream.subarray(0, 64).toString('hex')}`;
        // The reader must have copied what it keeps: a caller may reuse its chunks.
        stream.fill(0xee);
        expect(peak, `${context}: bytes held`).to.be.at.most(bound);
        expect(error !== undefined, `${context}: error`).to.equal(want.failed);
        // A push that throws returns nothing, so records completed in it are not seen.
        expectSame(got, error === undefined ? want.records : want.records.slice(0, got.length), context);
        if (error !== undefined) {
          expect(error, context).to.be.instanceOf(RpcDecodeError);
          // One error, for good: more input gives the same one.
          expect(() => reader.push(header(true, 1)), context)
            .to.throw()
            .that.equals(error);
          expect(reader.bufferedBytes, context).to.equal(0);
          outcomes.errors++;
        } else {
          expect(reader.midRecord, `${context}: midRecord`).to.equal(want.midRecord);
          if (want.midRecord) outcomes.open++;
        }
        // Each byte is copied into its fragment once, and into its record at most once more.
        expect(reader.copiedBytes, context).to.be.at.most(2 * pushed);
        outcomes.records += got.length;
      }
      report(kind, times);
    }
    console.log(
      `      ${String(outcomes.records)} records, ${String(outcomes.errors)} inputs refused, ` +
        `${String(outcomes.open)} left mid-record`,
    );
    // Every kind of outcome was reached, or the generators are not doing their job.
    expect(outcomes.records).to.be.above(PER_KIND);
    expect(outcomes.errors).to.be.above(PER_KIND);
    expect(outcomes.open).to.be.above(100);
  });

  it('decodes 6000 random and mutated replies and export lists, throwing only RpcDecodeError', () => {
    const reply = Buffer.from('0000000700000001000000000000000100000004abcd000000000000', 'hex');
    const list = encodeExportList([
      { dir: '/srv/a', groups: ['*', 'host'] },
      { dir: '/b', groups: [] },
    ]);
    const times: number[] = [];
    let decoded = 0;
    for (let i = 0; i < 3000; i++) {
      for (const [decode, valid] of [
        [decodeReply, reply],
        [decodeExportList, list],
      ] as const) {
        // A third each: valid with bytes changed, valid cut short, random bytes.
        let input: Buffer;
        const way = random();
        if (way < 1 / 3) {
          input = Buffer.from(valid);
          for (let n = int(1, 4); n > 0; n--)
            input[int(0, input.length - 1)] = pick([0, 1, 0xff, int(0, 255)]);
        } else if (way < 2 / 3) {
          input = valid.subarray(0, int(0, valid.length));
        } else {
          input = bytes(int(0, 128));
        }
        const started = performance.now();
        try {
          decode(input);
          decoded++;
        } catch (err) {
          expect(err, input.toString('hex')).to.be.instanceOf(RpcDecodeError);
        }
        times.push(performance.now() - started);
      }
    }
    report('decoders', times);
    expect(decoded).to.be.above(100);
  });

  it('frames and reads back 1000 random messages cut into fragments of random sizes', () => {
    for (let i = 0; i < 1000; i++) {
      const message = bytes(int(1, 3000));
      const framed = encodeRecord(message, int(Math.ceil(message.length / MAX_FRAGMENTS), 3000));
      const reader = new RecordReader(MAX_RECORD, MAX_FRAGMENTS);
      const got: Buffer[] = [];
      for (const chunk of chunksOf(framed)) got.push(...reader.push(chunk));
      expectSame(got, [message], message.toString('hex'));
    }
  });
});
