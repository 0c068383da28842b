// A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver,
// kube-controller-manager (PV binder off unless asked for), kube-scheduler and
// kwok with one fake node, so pods are scheduled and Jobs run to completion.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';

import {
  type Component,
  type ComponentContext,
  type Ports,
  components,
  fakeNodeAnnotation,
  fakeNodeName,
} from './components.ts';
import { httpGet } from './http.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { createPki, readCaBase64 } from './pki.ts';
import { freePorts, isPortFree } from './ports.ts';
import {
  type ProcessRecord,
  isAlive,
  killProcess,
  killProcessesNow,
  logTail,
  signalComponent,
  spawnComponent,
  stopProcesses,
} from './processes.ts';

export interface LocalClusterOptions {
  /** Absolute directory for the cluster's keys, data, logs and kubeconfig. */
  dir: string;
  inTreeBinder?: boolean;
  /** kube-controller-manager's --kube-api-qps and --kube-api-burst; unset keeps its default (20 QPS). */
  controllerManagerQps?: number;
  /**
   * Processes die with the Node process that started them (tests, `make run`).
   * False for `make cluster-up`, whose cluster outlives the command.
   */
  tieToParent?: boolean;
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface ClusterState {
  dir: string;
  kubeconfig: string;
  server: string;
  inTreeBinder: boolean;
  controllerManagerQps?: number;
  ports: Ports;
  processes: ProcessRecord[];
  binDir: string;
  startedAt: string;
  startSeconds?: number;
}

const stateFile = (dir: string) => join(dir, 'state.json');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the control plane once (cached outside the repo) and returns its cache directory. */
export function ensureControlPlane(): string {
  const script = fileURLToPath(new URL('./build.sh', import.meta.url));
  const result = spawnSync('bash', [script], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `building the local control plane failed (exit ${String(result.status)}); see the output above`,
    );
  }
  const lines = result.stdout.trim().split('\n');
  const dir = lines[lines.length - 1] ?? '';
  if (!existsSync(join(dir, 'bin', 'kube-apiserver'))) {
    throw new Error(`cluster/build.sh reported ${dir}, which holds no kube-apiserver`);
  }
  return dir;
}

export function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/**
 * Stops the cluster recorded in dir, if any, and waits until every process is
 * gone and every port is free. Returns whether there was one to stop.
 */
export async function stopClusterInDir(dir: string, opts: { removeDir?: boolean } = {}): Promise<boolean> {
  const state = readState(dir);
  if (!state) {
    return false;
  }
  await stopProcesses([...state.processes].reverse(), dir);
  await waitForPortsFree(portList(state.ports));
  if (opts.removeDir ?? true) {
    await rm(dir, { recursive: true, force: true });
  } else {
    await rm(stateFile(dir), { force: true });
  }
  return true;
}

function portList(p: Ports): number[] {
  return [p.etcdClient, p.etcdPeer, p.apiServer, p.controllerManager, p.scheduler, p.kwok];
}

async function waitForPortsFree(ports: number[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of ports) {
    while (!(await isPortFree(port))) {
      if (Date.now() > deadline) {
        throw new Error(`port ${port} is still in use after the control plane stopped`);
      }
      await sleep(100);
    }
  }
}

export class LocalCluster {
  private exitHandler: (() => void) | undefined;
  private stopped = false;
  private ctx: ComponentContext | undefined;
  private tieToParent = true;
  private readiness: Record<string, () => Promise<boolean>> = {};

  readonly state: ClusterState;

  private constructor(state: ClusterState) {
    this.state = state;
  }

  get kubeconfig(): string {
    return this.state.kubeconfig;
  }

  get kubectl(): string {
    return join(this.state.binDir, 'kubectl');
  }

  get dir(): string {
    return this.state.dir;
  }

