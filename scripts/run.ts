// `make run`: the operator against the cluster in KUBECONFIG, or against a
// local control plane started for the occasion. Ctrl-C (or SIGTERM) stops the
// operator first, then the control plane, leaving no process or port behind.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

import { LocalCluster } from '../cluster/local-cluster.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => process.stderr.write(`${line}\n`);
const name = process.env.RUN_CLUSTER_NAME ?? 'demo';
const metricsAddress = process.env.RUN_METRICS_ADDRESS ?? '127.0.0.1:8080';

let cluster: LocalCluster | undefined;
const running: { operator?: ChildProcess } = {};
let stopping = false;

async function shutdown(why: string, code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  say(`\n${why}: stopping...`);
  const op = running.operator;
  if (op && op.exitCode === null && op.signalCode === null) {
    const exited = new Promise((resolve) => op.once('exit', resolve));
    op.kill('SIGTERM');
    const force = setTimeout(() => op.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(force);
  }
  if (cluster) {
    say('Stopping the local control plane...');
    await cluster.stop();
    say('Stopped; every port is free.');
  }
  process.exit(code);
}

process.on('SIGINT', () => void shutdown('Interrupted', 0));
process.on('SIGTERM', () => void shutdown('Terminated', 0));

let kubeconfig = process.env.KUBECONFIG ?? '';
if (kubeconfig) {
  say(`Using the cluster in KUBECONFIG=${kubeconfig}.`);
  say(
    'Its in-tree PV binder must be off (kube-controller-manager --controllers=*,-persistentvolume-binder-controller),',
  );
  say('or two binders will compete for the same claims.');
} else {
  say(`Starting a local control plane in .cluster/${name} ...`);
  cluster = await LocalCluster.start({
    dir: join(repoRoot, '.cluster', name),
    tieToParent: true,
    log: (line) => say(`  ${line}`),
  });
  kubeconfig = cluster.kubeconfig;
  say(`Started in ${cluster.state.startSeconds?.toFixed(1) ?? '?'} s (in-tree PV binder off).`);
  say('In another terminal:');
  say(`  export KUBECONFIG=${kubeconfig}`);
  say(`  ${cluster.state.binDir}/kubectl get pv,pvc -A`);
  process.stdout.write(`${kubeconfig}\n`);
}

// The CRDs, as a user installs them.
{
  const kubectl = cluster ? join(cluster.state.binDir, 'kubectl') : 'kubectl';
  const applied = spawnSync(kubectl, ['apply', '-f', join(repoRoot, 'crds')], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    encoding: 'utf8',
  });
  if (applied.status !== 0) {
    say(`Could not install the CRDs (kubectl apply -f crds/): ${applied.stderr || String(applied.error)}`);
    await shutdown('CRDs not installed', 1);
  }
  say(applied.stdout.trim());
}

// The operator's namespace, where its scrub Jobs run.
const namespace = process.env.RUN_NAMESPACE ?? 'pv-lifecycle-system';
{
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  try {
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

say(
  `Starting pv-lifecycle-operator (metrics on http://${metricsAddress}/metrics); Ctrl-C stops everything.\n`,
);
const operator = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    join(repoRoot, 'src', 'main.ts'),
    '--kubeconfig',
    kubeconfig,
    '--log-format',
    'text',
    '--metrics-bind-address',
    metricsAddress,
    '--namespace',
    namespace,
  ],
  { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] },
);
running.operator = operator;
operator.on('exit', (code, signal) => {
  if (!stopping) void shutdown(`the operator exited (${signal ?? `code ${String(code)}`})`, 1);
});
