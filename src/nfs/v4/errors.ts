import { statusName } from './constants.ts';

/** An operation the server answered with a status other than NFS4_OK. */
export class Nfs4Error extends Error {
  override name = 'Nfs4Error';
  readonly status: number;
  /** The status's name, e.g. NFS4ERR_ACCESS. */
  readonly code: string;
  /** The operation that failed (LOOKUP, CREATE, ...), or COMPOUND when the server named none. */
  readonly op: string;

  constructor(status: number, op: string, context: string) {
    const code = statusName(status);
    const hint =
      status === 1 || status === 13
        ? ' (root squash, or the directory is not writable by this uid/gid?)'
        : '';
    super(`the server refused ${op} ${context}: ${code}${hint}`);
    this.status = status;
    this.code = code;
    this.op = op;
  }
}

/**
 * A call that got no NFS answer: the connection closed, timed out or was
 * aborted, the server sent what the protocol does not allow (the connection
 * is then closed), or it refused the RPC itself (auth, program, version).
 */
export class Nfs4RpcError extends Error {
  override name = 'Nfs4RpcError';
}
