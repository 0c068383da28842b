// What the container image holds, run without a container engine: the
// Dockerfile's steps replayed in a temporary folder (compile, then keep the
// production dependencies only), the result made read-only and started as
// user 1000 with no writable home, as the Deployment runs it. It must come up
// against the real apiserver with the ServiceAccount's token, serve /readyz,
// and stop cleanly on SIGTERM. This catches a runtime import of a development
// dependency, a file the build leaves out, or a write outside /tmp.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { expect } from 'chai';

import { sleep } from '../support/wait.ts';
import { operatorKubeconfig, repoRoot } from './cluster-hooks.ts';

const run = promisify(execFile);

describe('the image contents (Dockerfile steps replayed without an engine)', function () {
  this.timeout(300_000);
  let dir = '';
  let app = '';
  let child: ChildProcess | undefined;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'pvlo-image-'));
    const build = join(dir, 'build');
    app = join(dir, 'app');
    // Stage 1: sources and the locked dependencies, compile, prune to production.
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      cpSync(join(repoRoot, f), join(build, f));
    }
    cpSync(join(repoRoot, 'src'), join(build, 'src'), { recursive: true });
    // Equal to the image's `npm ci` for the same lock file, without the download.
    cpSync(join(repoRoot, 'node_modules'), join(build, 'node_modules'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await run(
      process.execPath,
      [join(build, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: build,
      },
    );
    await run('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--offline'], { cwd: build });
    // Stage 2: package.json, node_modules and dist only, read-only, and a node binary user 1000 may run.
    for (const p of ['package.json', 'node_modules', 'dist']) {
      cpSync(join(build, p), join(app, p), { recursive: true, verbatimSymlinks: true });
    }
    copyFileSync(process.execPath, join(dir, 'node'));
    chmodSync(join(dir, 'node'), 0o755);
    chmodSync(dir, 0o755);
    spawnSync('chmod', ['-R', 'a-w,a+rX', app]);
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await sleep(100);
    spawnSync('chmod', ['-R', 'u+w', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('has no development tool left and holds no TypeScript sources', () => {
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      devDependencies?: Record<string, string>;
    };
    // Type packages may stay: production dependencies depend on some of them.
    const tools = Object.keys(pkg.devDependencies ?? {}).filter((d) => !d.startsWith('@types/'));
    expect(tools).to.include.members(['typescript', 'tsx', 'mocha']);
    for (const dev of tools) {
      expect(spawnSync('test', ['-e', join(app, 'node_modules', dev)]).status, dev).to.not.equal(0);
    }
    expect(spawnSync('test', ['-e', join(app, 'src')]).status).to.not.equal(0);
    expect(spawnSync('test', ['-f', join(app, 'dist', 'src', 'main.js')]).status).to.equal(0);
  });

  it('runs as user 1000 from read-only files: ready against the apiserver, exit 0 on SIGTERM', async () => {
    // The token kubeconfig, readable by that user (the original lives under the test cluster's folder).
    const kubeconfig = join(dir, 'operator.kubeconfig');
    writeFileSync(kubeconfig, readFileSync(operatorKubeconfig()), { mode: 0o644 });
    const asUser =
      process.getuid?.() === 0 ? ['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups', '--'] : [];
    const argv = [
      ...asUser,
      join(dir, 'node'),
      'dist/src/main.js',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      'pv-lifecycle-system',
      '--metrics-bind-address',
      '127.0.0.1:0',
      '--probe-interval',
      '0',
    ];
    const proc = spawn(argv[0] ?? '', argv.slice(1), {
      cwd: app,
      env: { PATH: '/usr/bin:/bin', NODE_ENV: 'production', HOME: '/nonexistent', TMPDIR: '/tmp' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    let log = '';
    proc.stderr.on('data', (d: Buffer) => {
      log += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => {
      proc.on('exit', resolve);
    });

    let port = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`exited with ${String(proc.exitCode)}:\n${log}`);
      const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(log);
      if (m) port = Number(m[1]);
      if (port) {
        const res = await fetch(`http://127.0.0.1:${String(port)}/readyz`).catch(() => undefined);
        if (res?.status === 200) break;
      }
      if (Date.now() > deadline) throw new Error(`not ready in 60 s:\n${log}`);
      await sleep(200);
    }
    expect(log).to.not.match(/EACCES|EROFS|is forbidden/);
    proc.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });
});
