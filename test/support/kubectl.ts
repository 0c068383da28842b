import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs the real kubectl against a kubeconfig and returns its stdout; stderr goes into the error. */
export async function kubectl(
  binary: string,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<string> {
  const child = run(binary, args, { env: { ...process.env, KUBECONFIG: kubeconfig }, maxBuffer: 16 << 20 });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  try {
    return (await child).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

/**
 * Installs the operator's CRDs as a user does (kubectl apply -f crds/) and
 * waits until they are served. The kustomize path (config/crd) is tested by
 * nfsexport-crd.test.ts.
 */
export async function installCrds(binary: string, kubeconfig: string, timeout = '60s'): Promise<void> {
  const crdDir = fileURLToPath(new URL('../../crds', import.meta.url));
  await kubectl(binary, kubeconfig, ['apply', '-f', crdDir]);
  await kubectl(binary, kubeconfig, [
    'wait',
    '--for=condition=Established',
    'crd/nfsexports.pvlifecycle.io',
    `--timeout=${timeout}`,
  ]);
}
