// The two ways a call of a directory client fails, shared by the NFSv3 and
// NFSv4 clients so callers treat both the same: the server answered with a
// status other than OK (NfsStatusError, whose subclasses name the status the
// way each protocol spells it), or no NFS answer came at all (NfsRpcError).
import type { RpcReply } from '../rpc.ts';

/**
 * Statuses callers act on. nfsstat3 and nfsstat4 give these the same
 * numbers (the POSIX errno values; RFC 7530 §13.1 keeps nfsstat3's), so one
 * table serves both versions.
 */
export const NFS_STATUS = {
  OK: 0,
  PERM: 1,
  NOENT: 2,
  ACCES: 13,
  EXIST: 17,
  NOTDIR: 20,
  ISDIR: 21,
  NOSPC: 28,
  ROFS: 30,
  NOTEMPTY: 66,
  DQUOT: 69,
  STALE: 70,
} as const;

/** An operation the server answered with a status other than OK. */
export class NfsStatusError extends Error {
  override name = 'NfsStatusError';
  /** The NFS version that answered. */
  readonly version: 3 | 4;
  readonly status: number;
  /** The status's name as the version spells it, e.g. NFS4ERR_ACCESS, NFS3ERR_ACCES. */
  readonly code: string;
  /** The operation or procedure that failed (LOOKUP, CREATE, MKDIR, ...). */
  readonly op: string;

  constructor(version: 3 | 4, status: number, code: string, op: string, context: string) {
    const denied = status === NFS_STATUS.PERM || status === NFS_STATUS.ACCES;
    // MOUNT's MNT refuses the client, not a uid: the export's client list or a privileged-port rule.
    const hint = !denied
      ? ''
      : op === 'MNT'
        ? ' (the export does not list this client, or wants a privileged source port?)'
        : ' (root squash, or the directory is not writable by this uid/gid?)';
    super(`the server refused ${op} ${context}: ${code}${hint}`);
    this.version = version;
    this.status = status;
    this.code = code;
    this.op = op;
  }
}

/** True when err is a refusal of the server with this status (any version). */
export function hasStatus(err: unknown, status: number): err is NfsStatusError {
  return err instanceof NfsStatusError && err.status === status;
}

/**
 * A call that got no NFS answer: the connection closed, timed out or was
 * aborted, the server sent what the protocol does not allow (the connection
 * is then closed), or it refused the RPC itself (auth, program, version; the
 * reply is then kept, so a caller can tell "no NFSv4 here" from a failure).
 */
export class NfsRpcError extends Error {
  override name = 'NfsRpcError';
  /** The RPC reply that was not SUCCESS, when that is what failed. */
  readonly reply: RpcReply | undefined;

  constructor(message: string, options: { cause?: unknown; reply?: RpcReply } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reply = options.reply;
  }
}

/**
 * Whether a failed NFSv4 connect means "this server does not offer the
 * export over v4", so v3 is worth trying: the NFS program has no version 4
 * (PROG_MISMATCH without 4 in its range), or the v4 namespace has no such
 * export (NOENT looking it up: exported for v3 only, or under its v3 path).
 * Anything else (refused, timed out, denied, garbled) is a failure as it is.
 */
export function v4NotOffered(err: unknown): boolean {
  if (err instanceof NfsRpcError) {
    const reply = err.reply;
    return (
      reply?.status === 'accepted' &&
      reply.acceptStat === 'PROG_MISMATCH' &&
      !(reply.low <= 4 && 4 <= reply.high)
    );
  }
  return (
    err instanceof NfsStatusError &&
    err.version === 4 &&
    err.status === NFS_STATUS.NOENT &&
    err.op === 'LOOKUP'
  );
}
