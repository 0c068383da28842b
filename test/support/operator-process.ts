// The operator as a user runs it: its own Node process, started with the
// command line, watched through its logs and its HTTP endpoints. Tied to the
// test process (setpriv --pdeathsig) so a crashed test run leaves it behind.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Agent, fetch as undiciFetch } from 'undici';

import { sleep } from './wait.ts';

/** The operator's own certificate is signed by itself (--metrics-secure): tests do not verify it. */
const trustAnyCertificate = new Agent({ connect: { rejectUnauthorized: false } });

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const hasSetpriv = spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;

export interface OperatorStartOptions {
  kubeconfig: string;
  /** Extra command-line flags. */
  args?: string[];
  /** Flags for node itself, such as the Deployment's --max-old-space-size. */
  nodeArgs?: string[];
  /** File the operator's log lines are appended to, for reading after a failure. */
  logFile?: string;
  readyTimeoutMs?: number;
  /** The checkout whose src/main.ts runs (default this one): a bench compares two commits with it. */
  repoRoot?: string;
  /** A compiled entry point (dist/src/main.js) to run as the image does, instead of src/main.ts through tsx. */
  script?: string;
}

export interface LogEntry {
  level: string;
  message: string;
  [key: string]: unknown;
}

/** Leader election with short timings for tests: a 4 s lease, 3 s renew deadline, 1 s retries. */
export function quickLeaderElection(id: string, namespace = 'pv-lifecycle-system'): string[] {
  return [
    '--leader-elect',
    '--leader-election-id',
    id,
    '--leader-election-namespace',
    namespace,
    '--leader-election-lease-duration',
    '4s',
    '--leader-election-renew-deadline',
    '3s',
    '--leader-election-retry-period',
    '1s',
  ];
}

export class OperatorProcess {
  /** Every operator started, so a root hook can check each for refused requests. */
  static readonly started = new Set<OperatorProcess>();

  readonly child: ChildProcess;
  readonly entries: LogEntry[] = [];
  /** Log lines telling of a request RBAC refused: a permission missing from config/rbac. */
  readonly forbidden: string[] = [];
  private readonly logFile: string | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private port = 0;
  private scheme: 'http' | 'https' = 'http';

  private constructor(opts: OperatorStartOptions) {
    this.logFile = opts.logFile;
    if (this.logFile) mkdirSync(dirname(this.logFile), { recursive: true });
    const argv = [
      ...(opts.nodeArgs ?? []),
      ...(opts.script
        ? [opts.script]
        : ['--import', 'tsx', join(opts.repoRoot ?? repoRoot, 'src', 'main.ts')]),
      '--kubeconfig',
      opts.kubeconfig,
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--log-level',
      'debug',
      ...(opts.args ?? []),
    ];
    const [file, args] = hasSetpriv
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...argv]]
      : [process.execPath, argv];
    this.child = spawn(file, args, { cwd: opts.repoRoot ?? repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let partial = '';
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.onLine(line);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        resolve(this.exitStatus);
      });
    });
  }

  /** Starts the operator and waits until /readyz answers 200 (its informers have synced). */
  static async start(opts: OperatorStartOptions): Promise<OperatorProcess> {
    const p = new OperatorProcess(opts);
    OperatorProcess.started.add(p);
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
    for (;;) {
      if (p.exitStatus) {
        throw new Error(`operator exited during start-up (${JSON.stringify(p.exitStatus)}):\n${p.tail()}`);
      }
      if (p.port && (await p.get('/readyz').catch(() => undefined))?.status === 200) return p;
      if (Date.now() > deadline) {
        await p.kill();
        throw new Error(`operator not ready in time:\n${p.tail()}`);
      }
      await sleep(100);
    }
  }

  private onLine(line: string): void {
    if (this.logFile) appendFileSync(this.logFile, `${line}\n`);
    // "... is forbidden: User \"system:serviceaccount:...\" cannot list resource ...": RBAC, not
    // other refusals with the same code (such as writes into a namespace being deleted).
    if (/is forbidden: User .{1,300}? cannot /.test(line)) this.forbidden.push(line);
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      entry = { level: 'raw', message: line };
    }
    this.entries.push(entry);
    if (entry.message === 'serving metrics and probes' && typeof entry.address === 'string') {
      this.port = Number(entry.address.slice(entry.address.lastIndexOf(':') + 1));
      this.scheme = entry.scheme === 'https' ? 'https' : 'http';
    }
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Where its /metrics is served (once started). */
  get metricsUrl(): string {
    return `${this.scheme}://127.0.0.1:${String(this.port)}/metrics`;
  }

  /** GET on its listener, over HTTPS when it serves that (its certificate not verified). */
  get(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; text(): Promise<string> }> {
    return undiciFetch(`${this.scheme}://127.0.0.1:${String(this.port)}${path}`, {
      headers,
      signal: AbortSignal.timeout(5000),
      ...(this.scheme === 'https' ? { dispatcher: trustAnyCertificate } : {}),
    });
  }

  async metrics(): Promise<string> {
    const res = await this.get('/metrics');
    return res.text();
  }

  /** leader_election_master_status{name=id}: 1 leading, 0 standby; undefined once exited or before it reports. */
  async leaderStatus(id: string): Promise<number | undefined> {
    if (!this.running) return undefined;
    const text = await this.metrics().catch(() => '');
    const m = new RegExp(`^leader_election_master_status\\{name="${id}"\\} (\\d)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  }

  /** The last lines it logged, for failure messages. */
  tail(lines = 40): string {
    return this.entries
      .slice(-lines)
      .map((e) => JSON.stringify(e))
      .join('\n');
  }

  /** Sends signal and waits for the process to exit. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 20_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.exitStatus) return this.exitStatus;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the process to exit on its own; undefined if it still runs after timeoutMs. */
  async exit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined);
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The first log entry with this message, if any. */
  logged(message: string): LogEntry | undefined {
    return this.entries.find((e) => e.message === message);
  }

  /** SIGKILL: a crash, with no chance to clean up. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.stop('SIGKILL');
  }
}
