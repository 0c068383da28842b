// Which NFS version and ports the provisioner uses for a class's (or a
// volume's) directories: the mountOptions are what the pods mount with, so
// the provisioner follows nfsvers=/vers=, port= and mountport= there (as
// nfs(5) reads them: the last one given wins). Without a version it tries
// NFSv4 and falls back to NFSv3 only when the server says v4 is not there
// (nfs/connect.ts). Pure: strings in, a choice or a problem out.
import type { NfsVersionChoice } from '../nfs/connect.ts';

export interface NfsMount {
  version: NfsVersionChoice;
  /** port=: the NFS port; the operator's --nfs-port when absent (or 0). */
  port?: number;
  /** mountport=: MOUNT v3's port; asked of the portmapper when absent (or 0). */
  mountPort?: number;
}

export type ParsedMount = { ok: true; mount: NfsMount } | { ok: false; problem: string };

/** The versions nfsvers= takes; minor versions are the kernel's business: the provisioner speaks v4.0. */
export const versionChoices = ['3', '4', '4.0', '4.1', '4.2'] as const;
/** Mount options read at most: a class with more is refused rather than scanned without end. */
export const MAX_MOUNT_OPTIONS = 256;

const shown = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

function portOf(option: string, value: string): number | undefined | string {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    return `${shown(option)}: ${shown(value)} is not a port from 0 to 65535`;
  }
  const port = Number(value);
  // nfs(5): 0, like no option, means "ask the server's rpcbind" (or the default).
  return port === 0 ? undefined : port;
}

/**
 * Reads nfsvers/vers, port and mountport from mount options as Kubernetes
 * hands them to mount (each item may hold several, comma-separated); others
 * are left to the kubelet's mount. A bad value is a problem naming it.
 */
export function parseMountOptions(options: readonly string[] | undefined): ParsedMount {
  const mount: NfsMount = { version: 'auto' };
  const items = (options ?? []).flatMap((o) => (typeof o === 'string' ? o.split(',') : [String(o)]));
  if (items.length > MAX_MOUNT_OPTIONS) {
    return { ok: false, problem: `more than ${String(MAX_MOUNT_OPTIONS)} options` };
  }
  for (const raw of items) {
    const option = raw.trim();
    const eq = option.indexOf('=');
    const key = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? undefined : option.slice(eq + 1);
    if (key !== 'nfsvers' && key !== 'vers' && key !== 'port' && key !== 'mountport') continue;
    if (value === undefined) return { ok: false, problem: `${shown(option)} needs a value` };
    if (key === 'nfsvers' || key === 'vers') {
      if (!(versionChoices as readonly string[]).includes(value)) {
        return {
          ok: false,
          problem: `${shown(option)}: ${shown(value)} is not one of ${versionChoices.join(', ')}`,
        };
      }
      mount.version = value === '3' ? 3 : 4;
      continue;
    }
    const port = portOf(option, value);
    if (typeof port === 'string') return { ok: false, problem: port };
    if (key === 'port') {
      if (port === undefined) delete mount.port;
      else mount.port = port;
    } else if (port === undefined) delete mount.mountPort;
    else mount.mountPort = port;
  }
  return { ok: true, mount };
}
