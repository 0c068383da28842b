// What a user-space NFS client for directories offers, whatever the NFS
// version under it: the export root, lookups, mkdir, listing, removal,
// rename and space. The NFSv3 (../v3) and NFSv4 (../v4) clients implement
// DirClient, so removeTree and the provisioner work over either. Also the
// checks both clients make the same way on what callers give them.
import { hostname } from 'node:os';

import { type AuthSys, DEFAULT_MAX_RECORD_BYTES } from '../rpc.ts';
import { checkName, shown } from './names.ts';
import type { TreeClient } from './remove-tree.ts';

/** Opaque to the client; at most 128 bytes (NFSv4) or 64 (NFSv3): a longer one from a server is refused. */
export type FileHandle = Buffer;

export interface Attrs {
  type: 'file' | 'dir' | 'symlink' | 'other';
  fileid: bigint;
  /** The file system the object is on, comparable within one version ("major:minor" in v4, a number in v3). */
  fsid: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface Found {
  fh: FileHandle;
  attrs: Attrs;
}

export interface ReaddirEntry {
  /** The name, or for one whose bytes are not UTF-8 a display of them (see displayName). */
  name: string;
  /** Set where the name's bytes are not UTF-8: these, not name, are what the server is sent back. */
  raw?: Buffer;
  cookie: bigint;
  attrs: Attrs;
  fh?: FileHandle;
}

export interface ReaddirPage {
  entries: ReaddirEntry[];
  eof: boolean;
  verifier: Buffer;
}

export interface CreateAttrs {
  mode: number;
  uid?: number;
  gid?: number;
}

export interface Space {
  totalBytes: number;
  freeBytes: number;
  availBytes: number;
}

/** One export of one server, reached over NFSv3 or NFSv4; see Nfs3Client and Nfs4Client. */
export interface DirClient extends TreeClient {
  readonly version: 3 | 4;
  /** The export's root directory. */
  readonly root: Found;
  /** Each component looked up from the root; undefined if any is absent. */
  lookupPath(
    components: readonly string[],
  ): Promise<{ parent: FileHandle; fh: FileHandle; attrs: Attrs } | undefined>;
  /** Directory `name` in `dir` with these attributes; 'exists' when something has that name. */
  mkdir(dir: FileHandle, name: string, attrs: CreateAttrs): Promise<Found | 'exists'>;
  rename(dir: FileHandle, from: string, to: string): Promise<void>;
  space(fh?: FileHandle): Promise<Space>;
  /** Why the connection is closed, once it is. */
  readonly closedBy: Error | undefined;
  /** Closes the connection(s); NFSv3 first tells MOUNT it is done, best effort, never failing. */
  close(): void | Promise<void>;
}

export interface ClientOptions {
  /** Each call; a call past it closes the connection and rejects. */
  timeoutMs: number;
  /** AUTH_SYS identity; 0/0 by default. */
  uid?: number;
  gid?: number;
  /** Bound per reply; 1 MiB by default. */
  maxReplyBytes?: number;
  /** Aborting closes the socket and rejects pending calls. */
  signal?: AbortSignal;
}

/** Path components lookupPath accepts at most (one COMPOUND carries them all in v4). */
export const MAX_PATH_COMPONENTS = 64;
/** Smallest READDIR reply asked for: room for a few entries with attributes. */
export const MIN_READDIR_BYTES = 1024;
const MAX_TIMEOUT_MS = 24 * 3600 * 1000;
/** The 8 zero bytes of cookie verifier that start a listing (v3 cookieverf3 and v4 verifier4 alike). */
export const ZERO_VERIFIER: Buffer = Buffer.alloc(8);

export function checkOptions(options: ClientOptions): Required<Omit<ClientOptions, 'signal'>> {
  const { timeoutMs, uid = 0, gid = 0, maxReplyBytes = DEFAULT_MAX_RECORD_BYTES } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(
      `timeoutMs must be a positive number of at most ${String(MAX_TIMEOUT_MS)}, not ${String(timeoutMs)}`,
    );
  }
  for (const [name, v] of [
    ['uid', uid],
    ['gid', gid],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
      throw new RangeError(`${name} must be an integer from 0 to 4294967295, not ${String(v)}`);
  }
  if (!Number.isInteger(maxReplyBytes) || maxReplyBytes < 4096 || maxReplyBytes > 64 * 1024 * 1024) {
    throw new RangeError(
      `maxReplyBytes must be an integer from 4096 to 64 MiB, not ${String(maxReplyBytes)}`,
    );
  }
  return { timeoutMs, uid, gid, maxReplyBytes };
}

/** A TCP port given by a caller. */
export function checkPort(port: number, what = 'port'): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`${what} must be 1 to 65535, not ${String(port)}`);
  }
  return port;
}

