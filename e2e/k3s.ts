// The end-to-end specs (e2e/**/*.spec.ts) against k3s in a container, started
// with testcontainers: a real kubelet and containerd, with the in-tree PV
// binder off, and the operator running out of cluster as a Node process with
// its own ServiceAccount's token (config/rbac), as in the integration tests.
//
//   node --import tsx e2e/k3s.ts
//
// k3s's node cannot mount NFS, so the specs run without real pods
// (E2E_REAL_PODS unset) and with NFS server probes off; the volumes name
// 192.0.2.1 (TEST-NET-1, which never answers) as their server.
//
// Needs a Docker-compatible engine that may run privileged containers. Where
// none answers it says "skipped: ..." and exits 0, so it can sit in any
// pipeline. The exit code is otherwise mocha's, or 1 when setting up failed.
//
// Environment: K3S_IMAGE (rancher/k3s:v1.36.4-k3s1), KUBECTL (else the kubectl
// that cluster/build.sh builds), E2E_OPERATOR_NAMESPACE (pv-lifecycle-system),
// E2E_POD_IMAGE (passed on to the specs).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KubeConfig } from '@kubernetes/client-node';
import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient } from 'testcontainers';

import { ensureControlPlane } from '../cluster/local-cluster.ts';
import { kubectl } from '../test/support/kubectl.ts';
import { OperatorProcess } from '../test/support/operator-process.ts';
import { eventually } from '../test/support/wait.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => process.stderr.write(`e2e/k3s: ${line}\n`);

export const k3sImage = process.env.K3S_IMAGE ?? 'rancher/k3s:v1.36.4-k3s1';

/**
 * k3s's own arguments (K3sContainer's default command) plus kube-controller-manager
 * without the in-tree PV binder. --controllers replaces k3s's value, so what k3s
 * sets stays in the list: tokencleaner on, and the cloud controllers that k3s's
 * embedded cloud-controller-manager runs instead kept off.
 */
export const k3sCommand = [
  'server',
  '--disable=traefik',
  '--kube-controller-manager-arg=controllers=*,tokencleaner,-service,-route,-cloud-node-lifecycle,-persistentvolume-binder-controller',
];

/** Where the kubeconfigs and the operator's log go (.cluster/ is ignored by git). */
const workDir = join(repoRoot, '.cluster', 'e2e-k3s');

export interface SpecRunOptions {
  /** An admin kubeconfig of the cluster. */
  adminKubeconfig: string;
  /** The kubectl binary. */
  kubectl: string;
  /** Folder for the operator's kubeconfig and log. */
  dir: string;
  namespace: string;
}

/**
 * Installs the CRDs and the operator's identity (config/crd, config/rbac) in
 * the cluster, starts the operator out of cluster with its ServiceAccount's
 * token and leader election, waits until it holds the Lease, and runs the
 * specs. Returns mocha's exit code.
 */
export async function runSpecs(opts: SpecRunOptions): Promise<number> {
  const k = (args: string[], input?: string) => kubectl(opts.kubectl, opts.adminKubeconfig, args, input);
  mkdirSync(opts.dir, { recursive: true });

  say('installing the CRDs (config/crd) and the operator identity (config/rbac)');
  await k(['apply', '-k', join(repoRoot, 'config', 'crd')]);
  await k(['wait', '--for=condition=Established', 'crd/nfsexports.pvlifecycle.io', '--timeout=60s']);
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: opts.namespace } };
  await k(['apply', '-f', '-'], JSON.stringify(namespace));
  await k(['apply', '-k', join(repoRoot, 'config', 'rbac')]);
  const serviceAccount = 'pv-lifecycle-operator';
  const token = (
    await k(['create', 'token', serviceAccount, '-n', opts.namespace, '--duration', '2h'])
  ).trim();
  if (!token) throw new Error(`no token for ServiceAccount ${opts.namespace}/${serviceAccount}`);
  const operatorKubeconfig = join(opts.dir, 'operator.kubeconfig');
  writeFileSync(operatorKubeconfig, tokenKubeconfig(opts.adminKubeconfig, token, serviceAccount), {
    mode: 0o600,
  });

  const logFile = join(opts.dir, 'operator.log');
  writeFileSync(logFile, '');
  say(`starting the operator out of cluster (log: ${logFile})`);
  const operator = await OperatorProcess.start({
    kubeconfig: operatorKubeconfig,
    // Probes off: the specs' servers (192.0.2.1) never answer.
    args: ['--namespace', opts.namespace, '--leader-elect', '--probe-interval', '0'],
    logFile,
    readyTimeoutMs: 120_000,
  });
  try {
    const leaseArgs = ['get', 'lease', 'pv-lifecycle-operator', '-n', opts.namespace];
    const holder = async () => (await k([...leaseArgs, '-o', 'jsonpath={.spec.holderIdentity}'])).trim();
    const leader = await eventually(
      'the operator to take the Lease pv-lifecycle-operator',
      async () => (await holder()) || undefined,
      60_000,
      500,
    );
    say(`leader: ${leader}; running the specs (mocha --config .mocharc.e2e.json)`);
    const code = await runMocha({
      KUBECONFIG: opts.adminKubeconfig,
      E2E_OPERATOR_NAMESPACE: opts.namespace,
      E2E_NFS_SERVER: '192.0.2.1',
      E2E_NFS_ROOT: '/exports',
    });
    if (code !== 0) say(`the specs failed (exit ${String(code)}); the operator's log is ${logFile}`);
    return code;
  } finally {
    const exit = await operator.stop();
    if (exit.code !== 0) say(`the operator exited with ${JSON.stringify(exit)}; its log is ${logFile}`);
  }
}

