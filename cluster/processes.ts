// Starting and stopping the control plane's processes. Each one runs in a
// process group of its own so that stopping it also stops anything it forked.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export interface ProcessRecord {
  name: string;
  pid: number;
  log: string;
}

export interface SpawnOptions {
  log: string;
  /**
   * Kill the process when the spawning Node process dies, even by SIGKILL
   * (setpriv --pdeathsig), so a crashed test run leaves nothing behind.
   */
  tieToParent: boolean;
}

let setprivAvailable: boolean | undefined;
function hasSetpriv(): boolean {
  setprivAvailable ??= spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
  return setprivAvailable;
}

export function spawnComponent(
  name: string,
  command: string,
  args: string[],
  opts: SpawnOptions,
): ProcessRecord {
  const fd = openSync(opts.log, 'a');
  try {
    const [file, argv] =
      opts.tieToParent && hasSetpriv()
        ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]]
        : [command, args];
    const child = spawn(file, argv, { detached: true, stdio: ['ignore', fd, fd] });
    if (child.pid === undefined) {
      throw new Error(`could not start ${name} (${command})`);
    }
    // Errors surface through readiness checks and the log; keep Node from throwing.
    child.on('error', () => undefined);
    if (!opts.tieToParent) {
      child.unref();
    }
    return { name, pid: child.pid, log: opts.log };
  } finally {
    closeSync(fd);
  }
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Whether pid is still one of ours: its command line mentions the cluster's
 * directory. Guards against signalling an unrelated process that reused a pid
 * recorded by an earlier run.
 */
export function isOurs(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Stops the processes one after another, in the order given: SIGTERM to the
 * process group, SIGKILL if it is still alive after graceMs. Order matters for
 * a control plane: the apiserver shuts down in about a second once its clients
 * are gone, but hangs until killed if etcd goes first.
 */
export async function stopProcesses(
  records: ProcessRecord[],
  marker: string,
  graceMs = 10_000,
): Promise<void> {
  for (const r of records) {
    if (!isAlive(r.pid) || !isOurs(r.pid, marker)) continue;
    signalGroup(r.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(r.pid) && Date.now() < deadline) {
      await sleep(20);
    }
    // Also reaches whatever the leader forked and left behind in its group.
    signalGroup(r.pid, 'SIGKILL');
    while (isAlive(r.pid)) {
      await sleep(20);
    }
  }
}

/**
 * Sends signal to a component's process group, if the process is still one of
 * ours. SIGSTOP and SIGCONT pause and resume it (chaos tests): it keeps its
 * sockets open but answers nothing, as a process stuck on a slow disk would.
 */
export function signalComponent(r: ProcessRecord, signal: NodeJS.Signals, marker: string): boolean {
  if (!isAlive(r.pid) || !isOurs(r.pid, marker)) return false;
  signalGroup(r.pid, signal);
  return true;
}

/** SIGKILL to the process group, as a crash would; resolves once the process is gone. */
export async function killProcess(r: ProcessRecord, marker: string): Promise<void> {
  if (!signalComponent(r, 'SIGKILL', marker)) return;
  while (isAlive(r.pid)) {
    await sleep(20);
  }
}

/** Synchronous last resort for process 'exit' handlers, where nothing can be awaited. */
export function killProcessesNow(records: ProcessRecord[]): void {
  for (const r of records) signalGroup(r.pid, 'SIGKILL');
}

export function logTail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
