// The end-to-end specs (e2e/**/*.spec.ts) against k3s in a container, started
// with testcontainers: a real kubelet and containerd, with the in-tree PV
// binder off, and the operator running out of cluster as a Node process with
// its own ServiceAccount's token (config/rbac), as in the integration tests.
//
//   node --import tsx e2e/k3s.ts
//
// k3s's node cannot mount NFS, so the specs run without real pods
// (E2E_REAL_PODS=0) and with NFS server probes off; the volumes name
// 192.0.2.1 (TEST-NET-1, which never answers) as their server.
//
// Needs a Docker-compatible engine that may run privileged containers. Where
// none answers it says "skipped: ..." and exits 0, so it can sit in any
// pipeline. The exit code is otherwise mocha's, or 1 when setting up failed.
//
// Environment: K3S_IMAGE (rancher/k3s:v1.36.4-k3s1), KUBECTL (else the kubectl
// that cluster/build.sh builds), E2E_OPERATOR_NAMESPACE (pv-lifecycle-system),
// E2E_POD_IMAGE (passed on to the specs).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { K3sContainer, type StartedK3sContainer } from '@testcontainers/k3s';
import { getContainerRuntimeClient } from 'testcontainers';

import { ensureControlPlane } from '../cluster/local-cluster.ts';
import { exitWith, runSpecsWithOperator } from './harness.ts';

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
    // k3s's node cannot mount NFS: no real pods, probes off, a server that never answers.
    return await runSpecsWithOperator({
      adminKubeconfig,
      kubectl: kubectlBinary,
      dir: workDir,
      nfsServer: '192.0.2.1',
      nfsRoot: '/exports',
      realPods: false,
      operatorArgs: ['--probe-interval', '0'],
      say,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) exitWith(main(), say);