/** A kubeconfig for the admin's cluster (server and CA) that authenticates with token. */
function tokenKubeconfig(adminKubeconfig: string, token: string, user: string): string {
  const admin = new KubeConfig();
  admin.loadFromFile(adminKubeconfig);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error(`${adminKubeconfig} has no current cluster`);
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: 'operator', cluster: cluster.name, user }],
    currentContext: 'operator',
  });
  return config.exportConfig();
}

function runMocha(env: Record<string, string>): Promise<number> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  // No real pods here: k3s's node cannot mount NFS.
  delete childEnv.E2E_REAL_PODS;
  const mocha = join(repoRoot, 'node_modules', 'mocha', 'bin', 'mocha.js');
  const child = spawn(process.execPath, [mocha, '--config', '.mocharc.e2e.json'], {
    cwd: repoRoot,
    env: childEnv,
    stdio: 'inherit',
  });
  return new Promise((resolveCode, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      resolveCode(code ?? (signal ? 128 : 1));
    });
  });
}

/**
 * The container engine testcontainers finds (it asks the engine for its info),
 * or why there is none.
 */
async function findEngine(): Promise<{ engine: string } | { problem: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error('no answer within 30 s'));
    }, 30_000);
  });
  try {
    const { containerRuntime: rt } = (await Promise.race([getContainerRuntimeClient(), timeout])).info;
    return { engine: `${rt.operatingSystem} (server ${String(rt.serverVersion)}) at ${rt.host}` };
  } catch (err) {
    return { problem: (err as Error).message.split('\n')[0] ?? String(err) };
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<number> {
  const found = await findEngine();
  if ('problem' in found) {
    process.stdout.write(
      'e2e/k3s: skipped: the k3s end-to-end run needs a Docker-compatible engine that may run privileged ' +
        `containers (Docker, or Podman with DOCKER_HOST set to its socket), and none answers here (${found.problem}).\n`,
    );
    return 0;
  }
  say(`container engine: ${found.engine}`);
  if (!existsSync(join(repoRoot, '.mocharc.e2e.json'))) {
    say(`the specs' mocha configuration .mocharc.e2e.json is missing from ${repoRoot}`);
    return 1;
  }
  const kubectlBinary = process.env.KUBECTL ?? join(ensureControlPlane(), 'bin', 'kubectl');
  mkdirSync(workDir, { recursive: true });

  say(`starting k3s (${k3sImage}), in-tree PV binder off`);
  const started = Date.now();
  const container: StartedK3sContainer = await new K3sContainer(k3sImage).withCommand(k3sCommand).start();
  const stop = async () => {
    say('stopping k3s');
    await container.stop();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    void stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    say(`k3s is up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const adminKubeconfig = join(workDir, 'admin.kubeconfig');
    writeFileSync(adminKubeconfig, container.getKubeConfig(), { mode: 0o600 });
    return await runSpecs({
      adminKubeconfig,
      kubectl: kubectlBinary,
      dir: workDir,
      namespace: process.env.E2E_OPERATOR_NAMESPACE ?? 'pv-lifecycle-system',
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      say(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