/** The host to connect to: a name or address, brackets of an IPv6 address dropped. */
export function checkServer(server: string): string {
  if (typeof server !== 'string' || server === '' || server.length > 253) {
    throw new RangeError('server must be a host name or address of 1 to 253 characters');
  }
  return server.replace(/^\[(.*)\]$/, '$1');
}

/** AUTH_SYS credentials for uid/gid, with this machine's name in ASCII so it stays within 255 bytes. */
export function authSys(uid: number, gid: number): AuthSys {
  const machineName = hostname()
    .replace(/[^\x21-\x7e]/gu, '?')
    .slice(0, 64);
  return { stamp: Math.floor(Date.now() / 1000) >>> 0, machineName, uid, gid };
}

/** The export path's components: absolute, each one a valid name. */
export function exportComponents(exportPath: string): string[] {
  if (typeof exportPath !== 'string' || !exportPath.startsWith('/')) {
    throw new RangeError(`exportPath must be an absolute path, not ${shown(exportPath)}`);
  }
  const parts = exportPath.split('/').filter((p) => p !== '');
  if (parts.length > MAX_PATH_COMPONENTS)
    throw new RangeError(`exportPath has more than ${String(MAX_PATH_COMPONENTS)} components`);
  for (const p of parts) checkName(p, 'exportPath component');
  return parts;
}

/** Path components as lookupPath takes them: 1 to MAX_PATH_COMPONENTS names. */
export function checkComponents(components: readonly string[]): void {
  if (components.length === 0 || components.length > MAX_PATH_COMPONENTS) {
    throw new RangeError(
      `a path has 1 to ${String(MAX_PATH_COMPONENTS)} components, not ${String(components.length)}`,
    );
  }
  components.forEach((c, i) => checkName(c, `component ${String(i + 1)}`));
}

/** A handle a caller gives: a Buffer of 1 to max bytes. */
export function checkFh(fh: FileHandle, max: number, what = 'file handle'): FileHandle {
  if (!Buffer.isBuffer(fh) || fh.length === 0 || fh.length > max) {
    throw new RangeError(`${what} must be a Buffer of 1 to ${String(max)} bytes`);
  }
  return fh;
}

/** A READDIR cookie and verifier as a caller gives them. */
export function checkCookie(cookie: bigint, verifier: Buffer): void {
  if (typeof cookie !== 'bigint' || cookie < 0n || cookie > 0xffff_ffff_ffff_ffffn)
    throw new RangeError('cookie must be a uint64 bigint');
  if (!Buffer.isBuffer(verifier) || verifier.length !== ZERO_VERIFIER.length)
    throw new RangeError('verifier must be 8 bytes');
}

/** A READDIR size bound: at least MIN_READDIR_BYTES, at most what the reply bound leaves. */
export function checkListBytes(maxBytes: number, most: number): void {
  if (!Number.isInteger(maxBytes) || maxBytes < MIN_READDIR_BYTES || maxBytes > most) {
    throw new RangeError(
      `maxBytes must be an integer from ${String(MIN_READDIR_BYTES)} to ${String(most)}, not ${String(maxBytes)}`,
    );
  }
}

/**
 * A uint64 from the server as a number, capped at 2^53-1 bytes (8 PiB): what
 * a hostile 2^64-1 becomes must stay exact and fit the status's int64 fields.
 */
export function safeBytes(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}
