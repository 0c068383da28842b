// The parameters of a StorageClass whose provisioner is pvlifecycle.io/nfs,
// read and checked once per class. Every problem names the parameter, since
// the administrator who wrote the class reads it in an event on a claim.
import type { V1StorageClass } from '@kubernetes/client-node';

import { type NfsMount, parseMountOptions } from './mount-options.ts';
import { type PathPattern, PatternError, defaultPattern, parsePattern } from './pattern.ts';

/** The provisioner name classes give, and provisioned volumes carry in pv.kubernetes.io/provisioned-by. */
export const provisionerName = 'pvlifecycle.io/nfs';

export const onDeleteChoices = ['delete', 'retain', 'archive'] as const;
export type OnDelete = (typeof onDeleteChoices)[number];

export const existingChoices = ['refuse', 'adopt'] as const;
export type Existing = (typeof existingChoices)[number];

/** Where the directories are made: a declared NfsExport used as a pool, or a server and path. */
export type Source = { nfsExport: string } | { server: string; path: string };

export interface ClassConfig {
  source: Source;
  pattern: PathPattern;
  onDelete: OnDelete;
  /** Permission bits of the directories made (07777 at most). */
  mode: number;
  uid?: number;
  gid?: number;
  /** What to do when the directory already exists (and holds files, or a volume recorded it). */
  existing: Existing;
  /** The NFS version and ports, from the class's mountOptions (what the pods mount with). */
  mount: NfsMount;
}

export const parameterNames = [
  'nfsExport',
  'server',
  'path',
  'pathPattern',
  'onDelete',
  'mode',
  'uid',
  'gid',
  'existingDirectory',
] as const;

export type Parsed = { ok: true; config: ClassConfig } | { ok: false; problem: string };

const shown = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

// A DNS subdomain (an object's name) and a host: a name or an IP address, as the NfsExport API takes them.
const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const hostName = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*\.?$/;
const ipv6 = /^\[?[0-9A-Fa-f:.]+\]?$/;

class ParameterError extends Error {}

function fail(name: string, why: string): never {
  throw new ParameterError(`parameter ${name}: ${why}`);
}

function choice<T extends string>(
  name: string,
  value: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    fail(name, `${shown(value)} is not one of ${choices.join(', ')}`);
  }
  return value as T;
}

function id(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,10}$/.test(value) || Number(value) > 0xffff_fffe) {
    fail(name, `${shown(value)} is not a numeric id from 0 to 4294967294`);
  }
  return Number(value);
}

function mode(value: string | undefined): number {
  if (value === undefined) return 0o777;
  if (!/^0?[0-7]{3,4}$/.test(value)) fail('mode', `${shown(value)} is not an octal mode such as 0775`);
  return parseInt(value, 8);
}

/** An absolute path in normal form: no trailing "/", no "//", no "." or ".." segments, not "/". */
export function badExportPath(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be absolute';
  if (path === '/') return 'may not be the root';
  if (path.length > 1024) return 'is longer than 1024 characters';
  if (path.includes('\0')) return 'contains a NUL character';
  if (
    path.endsWith('/') ||
    path
      .split('/')
      .slice(1)
      .some((s) => s === '' || s === '.' || s === '..')
  ) {
    return 'must be in normal form (no trailing "/", no "//", no "." or ".." segments)';
  }
  return undefined;
}

function source(p: Readonly<Record<string, string>>): Source {
  const { nfsExport, server, path } = p;
  if (nfsExport !== undefined) {
    if (server !== undefined || path !== undefined) {
      fail('nfsExport', 'give either nfsExport or server and path, not both');
    }
    if (nfsExport.length > 253 || !dnsSubdomain.test(nfsExport)) {
      fail('nfsExport', `${shown(nfsExport)} is not the name of an NfsExport`);
    }
    return { nfsExport };
  }
  if (server === undefined || path === undefined) {
    fail(server === undefined ? 'server' : 'path', 'missing: give nfsExport, or both server and path');
  }
  if (server.length > 253 || !(hostName.test(server) || (server.includes(':') && ipv6.test(server)))) {
    fail('server', `${shown(server)} is not a host name or an IP address`);
  }
  const bad = badExportPath(path);
  if (bad) fail('path', `${shown(path)} ${bad}`);
  return { server: server.replace(/^\[(.*)\]$/, '$1'), path };
}

/**
 * Reads a class's parameters, and the NFS version and ports of its
 * mountOptions; unknown parameters are refused, so a typo is not silently
 * ignored.
 */
export function parseParameters(sc: V1StorageClass): Parsed {
  const p: Readonly<Record<string, string>> = sc.parameters ?? {};
  try {
    const unknown = Object.keys(p).filter((k) => !(parameterNames as readonly string[]).includes(k));
    if (unknown.length > 0) {
      fail(shown(unknown[0] ?? ''), `unknown (known: ${parameterNames.join(', ')})`);
    }
    let pattern: PathPattern;
    try {
      pattern = parsePattern(p.pathPattern ?? defaultPattern);
    } catch (e) {
      if (e instanceof PatternError) fail('pathPattern', `${shown(p.pathPattern ?? '')} ${e.message}`);
      throw e;
    }
    const mount = parseMountOptions(sc.mountOptions);
    if (!mount.ok) throw new ParameterError(`mountOptions: ${mount.problem}`);
    return {
      ok: true,
      config: {
        source: source(p),
        pattern,
        onDelete: choice('onDelete', p.onDelete, onDeleteChoices, 'delete'),
        mode: mode(p.mode),
        uid: id('uid', p.uid),
        gid: id('gid', p.gid),
        existing: choice('existingDirectory', p.existingDirectory, existingChoices, 'refuse'),
        mount: mount.mount,
      },
    };
  } catch (e) {
    if (e instanceof ParameterError) return { ok: false, problem: e.message };
    throw e;
  }
}

/** The class's reclaim policy as provisioned volumes take it (the API defaults it to Delete). */
export function classReclaimPolicy(sc: V1StorageClass): 'Delete' | 'Retain' {
  return sc.reclaimPolicy === 'Retain' ? 'Retain' : 'Delete';
}
