// The scrub script, run for real on temporary directories: with /bin/sh and
// the system's find, with a find that lacks -delete (the fallback through rm
// and rmdir), and with busybox sh and busybox's own find, rm, rmdir, ls and wc
// when busybox is installed.
import { execFile, execFileSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';

import {
  scrubCommand,
  scrubExitIncomplete,
  scrubExitRefused,
  scrubScript,
} from '../../../src/reclaim/scrub.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

interface Runner {
  name: string;
  /** Why it cannot run here, if it cannot. */
  skip?: string;
  /** The shell and its arguments before -c. */
  shell: string[];
  /** PATH for the script. */
  path: string;
  /**
   * The shell runs its own applets before looking at PATH (a busybox built
   * with FEATURE_SH_STANDALONE, as Debian's busybox-static is), so broken
   * tools put on PATH are never run.
   */
  appletsFirst?: boolean;
  /** The command line that runs this runner's real find, for wrappers. */
  find: string;
}

function which(command: string): string | undefined {
  try {
    return execFileSync('/bin/sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function script(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

/**
 * Where test directories go: a tmpfs when there is one, where creating
 * 200,000 files takes seconds; on a busy disk it can take minutes.
 */
function scratch(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {
    // no /dev/shm: the system's temporary directory
  }
  return tmpdir();
}

const scratchDir = scratch();
const toolsRoot = mkdtempSync(join(scratchDir, 'scrub-tools-'));
const systemPath = process.env.PATH ?? '/usr/bin:/bin';
const systemFind = which('find') ?? '/usr/bin/find';
const busybox = which('busybox');

/** A find that knows no -delete, like some busybox builds. */
function withoutDelete(dir: string, realFind: string): string {
  mkdirSync(dir, { recursive: true });
  script(
    dir,
    'find',
    `for a in "$@"; do
  if [ "$a" = -delete ]; then echo "find: unrecognized: -delete" >&2; exit 1; fi
done
exec ${realFind} "$@"`,
  );
  return dir;
}

const runners: Runner[] = [
  { name: '/bin/sh with the system find', shell: ['/bin/sh'], path: systemPath, find: systemFind },
  {
    name: '/bin/sh with a find that lacks -delete',
    shell: ['/bin/sh'],
    path: `${withoutDelete(join(toolsRoot, 'no-delete'), systemFind)}:${systemPath}`,
    find: systemFind,
  },
];
if (busybox) {
  const dir = join(toolsRoot, 'busybox');
  mkdirSync(dir);
  for (const applet of ['sh', 'find', 'rm', 'rmdir', 'ls', 'wc', 'printf', 'cat']) {
    symlinkSync(busybox, join(dir, applet));
  }
  const probe = join(toolsRoot, 'applets-probe');
  mkdirSync(probe);
  script(probe, 'rm', 'echo from-path');
  const ran = execFileSync(busybox, ['sh', '-c', 'rm /nonexistent 2>/dev/null || true'], {
    encoding: 'utf8',
    env: { PATH: probe },
  });
  runners.push({
    name: 'busybox sh with busybox find',
    shell: [busybox, 'sh'],
    path: dir,
    find: `${busybox} find`,
    appletsFirst: !ran.includes('from-path'),
  });
} else {
  runners.push({
    name: 'busybox sh with busybox find',
    skip: 'busybox is not installed (command -v busybox found nothing)',
    shell: [],
    path: '',
    find: '',
  });
}

function runScrub(runner: Runner, dir: string, env: Record<string, string> = {}): Promise<Result> {
  const [shell = '/bin/sh', ...shellArgs] = runner.shell;
  const argv = [...shellArgs, '-c', scrubScript, 'scrub', dir];
  return new Promise((resolve) => {
    execFile(
      shell,
      argv,
      { env: { PATH: runner.path, LC_ALL: 'C', ...env }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Creates count empty files in dir, fast. */
function manyFiles(dir: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) closeSync(openSync(join(dir, `f${String(i)}`), 'w'));
}

after(() => {
  rmSync(toolsRoot, { recursive: true, force: true });
});

describe('the scrub command', () => {
  it('runs the script with /bin/sh, the directory as $1', () => {
    expect(scrubCommand()).to.deep.equal(['/bin/sh', '-c', scrubScript, 'scrub', '/scrub']);
    expect(scrubCommand('/x')).to.deep.equal(['/bin/sh', '-c', scrubScript, 'scrub', '/x']);
  });

  it('is plain POSIX sh: dash and busybox parse it', () => {
    execFileSync('/bin/sh', ['-n', '-c', scrubScript]);
    if (busybox) execFileSync(busybox, ['sh', '-n', '-c', scrubScript]);
  });

  it('turns globbing off', () => {
    expect(scrubScript).to.match(/^set -f$/m);
  });
});

for (const runner of runners) {
  describe(`the scrub script, ${runner.name}${runner.skip ? ` (skipped: ${runner.skip})` : ''}`, function () {
    let root: string;
    let log: string;

    before(function () {
      if (runner.skip) this.skip();
    });

    beforeEach(() => {
      root = mkdtempSync(join(scratchDir, 'scrub-test-'));
      log = join(root, 'termination-log');
      writeFileSync(log, '');
    });

    afterEach(() => {
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('empties a volume of awkward names and 200,000 files, and leaves symlink targets alone', async function () {
      this.timeout(120_000);
      this.slow(30_000);
      const vol = join(root, 'vol');
      const outside = join(root, 'outside');
      mkdirSync(join(outside, 'd'), { recursive: true });
      writeFileSync(join(outside, 'd', 'f'), 'keep');
      writeFileSync(join(outside, 'file'), 'keep');
      mkdirSync(vol);

      let entries = 0;
      const file = (name: string) => {
        writeFileSync(join(vol, name), 'x');
        entries++;
      };
      const dir = (name: string) => {
        mkdirSync(join(vol, name));
        entries++;
      };
      const link = (name: string, target: string) => {
        symlinkSync(target, join(vol, name));
        entries++;
      };
      for (const name of ['.hidden', '..x', '...', '-rf', '--', '-', 'a b', ' lead', 'trail ', 'new\nline'])
        file(name);
      for (const name of ['*', '?', '[a]', '$(touch pwned)', '`id`', "it's", '"q"', '\\', 'ünï']) file(name);
      for (const name of [
        'deep',
        'deep/a',
        'deep/a/b',
        'deep/a/b/c',
        '.dotdir',
        '-rf dir',
        'line\nbreak',
        'empty',
      ]) {
        dir(name);
      }
      for (const name of ['deep/a/b/c/file', 'deep/.h', '.dotdir/x', '-rf dir/-rf', 'line\nbreak/new\nline'])
        file(name);
      link('link-to-dir', join(outside, 'd'));
      link('link-to-file', join(outside, 'file'));
      link('deep/a/link-to-dir', join(outside, 'd'));
      link('dangling', join(root, 'nowhere'));
      link('self', '.');
      const started = Date.now();
      for (const d of ['many-0', 'many-1', 'deep/many-2', 'deep/a/many-3']) {
        manyFiles(join(vol, d), 50_000);
        entries += 50_001;
      }
      const created = Date.now() - started;

      const result = await runScrub(runner, vol, { SCRUB_TERMINATION_LOG: log });

      expect(result.stderr).to.equal('');
      expect(result.code).to.equal(0);
      const message = `scrubbed ${String(entries)} entries from ${vol}`;
      expect(result.stdout).to.equal(`${message}\n`);
      expect(readFileSync(log, 'utf8')).to.equal(`${message}\n`);
      expect(readdirSync(vol)).to.deep.equal([]);
      expect(readdirSync(outside).sort()).to.deep.equal(['d', 'file']);
      expect(readdirSync(join(outside, 'd'))).to.deep.equal(['f']);
      expect(readFileSync(join(outside, 'd', 'f'), 'utf8')).to.equal('keep');
      expect(readFileSync(join(outside, 'file'), 'utf8')).to.equal('keep');
      expect(existsSync(join(root, 'pwned'))).to.equal(false);
      expect(created).to.be.below(60_000);
    });

    it('succeeds on an empty directory, and names one entry in the singular', async () => {
      const vol = join(root, 'vol');
      mkdirSync(vol);
      expect(await runScrub(runner, vol, { SCRUB_TERMINATION_LOG: log })).to.deep.equal({
        code: 0,
        stdout: `scrubbed 0 entries from ${vol}\n`,
        stderr: '',
      });
      writeFileSync(join(vol, 'one'), '');
      expect((await runScrub(runner, `${vol}//`)).stdout).to.equal(`scrubbed 1 entry from ${vol}\n`);
    });

    it('does without a termination log when it cannot write one', async () => {
      const vol = join(root, 'vol');
      mkdirSync(vol);
      const result = await runScrub(runner, vol, { SCRUB_TERMINATION_LOG: join(root, 'no', 'such', 'file') });
      expect(result).to.deep.include({ code: 0, stderr: '' });
      expect(existsSync(join(root, 'no'))).to.equal(false);
    });

    it('fails on a missing directory, saying so', async () => {
      const missing = join(root, 'missing');
      const result = await runScrub(runner, missing, { SCRUB_TERMINATION_LOG: log });
      const message = `scrub failed: ${missing} does not exist`;
      expect(result).to.deep.equal({ code: scrubExitRefused, stdout: '', stderr: `${message}\n` });
      expect(readFileSync(log, 'utf8')).to.equal(`${message}\n`);
    });

    it('fails on a file', async () => {
      const file = join(root, 'file');
      writeFileSync(file, 'keep');
      const result = await runScrub(runner, file);
      expect(result).to.deep.include({
        code: scrubExitRefused,
        stderr: `scrub failed: ${file} is not a directory\n`,
      });
      expect(readFileSync(file, 'utf8')).to.equal('keep');
    });

    it('refuses a symbolic link, even to a directory it could scrub', async () => {
      mkdirSync(join(root, 'real'));
      writeFileSync(join(root, 'real', 'keep'), 'keep');
      symlinkSync(join(root, 'real'), join(root, 'link'));
      for (const dir of [join(root, 'link'), `${join(root, 'link')}/`]) {
        const result = await runScrub(runner, dir);
        expect(result).to.deep.include({
          code: scrubExitRefused,
          stderr: `scrub failed: refusing to scrub ${join(root, 'link')}: it is a symbolic link\n`,
        });
      }
      expect(readdirSync(join(root, 'real'))).to.deep.equal(['keep']);
    });

    it('refuses the root however it is spelled, before running any command', async () => {
      // Every command the script could run is a trap that records the call:
      // should a check fail, nothing can be removed.
      const traps = join(root, 'traps');
      const calls = join(root, 'calls');
      mkdirSync(traps);
      for (const command of ['find', 'rm', 'rmdir', 'ls', 'wc', 'printf', 'cat', 'test', '[']) {
        script(traps, command, `echo "${command} $*" >> ${calls}; exit 1`);
      }
      symlinkSync('/', join(root, 'to-root'));
      const trapped = { ...runner, path: traps };
      const rows: [string, string][] = [
        ['/', "refusing to scrub '/': it is the root directory"],
        ['//', "refusing to scrub '//': it is the root directory"],
        ['/.', "refusing to scrub '/.': it is the root directory"],
        ['/..', "refusing to scrub '/..': it is the root directory"],
        ['/./../', "refusing to scrub '/./../': it is the root directory"],
        ['/tmp/..', "refusing to scrub '/tmp/..': the path has '.' or '..' components"],
        [`${root}/..`, `refusing to scrub '${root}/..': the path has '.' or '..' components`],
        [join(root, 'to-root'), `refusing to scrub ${join(root, 'to-root')}: it is a symbolic link`],
        [`${join(root, 'to-root')}/`, `refusing to scrub ${join(root, 'to-root')}: it is a symbolic link`],
        ['scrub', "refusing to scrub 'scrub': not an absolute path"],
        ['', "refusing to scrub '': not an absolute path"],
      ];
      for (const [dir, message] of rows) {
        const result = await runScrub(trapped, dir);
        expect(result, dir).to.deep.equal({
          code: scrubExitRefused,
          stdout: '',
          stderr: `scrub failed: ${message}\n`,
        });
      }
      expect(existsSync(calls), existsSync(calls) ? readFileSync(calls, 'utf8') : '').to.equal(false);
    });

    it('fails when entries remain, saying how many', async function () {
      if (runner.appletsFirst) {
        process.stderr.write(
          '      skipped: this busybox sh runs its own rm and find, not the broken ones on PATH\n',
        );
        this.skip();
      }
      // A find without -delete, and an rm and rmdir that remove nothing.
      const broken = join(root, 'broken');
      withoutDelete(broken, runner.find);
      script(broken, 'rm', 'exit 1');
      script(broken, 'rmdir', 'exit 1');
      const vol = join(root, 'vol');
      mkdirSync(join(vol, 'b'), { recursive: true });
      writeFileSync(join(vol, 'a'), '');
      writeFileSync(join(vol, 'b', 'c'), '');
      const result = await runScrub({ ...runner, path: `${broken}:${runner.path}` }, vol, {
        SCRUB_TERMINATION_LOG: log,
      });
      const message = `scrub failed: 3 entries remain in ${vol}`;
      expect(result).to.deep.equal({ code: scrubExitIncomplete, stdout: '', stderr: `${message}\n` });
      expect(readFileSync(log, 'utf8')).to.equal(`${message}\n`);
    });
  });
}
