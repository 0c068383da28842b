// Checks an NFS server without mounting it: the host resolves, the NFS port
// takes a TCP connection, program 100003 answers NULL calls (which versions),
// and, where the server runs a portmapper and MOUNT v3, that the path is in
// its export list. The NfsExport controller turns the result into the
// ServerReachable condition.
//
// How the reason is chosen:
//   HostNotFound       the name does not resolve (ENOTFOUND, EAI_NONAME, EAI_AGAIN, ...)
//   ConnectionRefused  nothing listens on the NFS port
//   Unreachable        no route to the host or network (EHOSTUNREACH, ENETUNREACH, ...)
//   Timeout            a step (resolving, connecting, one call) took longer than timeoutMs,
//                      or the whole probe longer than deadlineMs
//   NotNfs             the first answer on the NFS port is not an ONC RPC reply (an
//                      HTTP server, say, or a reply to another call), or an RPC server
//                      without program 100003
//   ProtocolError      ONC RPC, but not the answer an NFS server gives to NULL: the
//                      connection closed or reset before a reply, the call was denied
//                      (auth, RPC version), PROC_UNAVAIL / GARBAGE_ARGS / SYSTEM_ERR, or
//                      only NFS versions outside 2 to 4
//   ExportNotFound     MOUNT's export list was read and neither names the path nor an
//                      ancestor of it
//   Malformed          a hard limit was broken, at any step: the server sent more than the
//                      probe's byte budget (all replies and anything else it sent, on all
//                      connections together), or framed a reply with an empty or a 65th
//                      fragment (see RecordReader)
//   Reachable          NFS answers; and the export was found or could not be checked
//
// Besides each step's timeoutMs, the whole probe has one deadline (deadlineMs): when it
// passes the probe closes its socket and says Timeout, whatever step it was in. Limits
// and the deadline end the probe even in the best-effort export check, so a hostile
// server costs at most budgetBytes of input, maxRecordBytes + 3 of buffer and
// deadlineMs of time.
//
// The export check is best effort. NFSv4-only servers have no MOUNT protocol
// and often no portmapper, so a refused, silent or confused portmapper, MOUNT
// not registered, or a MOUNT service that fails to list its exports all give
// Reachable with exportChecked false and a message saying why. A path counts
// as exported when an exported dirpath equals it or is an ancestor of it
// (clients may mount a subdirectory of an export); both are compared after
// normalising "//", "." and trailing slashes. The MOUNT list names server
// paths: a server whose NFSv4 pseudo paths differ from them (nfs-ganesha's
// Pseudo=) and that also runs MOUNT may report a v4 pseudo path as not found.
import { lookup } from 'node:dns/promises';
import { type Socket, createConnection, isIP } from 'node:net';
import { posix } from 'node:path';

import {
  IPPROTO_TCP,
  MOUNTPROC3_EXPORT,
  PMAPPROC_GETPORT,
  PROGRAM,
  RecordReader,
  RpcDecodeError,
  RpcLimitError,
  type RpcReply,
  decodeExportList,
  decodeGetportResult,
  decodeReply,
  describeReply,
  encodeCall,
  encodeGetportArgs,
  encodeRecord,
} from './rpc.ts';

export type ProbeReason =
  | 'Reachable'
  | 'ExportNotFound'
  | 'Timeout'
  | 'ConnectionRefused'
  | 'HostNotFound'
  | 'NotNfs'
  | 'ProtocolError'
  | 'Malformed'
  | 'Unreachable';

export interface ProbeTarget {
  /** A host name, an IPv4 address, or an IPv6 address (brackets allowed). */
  server: string;
  /** The exported path a volume would mount. */
  path: string;
  /** 2049 when absent. */
  nfsPort?: number;
  /** 111 when absent. */
  portmapperPort?: number;
}

