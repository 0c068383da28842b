// `make run`: the operator against the cluster in KUBECONFIG, or against a
// local control plane started for the occasion. Ctrl-C (or SIGTERM) stops the
// operator first, then the control plane, leaving no process or port behind.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

import { ensureControlPlane, LocalCluster } from '../cluster/local-cluster.ts';
import { installOperatorIdentity, operatorServiceAccount } from '../test/support/operator-identity.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const say = (line: string) => process.stderr.write(`${line}\n`);
const name = process.env.RUN_CLUSTER_NAME ?? 'demo';
const metricsAddress = process.env.RUN_METRICS_ADDRESS ?? '127.0.0.1:8080';

let cluster: LocalCluster | undefined;
const running: { operator?: ChildProcess } = {};
let stopping = false;

async function shutdown(why: string, code: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  say(`\n${why}: stopping...`);
  const op = running.operator;
  if (op && op.exitCode === null && op.signalCode === null) {
    const exited = new Promise((resolve) => op.once('exit', resolve));
    // The operator runs in its own process group, so Ctrl-C reaches it only
    // through here, once: a second signal would make it skip its graceful stop.
    op.kill(signal);
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

process.on('SIGINT', () => void shutdown('Interrupted', 0, 'SIGINT'));
process.on('SIGTERM', () => void shutdown('Terminated', 0, 'SIGTERM'));
// Should this script die another way, its detached operator must not outlive it.
process.on('exit', () => {
  const op = running.operator;
  if (op && op.exitCode === null && op.signalCode === null) op.kill('SIGKILL');
});

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

// kubectl: the local control plane's; with KUBECONFIG, the one on PATH, else
// the one built with the local control plane (built now if need be).
function findKubectl(): string {
  if (cluster) return join(cluster.state.binDir, 'kubectl');
  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0) return 'kubectl';
  say('No kubectl on PATH: using the one built with the local control plane.');
  return join(ensureControlPlane(), 'bin', 'kubectl');
}
const kubectlBinary = findKubectl();
function kubectl(args: string[]): string {
  const done = spawnSync(kubectlBinary, args, {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    encoding: 'utf8',
  });
  if (done.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${done.stderr || String(done.error)}`);
  return done.stdout.trim();
}

// The CRDs, as a user installs them.
try {
  say(kubectl(['apply', '-k', join(repoRoot, 'config', 'crd')]));
  kubectl(['wait', '--for=condition=Established', 'crd/nfsexports.pvlifecycle.io', '--timeout=30s']);
} catch (err) {
  say(`Could not install the CRDs: ${(err as Error).message}`);
  await shutdown('CRDs not installed', 1);
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

// On the local control plane the operator runs as it does in production: as
// its ServiceAccount with config/rbac's rights, through a token of it. (On a
// cluster of yours, make run uses your credentials and installs no RBAC.)
let operatorKubeconfig = kubeconfig;
if (cluster && namespace === operatorServiceAccount.namespace) {
  try {
    operatorKubeconfig = await installOperatorIdentity(
      { kubectl: kubectlBinary, kubeconfig },
      join(cluster.state.dir, 'operator.kubeconfig'),
    );
  } catch (err) {
    say(`Could not install config/rbac: ${(err as Error).message}`);
    await shutdown('RBAC not installed', 1);
  }
  say(
    `Installed config/rbac; the operator runs as ServiceAccount ${operatorServiceAccount.namespace}/${operatorServiceAccount.name}.`,
  );
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
    operatorKubeconfig,
    '--log-format',
    'text',
    '--metrics-bind-address',
    metricsAddress,
    '--namespace',
    namespace,
    // The sample exports name servers that do not exist here; with probes on,
    // their volumes would (rightly) be held back from claims.
    ...(process.env.RUN_PROBES ? [] : ['--probe-interval', '0']),
  ],
  { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'], detached: true },
);
running.operator = operator;

// The demo: the sample exports and claims, then what kubectl shows once they are bound.
if (!process.env.RUN_NO_SAMPLES) {
  const samples = join(repoRoot, 'config', 'samples');
  try {
    say(kubectl(['apply', '-f', samples]));
    for (let i = 0; i < 120; i++) {
      const phases = kubectl([
        'get',
        '-f',
        join(samples, 'claims.yaml'),
        '-o',
        'jsonpath={.items[*].status.phase}',
      ]);
      if (phases.split(' ').every((p) => p === 'Bound')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    say(`\n$ kubectl get nfsexports,pv,pvc\n${kubectl(['get', 'nfsexports,pv,pvc'])}\n`);
    say(
      'The operator keeps running; try deleting a claim (kubectl delete pvc cache) and watch the export recycle.',
    );
  } catch (err) {
    say(`The samples could not be applied: ${(err as Error).message}`);
  }
}
operator.on('exit', (code, signal) => {
  if (!stopping) void shutdown(`the operator exited (${signal ?? `code ${String(code)}`})`, 1);
});
