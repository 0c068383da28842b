import { NfsStatusError } from '../dir/errors.ts';
import { status3Name } from './constants.ts';

export { NfsRpcError as Nfs3RpcError } from '../dir/errors.ts';

/** A procedure the server answered with a status other than NFS3_OK (or MNT3_OK for MNT). */
export class Nfs3Error extends NfsStatusError {
  override name = 'Nfs3Error';

  /** op: the procedure that failed (LOOKUP, MKDIR, MNT, ...); code: the status's name, nfsstat3's by default. */
  constructor(status: number, op: string, context: string, code = status3Name(status)) {
    super(3, status, code, op, context);
  }
}