export interface ProbeOptions {
  /** The limit for each step: resolving, each connection, each call. */
  timeoutMs: number;
  /** The limit for the whole probe; DEADLINE_STEPS × timeoutMs when absent. */
  deadlineMs?: number;
  /** Bytes the probe reads from the server, all connections together; EXCHANGE_BUDGET_BYTES when absent. */
  budgetBytes?: number;
  /** Aborting stops the probe, closes its sockets and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface ProbeResult {
  /** True exactly when reason is Reachable. */
  reachable: boolean;
  reason: ProbeReason;
  /** One line for a condition's message. */
  message: string;
  /** The address the server name resolved to, once it did. */
  address?: string;
  /** NFS major versions the server answers NULL for (2, 3, 4), once it answered. */
  nfsVersions?: number[];
  /** Whether MOUNT's export list was read and compared with the path. */
  exportChecked: boolean;
  /** Wall time of the whole probe, in milliseconds. */
  latencyMs: number;
  /** Round trip of the first NFS NULL call, in milliseconds, once it answered. */
  rttMs?: number;
  /** Bytes read from the server, all connections together (at most budgetBytes and one chunk). */
  bytesReceived: number;
  /** The most bytes a record reader of the probe held at once (at most MAX_REPLY_BYTES + 3). */
  peakBufferedBytes: number;
}

/** Replies larger than this are refused (an export list of thousands of entries fits). */
export const MAX_REPLY_BYTES = 1024 * 1024;

/**
 * What one probe reads at most, every connection and call together: room for
 * an export list at the reply bound and three small replies, with slack;
 * data after a reply, and replies nobody asked for, count too.
 */
export const EXCHANGE_BUDGET_BYTES = 4 * MAX_REPLY_BYTES;

/**
 * The default deadline of a whole probe, in step timeouts: resolving,
 * connecting and the calls each take a fraction of a step on a working
 * server; this leaves room for the two steps allowed to time out without
 * failing the probe (v3 NULL, one step of the export check) and slack.
 */
export const DEADLINE_STEPS = 4;

const NULL_PROC = 0;
const KNOWN_NFS_VERSIONS = [2, 3, 4];
const MAX_LIST_CHARS = 200;

type FailureKind = 'timeout' | 'refused' | 'unreachable' | 'closed' | 'malformed' | 'notfound';

/** A step that failed, with what kind of failure it was. */
class StepFailure extends Error {
  readonly kind: FailureKind;