  /** A client-node configuration for this cluster (cluster-admin). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfig);
    return kc;
  }

  static async start(opts: LocalClusterOptions): Promise<LocalCluster> {
    if (!isAbsolute(opts.dir)) {
      throw new Error(`the cluster directory must be absolute: ${opts.dir}`);
    }
    const log = opts.log ?? (() => undefined);
    const tieToParent = opts.tieToParent ?? true;
    const started = Date.now();
    const deadline = started + (opts.startTimeoutMs ?? 120_000);

    const cacheDir = ensureControlPlane();
    if (await stopClusterInDir(opts.dir)) {
      log(`stopped a cluster left over in ${opts.dir}`);
    }
    await rm(opts.dir, { recursive: true, force: true });
    await mkdir(join(opts.dir, 'logs'), { recursive: true });

    const [etcdClient, etcdPeer, apiServer, controllerManager, scheduler, kwokPort] = await freePorts(6);
    const ports: Ports = {
      etcdClient: etcdClient ?? 0,
      etcdPeer: etcdPeer ?? 0,
      apiServer: apiServer ?? 0,
      controllerManager: controllerManager ?? 0,
      scheduler: scheduler ?? 0,
      kwok: kwokPort ?? 0,
    };
    const pki = await createPki(opts.dir);
    const server = `https://127.0.0.1:${ports.apiServer}`;
    const kubeconfig = join(opts.dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      renderKubeconfig({
        clusterName: 'pv-lifecycle-local',
        server,
        caBase64: await readCaBase64(pki),
        user: 'admin',
        token: pki.adminToken,
      }),
      { mode: 0o600 },
    );

    const state: ClusterState = {
      dir: opts.dir,
      kubeconfig,
      server,
      inTreeBinder: opts.inTreeBinder ?? false,
      controllerManagerQps: opts.controllerManagerQps,
      ports,
      processes: [],
      binDir: join(cacheDir, 'bin'),
      startedAt: new Date(started).toISOString(),
    };
    const cluster = new LocalCluster(state);
    if (tieToParent) {
      cluster.exitHandler = () => {
        killProcessesNow(state.processes);
      };
      process.once('exit', cluster.exitHandler);
    }

    const ctx: ComponentContext = {
      dir: opts.dir,
      binDir: state.binDir,
      stagesDir: join(cacheDir, 'kwok-stages'),
      ports,
      pki,
      kubeconfig,
      inTreeBinder: state.inTreeBinder,
      controllerManagerQps: state.controllerManagerQps,
    };
    cluster.ctx = ctx;
    cluster.tieToParent = tieToParent;
    cluster.readiness = readinessChecks(ctx, await readFile(pki.caCert));

    try {
      for (const component of components(ctx)) {
        const record = spawnComponent(component.name, component.command, component.args, {
          log: join(opts.dir, 'logs', `${component.name}.log`),
          tieToParent,
        });
        state.processes.push(record);
        await cluster.saveState();
        await cluster.waitReady(component.name, record, deadline);
        log(`${component.name} ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      }
      const kc = cluster.kubeConfig();
      const core = kc.makeApiClient(CoreV1Api);
      await core.createNode({ body: fakeNode() });
      await waitUntil(`node ${fakeNodeName} Ready`, deadline, async () =>
        isNodeReady(await core.readNode({ name: fakeNodeName })),
      );
      log(`node ${fakeNodeName} Ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
      // Pods cannot be created before the default ServiceAccount exists.
      await waitUntil('default ServiceAccount', deadline, async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
        return true;
      });
    } catch (err) {
      const logs = state.processes
        .map(
          (p) => `--- ${p.name} (${isAlive(p.pid) ? 'running' : 'exited'}) ${p.log}\n${logTail(p.log, 15)}`,
        )
        .join('\n');
      await cluster.stop({ removeDir: false });
      throw new Error(`the local control plane did not start: ${(err as Error).message}\n${logs}`, {
        cause: err,
      });
    }
    state.startSeconds = (Date.now() - started) / 1000;
    await cluster.saveState();
    return cluster;
  }

  private async waitReady(name: string, record: ProcessRecord, deadline: number): Promise<void> {
    const ready = this.readiness[name];
    if (ready) await waitUntil(`${name} ready`, deadline, ready, record);
  }

  private component(name: string): { record: ProcessRecord; index: number } {
    const index = this.state.processes.findIndex((p) => p.name === name);
    const record = this.state.processes[index];
    if (!record) throw new Error(`the local control plane has no component ${name}`);
    return { record, index };
  }

  /**
   * Crashes one component (SIGKILL to its process group) and starts it again
   * with the same command line, so on the same port and data; resolves once it
   * is ready. For chaos benchmarks: clients see their connections reset and
   * must reconnect, as after a real crash.
   */
  async restartComponent(name: string, timeoutMs = 60_000): Promise<void> {
    const { record, index } = this.component(name);
    const component = this.ctx && components(this.ctx).find((c) => c.name === name);
    if (!component) throw new Error(`${name} can only be restarted by the process that started the cluster`);
    await killProcess(record, this.state.dir);
    // The same port: wait until the kernel has let go of the old listener.
    const deadline = Date.now() + timeoutMs;
    const port = portOf(this.state.ports, name);
    while (port !== undefined && !(await isPortFree(port))) {
      if (Date.now() > deadline) throw new Error(`port ${String(port)} of ${name} is still in use`);
      await sleep(50);
    }
    const fresh = spawnComponent(name, component.command, component.args, {
      log: record.log,
      tieToParent: this.tieToParent,
    });
    this.state.processes[index] = fresh;
    await this.saveState();
    await this.waitReady(name, fresh, deadline);
  }

