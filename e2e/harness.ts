// Running the end-to-end specs with the operator out of cluster: install the
// CRDs and the operator's identity (config/crd, config/rbac) as a user does,
// start two replicas with leader election and the ServiceAccount's own token,
// wait until one holds the Lease, and run mocha on e2e/**/*.spec.ts. Used by
// the local control plane (e2e/local.ts) and k3s (e2e/k3s.ts); on kind the
// operator runs in cluster instead (scripts/e2e-kind.sh).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { kubectl } from '../test/support/kubectl.ts';
import { installOperatorIdentity, operatorServiceAccount } from '../test/support/operator-identity.ts';
import { OperatorProcess } from '../test/support/operator-process.ts';
import { eventually } from '../test/support/wait.ts';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface SpecRunOptions {
  /** An admin kubeconfig of the cluster. */
  adminKubeconfig: string;
  /** The kubectl binary. */
  kubectl: string;
  /** Folder for the operator's kubeconfig and logs. */
  dir: string;
  /** The NFS server and exported directory the specs use. */
  nfsServer: string;
  nfsRoot: string;
  /** Whether pods really run and mount NFS there. */
  realPods: boolean;
  /** Where the NFS server keeps the exported files, when they are on this machine (the provisioning specs check them). */
  nfsExportDir?: string;
  /** The operator runs beside the in-tree binder (the specs then expect it to bind). */
  managed?: boolean;
  /** Flags for the operator beyond namespace and leader election. */
  operatorArgs: string[];
  /** Prefix of progress lines. */
  say: (line: string) => void;
}

/** Returns mocha's exit code. */
export async function runSpecsWithOperator(opts: SpecRunOptions): Promise<number> {
  const k = (args: string[]) => kubectl(opts.kubectl, opts.adminKubeconfig, args);
  const namespace = operatorServiceAccount.namespace;
  mkdirSync(opts.dir, { recursive: true });

  opts.say('installing the CRDs (config/crd) and the operator identity (config/rbac)');
  await k(['apply', '-k', join(repoRoot, 'config', 'crd')]);
  await k(['wait', '--for=condition=Established', 'crd/nfsexports.pvlifecycle.io', '--timeout=60s']);
  const operatorKubeconfig = await installOperatorIdentity(
    { kubectl: opts.kubectl, kubeconfig: opts.adminKubeconfig },
    join(opts.dir, 'operator.kubeconfig'),
  );

  // Two replicas, as config/default deploys them: one leads, one stands by.
  const operators: OperatorProcess[] = [];
  try {
    for (const replica of ['a', 'b']) {
      const logFile = join(opts.dir, `operator-${replica}.log`);
      writeFileSync(logFile, '');
      opts.say(`starting operator replica ${replica} out of cluster (log: ${logFile})`);
      operators.push(
        await OperatorProcess.start({
          kubeconfig: operatorKubeconfig,
          args: ['--namespace', namespace, '--leader-elect', ...opts.operatorArgs],
          logFile,
          readyTimeoutMs: 120_000,
        }),
      );
    }
    const leader = await eventually(
      'an operator replica to take the Lease pv-lifecycle-operator',
      async () =>
        (
          await k([
            'get',
            'lease',
            'pv-lifecycle-operator',
            '-n',
            namespace,
            '-o',
            'jsonpath={.spec.holderIdentity}',
          ])
        ).trim() || undefined,
      60_000,
      500,
    );
    opts.say(`leader: ${leader}; running the specs (mocha --config .mocharc.e2e.json)`);
    const code = await runMocha({
      KUBECONFIG: opts.adminKubeconfig,
      E2E_OPERATOR_NAMESPACE: namespace,
      E2E_NFS_SERVER: opts.nfsServer,
      E2E_NFS_ROOT: opts.nfsRoot,
      E2E_REAL_PODS: opts.realPods ? '1' : '0',
      E2E_NFS_EXPORT_DIR: opts.nfsExportDir ?? '',
      E2E_MODE: opts.managed ? 'managed' : 'default',
      E2E_METRICS_URLS: operators.map((p) => p.metricsUrl).join(','),
    });
    const refused = operators.flatMap((p) => p.forbidden);
    if (refused.length > 0) {
      opts.say(
        `the operator was refused ${String(refused.length)} request(s) (missing RBAC?):\n${refused[0] ?? ''}`,
      );
      return code || 1;
    }
    if (code !== 0)
      opts.say(`the specs failed (exit ${String(code)}); the operators' logs are in ${opts.dir}`);
    return code;
  } finally {
    for (const p of operators) {
      const exit = await p.stop();
      if (exit.code !== 0) opts.say(`an operator replica exited with ${JSON.stringify(exit)}`);
    }
  }
}

function runMocha(env: Record<string, string>): Promise<number> {
  const mocha = join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const child = spawn(process.execPath, [mocha, '--config', '.mocharc.e2e.json'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: 'inherit',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/** Ends the process with the runner's exit code, or 1 after saying what went wrong. */
export function exitWith(run: Promise<number>, say: (line: string) => void): void {
  run.then(
    (code) => process.exit(code),
    (err: unknown) => {
      say(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