  constructor(kind: FailureKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

/** A failure that decides the result as it is. */
class Verdict extends Error {
  readonly reason: ProbeReason;

  constructor(reason: ProbeReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

/**
 * What one probe shares between its steps and connections: its signal, which
 * aborts on the caller's abort, at the deadline, or when a limit is broken
 * (its reason is then a Verdict), and the byte budget.
 */
class Exchange {
  readonly timeoutMs: number;
  readonly budgetBytes: number;
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly outer: AbortSignal | undefined;
  private readonly onOuterAbort = () => {
    this.controller.abort((this.outer as AbortSignal).reason);
  };
  private received = 0;
  private peakBuffered = 0;

  constructor(timeoutMs: number, deadlineMs: number, budgetBytes: number, outer: AbortSignal | undefined) {
    this.timeoutMs = timeoutMs;
    this.budgetBytes = budgetBytes;
    this.signal = this.controller.signal;
    this.outer = outer;
    // Listening on the caller's signal by hand, not with AbortSignal.any, so
    // that nothing stays attached to a long-lived signal after the probe.
    outer?.addEventListener('abort', this.onOuterAbort, { once: true });
    this.timer = setTimeout(() => {
      this.breach(
        'Timeout',
        `the probe did not finish within ${String(deadlineMs)} ms, its overall deadline`,
      );
    }, deadlineMs);
  }

  /** Ends the probe with this reason; every connection closes its socket. */
  breach(reason: ProbeReason, message: string): void {
    this.controller.abort(new Verdict(reason, message));
  }

  /** Counts bytes read from the server; false once they exceed the budget. */
  take(bytes: number): boolean {
    this.received += bytes;
    return this.received <= this.budgetBytes;
  }

  noteBuffered(bytes: number): void {
    this.peakBuffered = Math.max(this.peakBuffered, bytes);
  }

  get stats(): { bytesReceived: number; peakBufferedBytes: number } {
    return { bytesReceived: this.received, peakBufferedBytes: this.peakBuffered };
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }
}

const CONNECT_FAILURE_KINDS = {
  ConnectionRefused: 'refused',
  Unreachable: 'unreachable',
  Timeout: 'timeout',
} as const satisfies Record<string, FailureKind>;

const NOT_FOUND_CODES = new Set([
  'ENOTFOUND',
  'EAI_NONAME',
  'EAI_NODATA',
  'EAI_AGAIN',
  'EAI_FAIL',
  'ENODATA',
]);

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The reason a failed TCP connect gives, from the socket error's code: EHOSTUNREACH,
 * ENETUNREACH and any other code than ECONNREFUSED and ETIMEDOUT are Unreachable.
 */
export function connectFailureReason(
  code: string | undefined,
): 'ConnectionRefused' | 'Unreachable' | 'Timeout' {
  if (code === 'ECONNREFUSED') return 'ConnectionRefused';
  if (code === 'ETIMEDOUT') return 'Timeout';
  return 'Unreachable';
}

/** True when path is dir or below it; both absolute, compared after normalising. */
export function pathIsExported(path: string, dir: string): boolean {
  const p = normalisePath(path);
  const d = normalisePath(dir);
  return p === d || d === '/' || p.startsWith(`${d}/`);
}

function normalisePath(path: string): string {
  const n = posix.normalize(path);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function formatEndpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${String(port)}` : `${address}:${String(port)}`;
}

/** A string from the server as a condition message may show it: control and format characters as "?". */
function printable(text: string): string {
  return text.replace(/[\p{Cc}\p{Cf}]/gu, '?');
}

/** "a, b, c and 4 more" within about MAX_LIST_CHARS, each item printable. */
function truncatedList(items: readonly string[]): string {
  if (items.length === 0) return '(none)';
  const shown: string[] = [];
  let length = 0;
  for (const raw of items) {
    const piece =
      raw.length > MAX_LIST_CHARS ? `${printable(raw.slice(0, MAX_LIST_CHARS - 1))}…` : printable(raw);
    if (shown.length > 0 && length + piece.length + 2 > MAX_LIST_CHARS) break;
    shown.push(piece);
    length += piece.length + 2;
  }
  const more = items.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${String(more)} more` : shown.join(', ');
}

/** The signal's reason (an AbortError DOMException unless the caller gave one). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(`probe aborted: ${String(reason)}`);
}

/** Runs work, failing with a timeout error or the signal's reason, whichever comes first. */
function withDeadline<T>(
  work: Promise<T>,
  timeoutMs: number,
  onTimeout: () => Error,
  signal: AbortSignal | undefined,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      settle(() => {
        reject(onTimeout());
      });
    }, timeoutMs);
    const onAbort = () => {
      settle(() => {
        reject(abortReason(signal as AbortSignal));
      });
    };
    let done = false;
    function settle(action: () => void): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      action();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        settle(() => {
          resolve(value);
        });
      },
      (err: unknown) => {
        settle(() => {
          reject(err instanceof Error ? err : new Error(String(err)));
        });
      },
    );
  });
}

async function resolveHost(
  server: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  const host = server.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host)) return host;
  try {
    const found = await withDeadline(
      lookup(host),
      timeoutMs,
      () => new StepFailure('timeout', `could not resolve ${server} within ${String(timeoutMs)} ms`),
      signal,
    );
    return found.address;
  } catch (err) {
    if (err instanceof StepFailure || signal?.aborted) throw err;
    const code = errorCode(err);
    if (code && NOT_FOUND_CODES.has(code)) {
      throw new StepFailure('notfound', `could not resolve ${server} (${code})`);
    }
    throw new StepFailure('notfound', `could not resolve ${server}: ${errorText(err)}`);
  }
}