  /** SIGSTOP: the component keeps its connections but answers nothing until resumed. */
  pauseComponent(name: string): void {
    if (!signalComponent(this.component(name).record, 'SIGSTOP', this.state.dir)) {
      throw new Error(`${name} is not running`);
    }
  }

  /** SIGCONT after pauseComponent. */
  resumeComponent(name: string): void {
    if (!signalComponent(this.component(name).record, 'SIGCONT', this.state.dir)) {
      throw new Error(`${name} is not running`);
    }
  }

  private async saveState(): Promise<void> {
    await writeFile(stateFile(this.state.dir), JSON.stringify(this.state, null, 2) + '\n');
  }

  /** Stops every process, waits until all ports are free, and by default removes the directory. */
  async stop(opts: { removeDir?: boolean } = {}): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    await stopClusterInDir(this.state.dir, opts);
    if (this.exitHandler) {
      process.removeListener('exit', this.exitHandler);
    }
  }
}

/** How each component shows it is ready to serve. */
function readinessChecks(ctx: ComponentContext, ca: Buffer): Record<string, () => Promise<boolean>> {
  const { ports, pki } = ctx;
  return {
    etcd: async () => (await httpGet(`http://127.0.0.1:${ports.etcdClient}/health`)).body.includes('"true"'),
    'kube-apiserver': async () =>
      (await httpGet(`https://127.0.0.1:${ports.apiServer}/readyz`, { ca, token: pki.adminToken })).status ===
      200,
    'kube-controller-manager': async () =>
      (await httpGet(`https://127.0.0.1:${ports.controllerManager}/healthz`, { insecure: true })).status ===
      200,
    'kube-scheduler': async () =>
      (await httpGet(`https://127.0.0.1:${ports.scheduler}/healthz`, { insecure: true })).status === 200,
    kwok: async () => (await httpGet(`http://127.0.0.1:${ports.kwok}/healthz`)).status === 200,
  };
}

/** The port a component listens on (the one a restart must get back). */
function portOf(p: Ports, name: string): number | undefined {
  const byName: Record<string, number> = {
    etcd: p.etcdClient,
    'kube-apiserver': p.apiServer,
    'kube-controller-manager': p.controllerManager,
    'kube-scheduler': p.scheduler,
    kwok: p.kwok,
  };
  return byName[name];
}

function fakeNode(): V1Node {
  const resources = { cpu: '32', memory: '256Gi', pods: '110', 'ephemeral-storage': '1Ti' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: fakeNodeName,
      annotations: { [fakeNodeAnnotation]: 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': fakeNodeName,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    status: { allocatable: resources, capacity: resources },
  };
}

function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function waitUntil(
  what: string,
  deadline: number,
  check: () => Promise<boolean>,
  watched?: ProcessRecord,
): Promise<void> {
  let lastError = '';
  for (;;) {
    if (watched && !isAlive(watched.pid)) {
      throw new Error(`${watched.name} exited while waiting for ${what}`);
    }
    try {
      if (await check()) {
        return;
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`);
    }
    await sleep(200);
  }
}

export type { Component };
