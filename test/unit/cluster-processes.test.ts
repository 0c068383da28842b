import { execSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import { freePorts, isPortFree } from '../../cluster/ports.ts';
import {
  isAlive,
  isOurs,
  killProcess,
  signalComponent,
  spawnComponent,
  stopProcesses,
} from '../../cluster/processes.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Children of pid, read from /proc so the test needs no ps. */
function childPids(pid: number): number[] {
  const text = execSync(`cat /proc/${pid}/task/*/children`, { encoding: 'utf8', shell: '/bin/bash' });
  return text.split(/\s+/).filter(Boolean).map(Number);
}

describe('local control plane processes', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pvlo-proc-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops a component and everything it forked, SIGKILLing what ignores SIGTERM', async () => {
    // The component traps SIGTERM and forks a grandchild that ignores it too.
    const script = `trap '' TERM; sleep 300 & sleep 300; # ${dir}`;
    const record = spawnComponent('stubborn', 'bash', ['-c', script], {
      log: join(dir, 'stubborn.log'),
      tieToParent: true,
    });
    await sleep(300);
    const children = childPids(record.pid);
    expect(children.length).to.be.greaterThan(0);
    expect(isAlive(record.pid)).to.be.true;
    expect(isOurs(record.pid, dir)).to.be.true;

    const started = Date.now();
    await stopProcesses([record], dir, 500);
    expect(Date.now() - started).to.be.greaterThanOrEqual(400);
    expect(isAlive(record.pid)).to.be.false;
    // SIGKILL reaches the group at once, but a loaded machine may take a moment
    // to end and reap a grandchild: wait up to 5 s, as the pause test does.
    const deadline = Date.now() + 5000;
    while (children.some(isAlive) && Date.now() < deadline) await sleep(50);
    for (const c of children) expect(isAlive(c), `grandchild ${c}`).to.be.false;
  });

  it('does not signal a live process that is not one of ours', async () => {
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = other.pid ?? -1;
      expect(isOurs(pid, dir)).to.be.false;
      await stopProcesses([{ name: 'other', pid, log: '' }], dir, 200);
      expect(isAlive(pid)).to.be.true;
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('kills a tied component when its parent dies by SIGKILL', async () => {
    // A Node parent that starts a tied component, prints its pid and waits.
    const code = `
      const { spawnComponent } = await import(${JSON.stringify(new URL('../../cluster/processes.ts', import.meta.url).href)});
      const r = spawnComponent('tied', 'sleep', ['300'], { log: ${JSON.stringify(join(dir, 'tied.log'))}, tieToParent: true });
      console.log(r.pid);
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (d: Buffer) => {
        resolve(Number(d.toString().trim()));
      });
      parent.once('exit', () => {
        reject(new Error('parent exited early'));
      });
    });
    expect(isAlive(pid)).to.be.true;
    // setpriv arms the parent-death signal and then execs the command: wait for
    // the exec, or a parent killed in between (a loaded machine) leaves it unarmed.
    const execDeadline = Date.now() + 5000;
    while (
      !readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').startsWith('sleep') &&
      Date.now() < execDeadline
    ) {
      await sleep(20);
    }
    parent.kill('SIGKILL');
    const deadline = Date.now() + 5000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(50);
    expect(isAlive(pid)).to.be.false;
  });

  it('pauses and resumes a component with everything it forked, and crashes it with SIGKILL', async () => {
    const script = `sleep 300 & sleep 300; # ${dir}`;
    const record = spawnComponent('pausable', 'bash', ['-c', script], {
      log: join(dir, 'pausable.log'),
      tieToParent: true,
    });
    await sleep(300);
    const group = [record.pid, ...childPids(record.pid)];
    expect(group.length).to.be.greaterThan(1);
    const state = (pid: number) => {
      const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    };
    expect(signalComponent(record, 'SIGSTOP', dir)).to.be.true;
    await sleep(100);
    for (const pid of group) expect(state(pid), `pid ${String(pid)} stopped`).to.equal('T');
    expect(signalComponent(record, 'SIGCONT', dir)).to.be.true;
    await sleep(100);
    for (const pid of group) expect(state(pid), `pid ${String(pid)} running again`).to.not.equal('T');
    // Not ours (another marker): left alone.
    expect(signalComponent(record, 'SIGKILL', '/no/such/marker')).to.be.false;
    expect(isAlive(record.pid)).to.be.true;
    await killProcess(record, dir);
    // A killed child is gone once its new parent has reaped it.
    const deadline = Date.now() + 5000;
    while (group.some(isAlive) && Date.now() < deadline) await sleep(50);
    for (const pid of group) expect(isAlive(pid), `pid ${String(pid)} gone`).to.be.false;
    expect(signalComponent(record, 'SIGCONT', dir)).to.be.false;
  });

  it('hands out distinct free ports and sees a taken one as busy', async () => {
    const ports = await freePorts(4);
    expect(new Set(ports).size).to.equal(4);
    const [port] = ports;
    if (port === undefined) throw new Error('no port');
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await isPortFree(port)).to.be.false;
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    }
    expect(await isPortFree(port)).to.be.true;
  });
});
