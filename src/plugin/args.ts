// The plugin's command line, parsed without I/O: `kubectl pvl COMMAND [ARGS] [FLAGS]`.
// Anything wrong is a UsageError (exit 2) naming the flag or argument.
import { formatDuration, parseDuration } from '../runtime/duration.ts';

export const commands = ['why', 'release', 'recycle', 'status'] as const;
export type Command = (typeof commands)[number];
export const outputs = ['table', 'json', 'yaml'] as const;
export type Output = (typeof outputs)[number];

export const defaultTimeoutMs = 5 * 60_000;
export const maxTimeoutMs = 60 * 60_000;
export const defaultOperatorNamespace = 'pv-lifecycle-system';
/** The operator's --leader-election-id default. */
export const defaultLeaseName = 'pv-lifecycle-operator';

export interface Options {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  output: Output;
  yes: boolean;
  timeoutMs: number;
  operatorNamespace: string;
  leaseName: string;
}

export type Parsed =
  { help: true; command?: Command } | { help: false; command: Command; name?: string; options: Options };

export class UsageError extends Error {
  override name = 'UsageError';
}

interface FlagSpec {
  key: keyof Options | 'help' | 'timeout';
  /** Takes a value (else a switch). */
  value: boolean;
  /** Commands that accept it; undefined: all. */
  only?: readonly Command[];
}

const flags = new Map<string, FlagSpec>([
  ['--help', { key: 'help', value: false }],
  ['-h', { key: 'help', value: false }],
  ['--kubeconfig', { key: 'kubeconfig', value: true }],
  ['--context', { key: 'context', value: true }],
  ['--namespace', { key: 'namespace', value: true, only: ['why'] }],
  ['-n', { key: 'namespace', value: true, only: ['why'] }],
  ['--output', { key: 'output', value: true }],
  ['-o', { key: 'output', value: true }],
  ['--yes', { key: 'yes', value: false, only: ['release', 'recycle'] }],
  ['-y', { key: 'yes', value: false, only: ['release', 'recycle'] }],
  ['--timeout', { key: 'timeout', value: true, only: ['release', 'recycle'] }],
  ['--operator-namespace', { key: 'operatorNamespace', value: true, only: ['status'] }],
  ['--lease', { key: 'leaseName', value: true, only: ['status'] }],
]);

/** Arguments a command takes: the object's name, or nothing. */
const takesName: Record<Command, string | undefined> = {
  why: 'CLAIM',
  release: 'PV',
  recycle: 'PV',
  status: undefined,
};

// A DNS-1123 subdomain (object names) and label (namespaces), as the API server checks them.
const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkName(what: string, value: string): string {
  if (value.length > 253 || !subdomain.test(value)) {
    throw new UsageError(
      `${what} "${clip(value)}" is not a valid name: lower-case letters, digits, '-' and '.', at most 253 characters`,
    );
  }
  return value;
}

export function checkNamespace(flag: string, value: string): string {
  if (value.length > 63 || !label.test(value)) {
    throw new UsageError(
      `${flag} "${clip(value)}" is not a valid namespace: lower-case letters, digits and '-', at most 63 characters`,
    );
  }
  return value;
}

const clip = (s: string) => (s.length > 60 ? `${s.slice(0, 60)}...` : s);

function setFlag(opts: Options, flag: string, spec: FlagSpec, value: string): void {
  if (value.length > 4096) throw new UsageError(`${flag}: value longer than 4096 characters`);
  switch (spec.key) {
    case 'kubeconfig':
      if (value === '') throw new UsageError(`${flag} needs a file name`);
      opts.kubeconfig = value;
      return;
    case 'context':
      if (value === '') throw new UsageError(`${flag} needs a context name`);
      opts.context = value;
      return;
    case 'namespace':
      opts.namespace = checkNamespace(flag, value);
      return;
    case 'leaseName':
      opts.leaseName = checkName(flag, value);
      return;
    case 'operatorNamespace':
      opts.operatorNamespace = checkNamespace(flag, value);
      return;
    case 'output':
      if (!(outputs as readonly string[]).includes(value)) {
        throw new UsageError(`${flag} "${clip(value)}" is not one of: ${outputs.join(', ')}`);
      }
      opts.output = value as Output;
      return;
    case 'timeout': {
      let ms: number;
      try {
        ms = parseDuration(value);
      } catch (err) {
        throw new UsageError(`${flag}: ${(err as Error).message}`);
      }
      if (ms < 1000 || ms > maxTimeoutMs) {
        throw new UsageError(`${flag} must be between 1s and ${formatDuration(maxTimeoutMs)}`);
      }
      opts.timeoutMs = ms;
      return;
    }
    default:
      throw new UsageError(`${flag} takes no value`);
  }
}

export function parseArgs(argv: readonly string[]): Parsed {
  if (argv.length > 64) throw new UsageError('too many arguments');
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? argv[1] : undefined;
    if (topic !== undefined && !(commands as readonly string[]).includes(topic)) {
      throw new UsageError(`unknown command "${clip(topic)}": use one of ${commands.join(', ')}`);
    }
    return { help: true, command: topic as Command | undefined };
  }
  if (!(commands as readonly string[]).includes(first)) {
    throw new UsageError(`unknown command "${clip(first)}": use one of ${commands.join(', ')}`);
  }
  const command = first as Command;
  const opts: Options = {
    output: 'table',
    yes: false,
    timeoutMs: defaultTimeoutMs,
    operatorNamespace: defaultOperatorNamespace,
    leaseName: defaultLeaseName,
  };
  const positional: string[] = [];
  let help = false;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = flags.get(flag);
    if (!spec)
      throw new UsageError(`unknown flag ${clip(flag)} for "${command}" (see kubectl pvl ${command} --help)`);
    if (spec.only && !spec.only.includes(command)) {
      throw new UsageError(`${flag} does not apply to "${command}"`);
    }
    if (!spec.value) {
      if (eq > 0) throw new UsageError(`${flag} takes no value`);
      if (spec.key === 'help') help = true;
      else opts.yes = true;
      continue;
    }
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      value = next;
      i++;
    }
    setFlag(opts, flag, spec, value);
  }
  if (help) return { help: true, command };
  const wanted = takesName[command];
  if (wanted === undefined) {
    if (positional.length > 0)
      throw new UsageError(`"${command}" takes no arguments, got "${clip(positional[0] ?? '')}"`);
    return { help: false, command, options: opts };
  }
  if (positional.length === 0) throw new UsageError(`"${command}" needs ${wanted}`);
  if (positional.length > 1)
    throw new UsageError(`"${command}" takes one ${wanted}, got ${String(positional.length)}`);
  return { help: false, command, name: checkName(wanted, positional[0] ?? ''), options: opts };
}
