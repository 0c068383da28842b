// Connects a directory client to an export over the NFS version asked for,
// or, asked for none, over NFSv4 and else NFSv3 when the server says v4 does
// not serve the export (see v4NotOffered): for the provisioner and for the
// export's space. The NFSv3 and NFSv4 clients stay apart; this picks one.
import { type DirClient, NfsRpcError, NfsStatusError, v4NotOffered } from './dir/index.ts';
import { Nfs3Client } from './v3/index.ts';
import { Nfs4Client } from './v4/index.ts';

/** 'auto': v4, or v3 when the server does not offer v4 for the export. */
export type NfsVersionChoice = 'auto' | 3 | 4;

export interface ConnectChoice {
  version: NfsVersionChoice;
  /** The NFS port. */
  port: number;
  /** MOUNT v3's port; the portmapper's answer when absent. */
  mountPort?: number;
  /** The portmapper's port; 111 when absent. */
  portmapperPort?: number;
}

const why = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export async function connectDirClient(
  target: { server: string; path: string },
  choice: ConnectChoice,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<DirClient> {
  const v3 = () =>
    Nfs3Client.connect(
      {
        server: target.server,
        port: choice.port,
        exportPath: target.path,
        ...(choice.mountPort === undefined ? {} : { mountPort: choice.mountPort }),
        ...(choice.portmapperPort === undefined ? {} : { portmapperPort: choice.portmapperPort }),
      },
      options,
    );
  if (choice.version === 3) return v3();
  try {
    return await Nfs4Client.connect(
      { server: target.server, port: choice.port, exportPath: target.path },
      options,
    );
  } catch (err) {
    if (choice.version === 4 || !v4NotOffered(err)) throw err;
    try {
      return await v3();
    } catch (err3) {
      // The server's own refusal over v3 says most; a failure to reach v3 says both.
      if (err3 instanceof NfsStatusError) throw err3;
      throw new NfsRpcError(`NFSv4 does not serve the export (${why(err)}), and NFSv3: ${why(err3)}`, {
        cause: err3,
      });
    }
  }
}