/**
 * One TCP connection carrying RPC calls one at a time. The socket is closed
 * by close(), which every caller reaches through finally, and at once when
 * the exchange's signal aborts (deadline, broken limit, caller's abort).
 */
class RpcConnection {
  readonly label: string;
  private readonly socket: Socket;
  private readonly exchange: Exchange;
  private readonly reader = new RecordReader(MAX_REPLY_BYTES);
  /** Replies received for calls sent; at most one, since calls go one at a time. */
  private readonly records: Buffer[] = [];
  private outstanding = 0;
  private problem: StepFailure | undefined;
  private wake: (() => void) | undefined;
  private xid = Math.floor(Math.random() * 0x1_0000_0000);
  private readonly onAbort = () => {
    this.socket.destroy();
  };

  private constructor(socket: Socket, label: string, exchange: Exchange) {
    this.socket = socket;
    this.label = label;
    this.exchange = exchange;
    exchange.signal.addEventListener('abort', this.onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      this.receive(chunk);
      this.wake?.();
    });
    socket.on('error', (err) => {
      const code = errorCode(err);
      this.fail(
        'closed',
        `${label} ${code === 'ECONNRESET' ? 'reset the connection' : `failed: ${err.message}`}`,
      );
    });
    socket.on('close', () => {
      this.fail(
        'closed',
        `${label} closed the connection ${this.reader.midRecord ? 'in the middle of a reply' : 'without answering'}`,
      );
    });
  }

  /** Takes a chunk from the socket: counted against the budget, then reassembled. */
  private receive(chunk: Buffer): void {
    if (this.problem || this.exchange.signal.aborted) return;
    if (!this.exchange.take(chunk.length)) {
      this.socket.destroy();
      this.exchange.breach(
        'Malformed',
        `${this.label} sent more than ${String(this.exchange.budgetBytes)} bytes, the probe's budget for all replies`,
      );
      return;
    }
    let records: Buffer[];
    try {
      records = this.reader.push(chunk);
    } catch (err) {
      this.socket.destroy();
      if (err instanceof RpcLimitError) {
        this.exchange.breach('Malformed', `${this.label} broke ONC RPC record marking: ${err.message}`);
      } else {
        this.fail(
          'malformed',
          `${this.label} answered with something that is not ONC RPC: ${errorText(err)}`,
        );
      }
      return;
    } finally {
      this.exchange.noteBuffered(this.reader.bufferedBytes);
    }
    for (const record of records) {
      if (this.outstanding === 0) {
        this.socket.destroy();
        this.fail('malformed', `${this.label} sent a reply to no call`);
        return;
      }
      this.outstanding--;
      this.records.push(record);
    }
  }

  private fail(kind: FailureKind, message: string): void {
    this.problem ??= new StepFailure(kind, message);
    this.wake?.();
  }

  static open(address: string, port: number, label: string, exchange: Exchange): Promise<RpcConnection> {
    const { timeoutMs, signal } = exchange;
    return new Promise<RpcConnection>((resolve, reject) => {
      const socket = createConnection({ host: address, port, noDelay: true });
      let done = false;
      const settle = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) {
          resolve(new RpcConnection(socket, label, exchange));
        } else {
          socket.destroy();
          reject(err);
        }
      };
      const onConnect = () => {
        settle();
      };
      const onError = (err: Error) => {
        const code = errorCode(err);
        const kind = CONNECT_FAILURE_KINDS[connectFailureReason(code)];
        const why = code === 'ECONNREFUSED' ? 'connection refused' : (code ?? err.message);
        settle(new StepFailure(kind, `could not connect to ${label}: ${why}`));
      };
      const onAbort = () => {
        settle(abortReason(signal));
      };
      const timer = setTimeout(() => {
        settle(new StepFailure('timeout', `could not connect to ${label} within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      socket.once('connect', onConnect);
      socket.on('error', onError);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Sends one call and returns its reply; a reply that is not ONC RPC is a 'malformed' failure. */
  async call(prog: number, vers: number, proc: number, args?: Buffer): Promise<RpcReply> {
    this.xid = (this.xid + 1) >>> 0;
    const xid = this.xid;
    if (!this.problem) {
      this.outstanding++;
      this.socket.write(encodeRecord(encodeCall({ xid, prog, vers, proc, args })));
    }
    const record = await this.nextRecord();
    let reply: RpcReply;
    try {
      reply = decodeReply(record);
    } catch (err) {
      if (!(err instanceof RpcDecodeError)) throw err;
      throw new StepFailure(
        'malformed',
        `${this.label} answered with something that is not ONC RPC: ${err.message}`,
      );
    }
    if (reply.xid !== xid) {
      throw new StepFailure(
        'malformed',
        `${this.label} answered call ${String(xid)} with a reply to call ${String(reply.xid)}`,
      );
    }
    return reply;
  }

  private nextRecord(): Promise<Buffer> {
    const { timeoutMs, signal } = this.exchange;
    const ready = (): Buffer | StepFailure | undefined => this.records.shift() ?? this.problem;
    const now = ready();
    if (now instanceof StepFailure) return Promise.reject(now);
    if (now) return Promise.resolve(now);
    const arrived = new Promise<Buffer>((resolve, reject) => {
      this.wake = () => {
        const next = ready();
        if (next === undefined) return;
        this.wake = undefined;
        if (next instanceof StepFailure) reject(next);
        else resolve(next);
      };
    });
    return withDeadline(
      arrived,
      timeoutMs,
      () => new StepFailure('timeout', `no answer from ${this.label} within ${String(timeoutMs)} ms`),
      signal,
    ).finally(() => {
      this.wake = undefined;
    });
  }

  close(): void {
    this.exchange.signal.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
  }
}

/** The NFS versions the server answers NULL for, as the first version's reply and the next tell. */
async function nfsVersions(conn: RpcConnection): Promise<{ versions: number[]; rttMs: number }> {
  const sent = performance.now();
  let first: RpcReply;
  try {
    first = await conn.call(PROGRAM.nfs, 4, NULL_PROC);
  } catch (err) {
    if (err instanceof StepFailure && err.kind === 'malformed') throw new Verdict('NotNfs', err.message);
    throw err;
  }
  const rttMs = Math.round(performance.now() - sent);
  const inRange = (low: number, high: number) => KNOWN_NFS_VERSIONS.filter((v) => v >= low && v <= high);

  if (first.status === 'accepted' && first.acceptStat === 'SUCCESS') {
    // v4 answered, so NFS is there; v3 only adds to the list, and its failing takes nothing away.
    let second: RpcReply;
    try {
      second = await conn.call(PROGRAM.nfs, 3, NULL_PROC);
    } catch (err) {
      // A Verdict (deadline, broken limit) or the caller's abort still ends the probe.
      if (err instanceof StepFailure) return { versions: [4], rttMs };
      throw err;
    }
    if (second.status === 'accepted' && second.acceptStat === 'SUCCESS') return { versions: [3, 4], rttMs };
    if (second.status === 'accepted' && second.acceptStat === 'PROG_MISMATCH') {
      const versions = new Set([...inRange(second.low, second.high), 4]);
      return { versions: [...versions].sort((a, b) => a - b), rttMs };
    }
    return { versions: [4], rttMs };
  }
  if (first.status === 'accepted' && first.acceptStat === 'PROG_MISMATCH') {
    const versions = inRange(first.low, first.high);
    if (versions.length === 0) {
      throw new Verdict(
        'ProtocolError',
        `${conn.label} serves NFS versions ${String(first.low)} to ${String(first.high)} only, none of 2, 3, 4`,
      );
    }
    return { versions, rttMs };
  }
  if (first.status === 'accepted' && first.acceptStat === 'PROG_UNAVAIL') {
    throw new Verdict(
      'NotNfs',
      `${conn.label} speaks ONC RPC but does not serve NFS (program 100003 unavailable)`,
    );
  }
  throw new Verdict('ProtocolError', `${conn.label} answered an NFS NULL call with ${describeReply(first)}`);
}

type ExportCheck = { checked: true; dirs: string[] } | { checked: false; why: string };

/**
 * Reads MOUNT v3's export list through the portmapper, or says why it could
 * not. Best effort, except that the exchange's abort (deadline, broken limit,
 * caller) still ends the probe.
 */
async function readExports(
  address: string,
  label: (port: number) => string,
  portmapperPort: number,
  exchange: Exchange,
): Promise<ExportCheck> {
  const { signal } = exchange;
  let mountPort: number;
  let conn: RpcConnection | undefined;
  const pmLabel = `portmapper at ${label(portmapperPort)}`;
  try {
    conn = await RpcConnection.open(address, portmapperPort, pmLabel, exchange);
    const args = encodeGetportArgs({ prog: PROGRAM.mount, vers: 3, prot: IPPROTO_TCP });
    const reply = await conn.call(PROGRAM.portmapper, 2, PMAPPROC_GETPORT, args);
    if (reply.status !== 'accepted' || reply.acceptStat !== 'SUCCESS') {
      return { checked: false, why: `the ${pmLabel} answered GETPORT with ${describeReply(reply)}` };
    }
    mountPort = decodeGetportResult(reply.results);
  } catch (err) {
    if (signal.aborted) throw err;
    if (err instanceof StepFailure && err.kind === 'refused') {
      return { checked: false, why: `no portmapper on ${label(portmapperPort)}: connection refused` };
    }
    return { checked: false, why: errorText(err) };
  } finally {
    conn?.close();
  }
  if (mountPort === 0)
    return { checked: false, why: `MOUNT v3 over TCP is not registered with the ${pmLabel}` };

  conn = undefined;
  const mountLabel = `MOUNT at ${label(mountPort)}`;
  try {
    conn = await RpcConnection.open(address, mountPort, mountLabel, exchange);
    const reply = await conn.call(PROGRAM.mount, 3, MOUNTPROC3_EXPORT);
    if (reply.status !== 'accepted' || reply.acceptStat !== 'SUCCESS') {
      return { checked: false, why: `${mountLabel} answered EXPORT with ${describeReply(reply)}` };
    }
    return { checked: true, dirs: decodeExportList(reply.results).map((e) => e.dir) };
  } catch (err) {
    if (signal.aborted) throw err;
    if (err instanceof RpcDecodeError)
      return { checked: false, why: `${mountLabel} sent a bad export list: ${err.message}` };
    return { checked: false, why: errorText(err) };
  } finally {
    conn?.close();
  }
}

const FAILURE_REASONS: Record<FailureKind, ProbeReason> = {
  timeout: 'Timeout',
  refused: 'ConnectionRefused',
  unreachable: 'Unreachable',
  closed: 'ProtocolError',
  malformed: 'ProtocolError',
  notfound: 'HostNotFound',
};

type Outcome = Omit<ProbeResult, 'latencyMs' | 'reachable' | 'bytesReceived' | 'peakBufferedBytes'>;

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, not ${String(value)}`);
  }
  return value;
}

/** Probes one server and export; see the top of this file for how the reason is chosen. */
export async function probeServer(target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  const { signal } = options;
  const timeoutMs = positive('timeoutMs', options.timeoutMs);
  const deadlineMs = positive('deadlineMs', options.deadlineMs ?? DEADLINE_STEPS * timeoutMs);
  const budgetBytes = positive('budgetBytes', options.budgetBytes ?? EXCHANGE_BUDGET_BYTES);
  signal?.throwIfAborted();
  const started = performance.now();
  const exchange = new Exchange(timeoutMs, deadlineMs, budgetBytes, signal);
  // What is known so far, for a result that a deadline or a broken limit cuts short.
  const known: { address?: string } = {};
  const finish = (outcome: Outcome): ProbeResult => ({
    reachable: outcome.reason === 'Reachable',
    ...outcome,
    latencyMs: Math.round(performance.now() - started),
    ...exchange.stats,
  });
  try {
    return finish(await probeSteps(target, exchange, known));
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    const verdict = exchange.signal.aborted ? abortReason(exchange.signal) : err;
    if (!(verdict instanceof Verdict)) throw err;
    return finish({ reason: verdict.reason, message: verdict.message, ...known, exportChecked: false });
  } finally {
    exchange.dispose();
  }
}

/** The steps of a probe; a Verdict thrown, or the exchange's abort, ends it early. */
async function probeSteps(
  target: ProbeTarget,
  exchange: Exchange,
  known: { address?: string },
): Promise<Outcome> {
  const { timeoutMs, signal } = exchange;
  const nfsPort = target.nfsPort ?? 2049;
  const portmapperPort = target.portmapperPort ?? 111;

  let address: string;
  try {
    address = await resolveHost(target.server, timeoutMs, signal);
  } catch (err) {
    if (signal.aborted || !(err instanceof StepFailure)) throw err;
    return { reason: FAILURE_REASONS[err.kind], message: err.message, exportChecked: false };
  }
  known.address = address;
  const named = isIP(target.server.replace(/^\[(.*)\]$/, '$1')) === 0;
  const label = (port: number) =>
    named ? `${target.server}:${String(port)} (${address})` : formatEndpoint(address, port);

  let found: { versions: number[]; rttMs: number };
  let conn: RpcConnection | undefined;
  try {
    conn = await RpcConnection.open(address, nfsPort, label(nfsPort), exchange);
    found = await nfsVersions(conn);
  } catch (err) {
    if (signal.aborted) throw err;
    if (err instanceof Verdict)
      return { reason: err.reason, message: err.message, address, exportChecked: false };
    if (err instanceof StepFailure) {
      return { reason: FAILURE_REASONS[err.kind], message: err.message, address, exportChecked: false };
    }
    throw err;
  } finally {
    conn?.close();
  }

  const { versions, rttMs } = found;
  const answers = `${label(nfsPort)} answers NFS version${versions.length > 1 ? 's' : ''} ${versions.join(', ')}`;
  const check = await readExports(address, label, portmapperPort, exchange);
  if (!check.checked) {
    return {
      reason: 'Reachable',
      message: `${answers}; the export ${target.path} could not be checked: ${check.why}`,
      address,
      nfsVersions: versions,
      exportChecked: false,
      rttMs,
    };
  }
  const covering =
    check.dirs.find((dir) => normalisePath(dir) === normalisePath(target.path)) ??
    check.dirs.find((dir) => pathIsExported(target.path, dir));
  if (covering === undefined) {
    return {
      reason: 'ExportNotFound',
      message: `${answers}, but ${target.path} is not exported; exports: ${truncatedList(check.dirs)}`,
      address,
      nfsVersions: versions,
      exportChecked: true,
      rttMs,
    };
  }
  const where =
    normalisePath(covering) === normalisePath(target.path)
      ? 'is exported'
      : `is below export ${printable(covering)}`;
  return {
    reason: 'Reachable',
    message: `${answers}; ${target.path} ${where}`,
    address,
    nfsVersions: versions,
    exportChecked: true,
    rttMs,
  };
}
