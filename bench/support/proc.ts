// CPU time and memory of a process, from Linux's /proc. The parsers are pure
// (unit-tested); the readers are the thin edge around them.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** One letter: R running, S sleeping, Z zombie, ... */
  state: string;
  /** User and system CPU time of the process itself (not its children), in clock ticks. */
  utimeTicks: number;
  stimeTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may
 * itself hold spaces and parentheses, so fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line: no command name in parentheses');
  // After ") ": field 3 (state) is index 0, so field n is index n - 3.
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const field = (n: number): number => {
    const raw = fields[n - 3];
    if (raw === undefined || !/^\d{1,20}$/.test(raw)) {
      throw new Error(`/proc/<pid>/stat field ${String(n)} is not a count: ${String(raw).slice(0, 30)}`);
    }
    return Number(raw);
  };
  const state = fields[0] ?? '';
  if (!/^[A-Za-z]$/.test(state))
    throw new Error(`/proc/<pid>/stat state is not one letter: ${state.slice(0, 30)}`);
  return { state, utimeTicks: field(14), stimeTicks: field(15) };
}

export interface ProcMemory {
  /** Resident set now (VmRSS), KiB. */
  rssKiB: number;
  /** Peak resident set since the process started (VmHWM), KiB. */
  peakRssKiB: number;
}

/** Parses the VmRSS and VmHWM lines of /proc/<pid>/status. */
export function parseProcStatus(text: string): ProcMemory {
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d{1,15}) kB$`, 'm').exec(text);
    if (!m) throw new Error(`/proc/<pid>/status has no ${key} line (a kernel thread, or a zombie?)`);
    return Number(m[1]);
  };
  return { rssKiB: kib('VmRSS'), peakRssKiB: kib('VmHWM') };
}

let ticksPerSecond: number | undefined;
/** USER_HZ, the unit of utime and stime: getconf CLK_TCK, 100 on every Linux we know of. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    // stdout is null when getconf cannot be started at all.
    const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }) as { stdout: string | null };
    const out = (result.stdout ?? '').trim();
    ticksPerSecond = /^\d{1,6}$/.test(out) && Number(out) > 0 ? Number(out) : 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = parseProcStat(readFileSync(`/proc/${String(pid)}/stat`, 'utf8'));
  return (stat.utimeTicks + stat.stimeTicks) / clockTicksPerSecond();
}

export function memory(pid: number): ProcMemory {
  return parseProcStatus(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
}

/** CPU seconds of several processes, read at once: take one before and one after, then subtract. */
export function cpuSnapshot(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
}

export function cpuSpent(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([name, s]) => [name, s - (before[name] ?? 0)]));
}
