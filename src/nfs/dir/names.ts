// Name components the client sends and accepts. A component names one entry
// of one directory: never a path, never "." or "..", so a caller's string
// cannot reach outside the directory it names.
/** Longest name component a client sends or accepts (the common NAME_MAX; NFSv3 and v4 alike). */
export const MAX_NAME_BYTES = 255;

import { RpcDecodeError, type XdrReader } from '../rpc.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A name as the client sends it: a string (sent as UTF-8), or the exact bytes
 * a server listed where they are not UTF-8 (POSIX names are bytes; a tenant
 * can make such a name, and its directory must still be removable).
 */
export type Name = string | Buffer;

/** The bytes a name is sent as. */
export const nameBytes = (name: Name): Buffer =>
  typeof name === 'string' ? Buffer.from(name, 'utf8') : name;

const slashByte = 0x2f;
const dot = Buffer.from('.');
const dotdot = Buffer.from('..');

/** Why raw name bytes are not a component, or undefined when they are one. */
function bytesProblem(bytes: Buffer): string | undefined {
  if (bytes.length === 0) return 'is empty';
  if (bytes.equals(dot) || bytes.equals(dotdot)) return `is "${bytes.toString('latin1')}"`;
  if (bytes.includes(slashByte)) return 'contains "/"';
  if (bytes.includes(0)) return 'contains NUL';
  if (bytes.length > MAX_NAME_BYTES)
    return `is ${String(bytes.length)} bytes long, more than ${String(MAX_NAME_BYTES)}`;
  return undefined;
}

/** Why name is not a component, or undefined when it is one. */
export function nameProblem(name: unknown): string | undefined {
  if (Buffer.isBuffer(name)) return bytesProblem(name);
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

/** A value for an error message: a string quoted and cut short, name bytes as displayName, else its type. */
export function shown(value: unknown): string {
  if (Buffer.isBuffer(value)) return JSON.stringify(displayName(value).slice(0, 200));
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 200)) : typeof value;
}

/** Name bytes for people: UTF-8 where they are, each other byte as \xNN. */
export function displayName(bytes: Buffer): string {
  const whole = decodeName(bytes);
  if (whole !== undefined) return whole;
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    // The longest UTF-8 sequence (1 to 4 bytes) that decodes here, else one byte escaped.
    let step = 0;
    for (let n = Math.min(4, bytes.length - i); n >= 1 && step === 0; n--) {
      const part = decodeName(bytes.subarray(i, i + n));
      if (part !== undefined) {
        out += part;
        step = n;
      }
    }
    if (step === 0) {
      out += `\\x${(bytes[i] ?? 0).toString(16).padStart(2, '0')}`;
      step = 1;
    }
    i += step;
  }
  return out;
}

/** Throws RangeError unless name is a single component. */
export function checkName<N extends Name>(name: N, what = 'name'): N {
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
 * A name from a server's directory listing, one component, else
 * RpcDecodeError. Its string is the UTF-8 name, or for bytes that are not
 * UTF-8 their displayName, with raw the bytes themselves (what the server is
 * sent back). `dots`: "." and ".." pass too (NFSv3 lists them).
 */
export function readEntryName(r: XdrReader, what: string, dots = false): { name: string; raw?: Buffer } {
  const bytes = r.opaque(MAX_NAME_BYTES, `${what} name`);
  const name = decodeName(bytes);
  if (name === undefined) {
    const problem = bytesProblem(bytes);
    if (problem) throw new RpcDecodeError(`${what} name ${shown(bytes)} ${problem}`);
    return { name: displayName(bytes), raw: Buffer.from(bytes) };
  }
  const problem = dots && (name === '.' || name === '..') ? undefined : nameProblem(name);
  if (problem) throw new RpcDecodeError(`${what} name ${JSON.stringify(name)} ${problem}`);
  return { name };
}
