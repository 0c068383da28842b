// A tiny ONC RPC server on a loopback port, for probe tests: it answers as
// NFS (NULL), a portmapper (GETPORT) or MOUNT v3 (EXPORT), and can also
// misbehave (never answer, close at once, answer HTTP or garbage, split
// replies into many small fragments, answer late, or stream raw bytes as a
// hostile server would).
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';

import {
  AUTH_NONE,
  IPPROTO_TCP,
  MOUNTPROC3_EXPORT,
  MSG_REPLY,
  PMAPPROC_GETPORT,
  PROGRAM,
  RecordReader,
  XdrReader,
  XdrWriter,
  encodeExportList,
  encodeRecord,
  type ExportEntry,
} from '../../src/nfs/rpc.ts';

export interface FakeCall {
  xid: number;
  rpcvers: number;
  prog: number;
  vers: number;
  proc: number;
  args: Buffer;
}

/** Returns a procedure's XDR results; absent procedures answer PROC_UNAVAIL (NULL always works). */
export type FakeProcedure = (call: FakeCall) => Buffer;

export interface FakeProgram {
  versions: number[];
  procedures?: Record<number, FakeProcedure>;
}

export type FakeMode =
  /** Answers calls as the programs say. */
  | 'rpc'
  /** Accepts connections and reads, never answers. */
  | 'silent'
  /** Closes every connection as soon as it is accepted. */
  | 'close'
  /** Answers the first bytes with an HTTP 400 response and closes. */
  | 'http'
  /** Answers each call with a well-framed record that is not an RPC reply. */
  | 'garbage';

export interface FakeRpcServerOptions {
  mode?: FakeMode;
  programs?: Record<number, FakeProgram>;
  /** Split every reply into fragments of at most this many bytes, each written on its own. */
  fragmentSize?: number;
  /**
   * Replaces the whole reply message (unframed) for a call; null sends no
   * answer at all, undefined falls back to the programs.
   */
  respond?: (call: FakeCall) => Buffer | null | undefined;
  /**
   * Raw bytes to send for a call instead of a reply (no framing added),
   * written as the client reads them, until the iterable ends or the
   * connection closes, so an endless generator streams "forever"; undefined
   * falls back to respond and the programs.
   */
  stream?: (call: FakeCall) => Iterable<Buffer> | undefined;
  /** Waits this long before each answer. */
  delayMs?: number;
  /** A loopback address to listen on; 127.0.0.1 when absent. */
  host?: string;
  /** The port to listen on; any free one when absent. */
  port?: number;
}

