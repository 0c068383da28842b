// Command line for the local control plane, used by the Makefile:
//   up [--foreground] [--in-tree-binder] [--kube-api-qps N] [--name N]   start (or report the running one)
//   down [--name N]                                   stop, free every port, remove the data
//   status [--name N]                                 what runs, where
// KUBE_INTREE_BINDER=1 has the same effect as --in-tree-binder; KUBE_API_QPS=N as
// --kube-api-qps N (the controller manager's client rate and burst; default its own 20 QPS).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { LocalCluster, readState, stopClusterInDir } from './local-cluster.ts';
import { isAlive } from './processes.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

function usage(): never {
  process.stderr.write(
    'usage: cluster/cli.ts up [--foreground] [--in-tree-binder] [--kube-api-qps N] [--name NAME]\n' +
      '       cluster/cli.ts down [--name NAME]\n' +
      '       cluster/cli.ts status [--name NAME]\n',
  );
  process.exit(2);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string', default: 'local' },
    foreground: { type: 'boolean', default: false },
    'in-tree-binder': { type: 'boolean', default: false },
    'kube-api-qps': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || positionals.length !== 1) usage();
if (!/^[a-z0-9][a-z0-9-]*$/.test(values.name)) {
  process.stderr.write(`--name must be lower-case letters, digits and dashes: ${values.name}\n`);
  process.exit(2);
}
const dir = join(repoRoot, '.cluster', values.name);
const inTreeBinder =
  values['in-tree-binder'] || ['1', 'true', 'yes'].includes(process.env.KUBE_INTREE_BINDER ?? '');
const say = (line: string) => process.stderr.write(`${line}\n`);
const qpsText = values['kube-api-qps'] ?? process.env.KUBE_API_QPS;
if (qpsText !== undefined && !/^[0-9]{1,6}$/.test(qpsText)) {
  say(`--kube-api-qps must be a whole number of requests a second: ${qpsText.slice(0, 40)}`);
  process.exit(2);
}
const controllerManagerQps = qpsText === undefined ? undefined : Number(qpsText);

function running(): boolean {
  const state = readState(dir);
  return state !== undefined && state.processes.length > 0 && state.processes.every((p) => isAlive(p.pid));
}

function describe(cluster: { kubeconfig: string; kubectl: string }, binder: boolean): void {
  say('');
  say(`Local control plane is up (in-tree PV binder ${binder ? 'ON' : 'off'}).`);
  say('Point kubectl at it with:');
  say(`  export KUBECONFIG=${cluster.kubeconfig}`);
  say(`  ${cluster.kubectl} get nodes   # the matching kubectl; any recent kubectl works too`);
}

async function up(): Promise<void> {
  if (running()) {
    const state = readState(dir);
    if (state && state.inTreeBinder !== inTreeBinder) {
      say(
        `A cluster is already running in ${dir} with the in-tree binder ${state.inTreeBinder ? 'on' : 'off'}; ` +
          "run 'make cluster-down' first to change it.",
      );
      process.exit(1);
    }
    if (values.foreground) {
      say(`A cluster is already running in ${dir}; stop it with 'make cluster-down' first.`);
      process.exit(1);
    }
    say(`Already running: ${dir}`);
    process.stdout.write(`${state?.kubeconfig ?? ''}\n`);
    return;
  }
  const cluster = await LocalCluster.start({
    dir,
    inTreeBinder,
    controllerManagerQps,
    tieToParent: values.foreground,
    log: (line) => say(`  ${line}`),
  });
  say(`Started in ${cluster.state.startSeconds?.toFixed(1) ?? '?'} s; logs in ${join(dir, 'logs')}`);
  describe(cluster, inTreeBinder);
  if (!values.foreground) {
    say("Stop it with 'make cluster-down'.");
    process.stdout.write(`${cluster.kubeconfig}\n`);
    return;
  }
  say('Press Ctrl-C to stop it and remove its data.');
  process.stdout.write(`${cluster.kubeconfig}\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (why: string) => {
      if (stopping) return;
      stopping = true;
      say(`\n${why}: stopping the local control plane...`);
      void cluster.stop().then(() => {
        say('Stopped; every port is free.');
        resolve();
      });
    };
    process.on('SIGINT', () => {
      shutdown('Interrupted');
    });
    process.on('SIGTERM', () => {
      shutdown('Terminated');
    });
    const watch = setInterval(() => {
      const dead = cluster.state.processes.find((p) => !isAlive(p.pid));
      if (dead) {
        clearInterval(watch);
        process.exitCode = 1;
        shutdown(`${dead.name} exited unexpectedly (log: ${dead.log})`);
      }
    }, 2000);
    watch.unref();
  });
}

async function down(): Promise<void> {
  const stopped = await stopClusterInDir(dir);
  say(stopped ? `Stopped the local control plane in ${dir}.` : `No local control plane recorded in ${dir}.`);
}

function status(): void {
  const state = readState(dir);
  if (!state) {
    say(`No local control plane recorded in ${dir}.`);
    process.exitCode = 1;
    return;
  }
  for (const p of state.processes) {
    say(`${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${isAlive(p.pid) ? 'running' : 'NOT RUNNING'}`);
  }
  say(`apiserver ${state.server}, in-tree binder ${state.inTreeBinder ? 'on' : 'off'}`);
  process.stdout.write(`${state.kubeconfig}\n`);
}

try {
  switch (positionals[0]) {
    case 'up':
      await up();
      break;
    case 'down':
      await down();
      break;
    case 'status':
      status();
      break;
    default:
      usage();
  }
} catch (err) {
  say(`error: ${(err as Error).message}`);
  process.exit(1);
}
