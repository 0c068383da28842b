// Name components the client sends and accepts. A component names one entry
// of one directory: never a path, never "." or "..", so a caller's string
// cannot reach outside the directory it names.
/** Longest name component a client sends or accepts (the common NAME_MAX; NFSv3 and v4 alike). */
export const MAX_NAME_BYTES = 255;

import { RpcDecodeError, type XdrReader } from '../rpc.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Why name is not a component, or undefined when it is one. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'is not a string';
  if (name === '') return 'is empty';
  if (name === '.' || name === '..') return `is "${name}"`;
  if (name.includes('/')) return 'contains "/"';
  if (name.includes('\0')) return 'contains NUL';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `is ${String(bytes)} bytes long, more than ${String(MAX_NAME_BYTES)}`;
  // A lone surrogate would be sent as U+FFFD: another name than the caller's.
  if (!name.isWellFormed()) return 'is not well-formed Unicode';
  return undefined;
}

/** A value for an error message: a string quoted and cut short, else its type. */
export function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 200)) : typeof value;
}

/** Throws RangeError unless name is a single component. */
export function checkName(name: string, what = 'name'): string {
  const problem = nameProblem(name);
  if (problem) throw new RangeError(`${what} ${shown(name)} ${problem}`);
  return name;
}

/** A name from the server as UTF-8, or undefined when its bytes are not UTF-8. */
export function decodeName(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * A name from a server's directory listing: UTF-8 and one component, else
 * RpcDecodeError. `dots`: "." and ".." pass too (NFSv3 lists them).
 */
export function readEntryName(r: XdrReader, what: string, dots = false): string {
  const bytes = r.opaque(MAX_NAME_BYTES, `${what} name`);
  const name = decodeName(bytes);
  if (name === undefined)
    throw new RpcDecodeError(`${what} name is not UTF-8 (${bytes.toString('hex').slice(0, 64)})`);
  const problem = dots && (name === '.' || name === '..') ? undefined : nameProblem(name);
  if (problem) throw new RpcDecodeError(`${what} name ${JSON.stringify(name)} ${problem}`);
  return name;
}