export interface FakeRpcServer {
  port: number;
  /** Every call received, in order. */
  calls: FakeCall[];
  /** Connections accepted so far. */
  accepted: number;
  /** Connections still open on the server's side. */
  readonly open: number;
  /** Bytes handed to the sockets by `stream`, all connections together. */
  readonly streamed: number;
  /** Resolves once every accepted connection has closed, or throws after timeoutMs. */
  waitUntilIdle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function decodeCall(message: Buffer): FakeCall {
  const r = new XdrReader(message);
  const xid = r.uint32('xid');
  const type = r.uint32('msg_type');
  if (type !== 0) throw new Error(`msg_type ${String(type)} is not a call`);
  const rpcvers = r.uint32('rpcvers');
  const prog = r.uint32('prog');
  const vers = r.uint32('vers');
  const proc = r.uint32('proc');
  r.uint32('cred flavor');
  r.opaque(400, 'cred body');
  r.uint32('verf flavor');
  r.opaque(400, 'verf body');
  return { xid, rpcvers, prog, vers, proc, args: r.rest() };
}

/** An accepted reply: accept_stat and what follows it (results, or low/high for PROG_MISMATCH). */
export function acceptedReply(xid: number, acceptStat: number, body: Buffer = Buffer.alloc(0)): Buffer {
  return new XdrWriter()
    .uint32(xid)
    .uint32(MSG_REPLY)
    .uint32(0)
    .uint32(AUTH_NONE)
    .opaque(Buffer.alloc(0))
    .uint32(acceptStat)
    .raw(body)
    .bytes();
}

/** A denied reply: reject_stat 0 (RPC_MISMATCH, low/high) or 1 (AUTH_ERROR, auth_stat). */
export function deniedReply(xid: number, rejectStat: number, body: number[]): Buffer {
  const w = new XdrWriter().uint32(xid).uint32(MSG_REPLY).uint32(1).uint32(rejectStat);
  for (const n of body) w.uint32(n);
  return w.bytes();
}

function answer(call: FakeCall, programs: Record<number, FakeProgram>): Buffer {
  const program = programs[call.prog];
  if (!program) return acceptedReply(call.xid, 1); // PROG_UNAVAIL
  if (!program.versions.includes(call.vers)) {
    const low = Math.min(...program.versions);
    const high = Math.max(...program.versions);
    return acceptedReply(call.xid, 2, new XdrWriter().uint32(low).uint32(high).bytes());
  }
  const procedure = program.procedures?.[call.proc];
  if (procedure) return acceptedReply(call.xid, 0, procedure(call));
  if (call.proc === 0) return acceptedReply(call.xid, 0);
  return acceptedReply(call.xid, 3); // PROC_UNAVAIL
}

/** NFS: NULL in each version. */
export function nfsProgram(versions: number[] = [3, 4]): Record<number, FakeProgram> {
  return { [PROGRAM.nfs]: { versions } };
}

/** A portmapper v2 whose GETPORT knows these TCP registrations. */
export function portmapperProgram(
  registrations: { prog: number; vers: number; port: number }[],
): Record<number, FakeProgram> {
  const getport: FakeProcedure = (call) => {
    const r = new XdrReader(call.args);
    const prog = r.uint32();
    const vers = r.uint32();
    const prot = r.uint32();
    const found = registrations.find((x) => x.prog === prog && x.vers === vers && prot === IPPROTO_TCP);
    return new XdrWriter().uint32(found?.port ?? 0).bytes();
  };
  return { [PROGRAM.portmapper]: { versions: [2], procedures: { [PMAPPROC_GETPORT]: getport } } };
}

/** MOUNT v1 to v3 whose EXPORT lists these entries. */
export function mountProgram(exports: ExportEntry[]): Record<number, FakeProgram> {
  return {
    [PROGRAM.mount]: {
      versions: [1, 2, 3],
      procedures: { [MOUNTPROC3_EXPORT]: () => encodeExportList(exports) },
    },
  };
}

/** Writes chunks as the peer takes them (waiting for 'drain'), until they end or the socket closes. */
function pump(socket: Socket, chunks: Iterator<Buffer>, count: (bytes: number) => void): void {
  const step = () => {
    while (!socket.destroyed) {
      const next = chunks.next();
      if (next.done === true) return;
      count(next.value.length);
      if (!socket.write(next.value)) {
        socket.once('drain', step);
        return;
      }
    }
  };
  step();
}

export async function startFakeRpcServer(options: FakeRpcServerOptions = {}): Promise<FakeRpcServer> {
  const mode = options.mode ?? 'rpc';
  const programs = options.programs ?? {};
  const host = options.host ?? '127.0.0.1';
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== '::1')
    throw new Error(`${host} is not a loopback address`);
  const sockets = new Set<Socket>();
  const calls: FakeCall[] = [];
  let accepted = 0;
  let streamed = 0;

  const send = (socket: Socket, message: Buffer) => {
    const framed = encodeRecord(message, options.fragmentSize);
    if (!options.fragmentSize) {
      socket.write(framed);
      return;
    }
    // One write per fragment (header and body apart), so the client sees them in many chunks.
    let at = 0;
    while (at < framed.length) {
      const header = framed.readUInt32BE(at);
      const length = header & 0x7fff_ffff;
      socket.write(framed.subarray(at, at + 4));
      socket.write(framed.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
  };

  const server: Server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // The probe may close or reset its side at any time.
    });
    if (mode === 'close') {
      socket.destroy();
      return;
    }
    const reader = new RecordReader();
    socket.on('data', (chunk: Buffer) => {
      if (mode === 'silent') return;
      if (mode === 'http') {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      let records: Buffer[];
      try {
        records = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const record of records) {
        const call = decodeCall(record);
        calls.push(call);
        const reply = () => {
          if (socket.destroyed) return;
          if (mode === 'garbage') {
            send(socket, Buffer.from('this is not an RPC reply\n'));
            return;
          }
          const raw = options.stream?.(call);
          if (raw !== undefined) {
            pump(socket, raw[Symbol.iterator](), (bytes) => (streamed += bytes));
            return;
          }
          const custom = options.respond?.(call);
          if (custom !== null) send(socket, custom ?? answer(call, programs));
        };
        if (options.delayMs === undefined) reply();
        else setTimeout(reply, options.delayMs);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    port,
    calls,
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    get streamed() {
      return streamed;
    },
    async waitUntilIdle(timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (sockets.size > 0) {
        if (Date.now() > deadline) {
          throw new Error(
            `${String(sockets.size)} connection(s) to the fake server still open after ${String(timeoutMs)} ms`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A loopback port that nothing listens on: taken, then freed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}
