// One TCP connection to an ONC RPC server (NFS, MOUNT, the portmapper)
// carrying calls one at a time: the socket edge of the NFS clients.
// Everything it reads is bounded (one reply at most maxReplyBytes, nothing
// unasked for), every call has a time limit, and any breach closes the
// connection, so a hostile server costs at most maxReplyBytes + a few bytes
// of buffer and timeoutMs per call.
import { type Socket, createConnection } from 'node:net';

import { NfsRpcError } from './dir/errors.ts';
import { type AuthSys, RecordReader, decodeReply, describeReply, encodeCall, encodeRecord } from './rpc.ts';

export interface ConnectionOptions {
  timeoutMs: number;
  maxReplyBytes: number;
  /** AUTH_SYS credentials of every call; AUTH_NONE when absent. */
  auth?: AuthSys;
  signal?: AbortSignal;
  /** What the server is, for messages: "NFS server" by default, "MOUNT server", "portmapper". */
  service?: string;
}

/** One call: program, version, procedure, XDR arguments; `what` names it in messages ("NFSv4", "MOUNT MNT"). */
export interface Call {
  prog: number;
  vers: number;
  proc: number;
  args?: Buffer;
  what: string;
}

interface Pending {
  xid: number;
  what: string;
  resolve: (results: Buffer) => void;
  reject: (err: Error) => void;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function abortError(signal: AbortSignal): NfsRpcError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : String(reason);
  return new NfsRpcError(`aborted: ${why}`, { cause: reason });
}

export class RpcConnection {
  readonly label: string;
  private readonly socket: Socket;
  private readonly options: ConnectionOptions;
  private readonly reader: RecordReader;
  private pending: Pending | undefined;
  private dead: NfsRpcError | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private xid = Math.floor(Math.random() * 0x1_0000_0000);
  private received = 0;
  private peakBuffered = 0;
  private readonly onAbort = () => {
    this.fail(abortError(this.options.signal as AbortSignal));
  };

  private constructor(socket: Socket, label: string, options: ConnectionOptions) {
    this.socket = socket;
    this.label = label;
    this.options = options;
    this.reader = new RecordReader(options.maxReplyBytes);
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      this.receive(chunk);
    });
    socket.on('error', (err) => {
      const code = errorCode(err);
      this.fail(
        new NfsRpcError(
          `${label} ${code === 'ECONNRESET' ? 'reset the connection' : `failed: ${err.message}`}`,
        ),
      );
    });
    socket.on('close', () => {
      this.fail(
        new NfsRpcError(
          `${label} closed the connection${this.reader.midRecord ? ' in the middle of a reply' : ''}`,
        ),
      );
    });
  }

  static open(host: string, port: number, options: ConnectionOptions): Promise<RpcConnection> {
    const label = `${options.service ?? 'NFS server'} ${host.includes(':') ? `[${host}]` : host}:${String(port)}`;
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host, port, noDelay: true });
      let done = false;
      const settle = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          resolve(new RpcConnection(socket, label, options));
        }
      };
      const onConnect = () => {
        settle();
      };
      const onError = (err: Error) => {
        settle(new NfsRpcError(`could not connect to ${label}: ${errorCode(err) ?? err.message}`));
      };
      const onAbort = () => {
        settle(abortError(signal as AbortSignal));
      };
      const timer = setTimeout(() => {
        settle(new NfsRpcError(`could not connect to ${label} within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      socket.once('connect', onConnect);
      socket.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Bytes read from the server, and the most held for one reply at once (at most maxReplyBytes + 3). */
  get stats(): { bytesReceived: number; peakBufferedBytes: number } {
    return { bytesReceived: this.received, peakBufferedBytes: this.peakBuffered };
  }

  /** The reason the connection is unusable, once it is. */
  get closedBy(): Error | undefined {
    return this.dead;
  }

  /**
   * Sends one call (after any calls before it) and returns its results' XDR.
   * A reply that is not SUCCESS rejects with an NfsRpcError holding it, and
   * leaves the connection open.
   */
  call(call: Call): Promise<Buffer> {
    const run = this.tail.then(() => this.send(call));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private send({ prog, vers, proc, args, what }: Call): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    this.xid = (this.xid + 1) >>> 0;
    const xid = this.xid;
    const { timeoutMs, auth } = this.options;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new NfsRpcError(`no reply from ${this.label} within ${String(timeoutMs)} ms; connection closed`),
        );
      }, timeoutMs);
      const clear = () => {
        clearTimeout(timer);
        this.pending = undefined;
      };
      this.pending = {
        xid,
        what,
        resolve: (results) => {
          clear();
          resolve(results);
        },
        reject: (err) => {
          clear();
          reject(err);
        },
      };
      const message = encodeCall(
        auth ? { xid, prog, vers, proc, args, authSys: auth } : { xid, prog, vers, proc, args },
      );
      this.socket.write(encodeRecord(message));
    });
  }

  private receive(chunk: Buffer): void {
    if (this.dead) return;
    this.received += chunk.length;
    let records: Buffer[];
    try {
      records = this.reader.push(chunk);
      this.peakBuffered = Math.max(this.peakBuffered, this.reader.bufferedBytes);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.fail(new NfsRpcError(`${this.label} broke ONC RPC record marking: ${why}; connection closed`));
      return;
    }
    for (const record of records) {
      const pending = this.pending;
      if (!pending) {
        this.fail(new NfsRpcError(`${this.label} sent a reply to no call; connection closed`));
        return;
      }
      let reply;
      try {
        reply = decodeReply(record);
      } catch (err) {
        // Thrown here, in a socket handler, anything would crash the process.
        const why = err instanceof Error ? err.message : String(err);
        this.fail(
          new NfsRpcError(`${this.label} sent a reply that is not ONC RPC: ${why}; connection closed`),
        );
        return;
      }
      if (reply.xid !== pending.xid) {
        this.fail(
          new NfsRpcError(
            `${this.label} answered call ${String(pending.xid)} with a reply to call ${String(reply.xid)}; connection closed`,
          ),
        );
        return;
      }
      if (reply.status === 'accepted' && reply.acceptStat === 'SUCCESS') pending.resolve(reply.results);
      else
        pending.reject(
          new NfsRpcError(`${this.label} did not run the ${pending.what} call: ${describeReply(reply)}`, {
            reply,
          }),
        );
    }
  }

  /** Ends the connection: the pending call and every later one reject with err. */
  fail(err: NfsRpcError): void {
    if (this.dead) return;
    this.dead = err;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
    this.pending?.reject(err);
  }

  close(): void {
    this.fail(new NfsRpcError(`the connection to ${this.label} was closed by the client`));
  }
}
