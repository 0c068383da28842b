import { NfsStatusError } from '../dir/errors.ts';
import { statusName } from './constants.ts';

export { NfsRpcError as Nfs4RpcError } from '../dir/errors.ts';

/** An operation the server answered with a status other than NFS4_OK. */
export class Nfs4Error extends NfsStatusError {
  override name = 'Nfs4Error';

  /** op: the operation that failed (LOOKUP, CREATE, ...), or COMPOUND when the server named none. */
  constructor(status: number, op: string, context: string) {
    super(4, status, statusName(status), op, context);
  }
}
