// How the benches run the operator: compiled, as the image runs it
// (dist/src/main.js from tsconfig.build.json), with the Deployment's
// NODE_OPTIONS, so its CPU and memory are what a cluster would see. tsx, as the
// tests use, adds its loader thread (tens of MiB) and compiles on load.
//   OPERATOR_RUNTIME=tsx runs src/main.ts through tsx instead;
//   OPERATOR_NODE_OPTIONS replaces the Deployment's node flags;
//   CPU_PROFILE=1 writes a V8 CPU profile of the operator into .cluster/bench-profiles.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const profileDir = join(repoRoot, '.cluster', 'bench-profiles');

/** The NODE_OPTIONS value of config/manager/deployment.yaml (empty if it sets none). */
export function deploymentNodeOptions(yaml: string): string[] {
  const m = /- name: NODE_OPTIONS\s*\n\s*value: *(.+)/.exec(yaml);
  return (m?.[1] ?? '')
    .trim()
    .replace(/^["']|["']$/g, '')
    .split(/\s+/)
    .filter(Boolean);
}

export interface OperatorRuntime {
  /** The compiled entry point, or undefined to run src/main.ts through tsx. */
  script: string | undefined;
  nodeArgs: string[];
  describe: string;
}

const built = new Map<string, Promise<string>>();

/** Compiles a checkout once per bench process; resolves with its dist main.js. */
function compiled(checkout: string): Promise<string> {
  const outDir = join(checkout, '.cluster', 'bench-build');
  let done = built.get(checkout);
  if (!done) {
    process.stderr.write(`compiling the operator of ${checkout}...\n`);
    done = promisify(execFile)(
      join(checkout, 'node_modules', '.bin', 'tsc'),
      ['-p', 'tsconfig.build.json', '--outDir', outDir],
      { cwd: checkout },
    ).then(() => join(outDir, 'src', 'main.js'));
    built.set(checkout, done);
  }
  return done;
}

/** How to run the operator of checkout (default this one) for a bench. */
export async function operatorRuntime(env = process.env, checkout = repoRoot): Promise<OperatorRuntime> {
  const nodeArgs =
    env.OPERATOR_NODE_OPTIONS !== undefined
      ? env.OPERATOR_NODE_OPTIONS.split(/\s+/).filter(Boolean)
      : deploymentNodeOptions(readFileSync(join(repoRoot, 'config', 'manager', 'deployment.yaml'), 'utf8'));
  if (env.CPU_PROFILE === '1') {
    mkdirSync(profileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  }
  const script = env.OPERATOR_RUNTIME === 'tsx' ? undefined : await compiled(checkout);
  return {
    script,
    nodeArgs,
    describe: `${script ? 'compiled' : 'through tsx'}${nodeArgs.length ? `, node ${nodeArgs.join(' ')}` : ''}`,
  };
}
