// Command lines of the control plane's components. Pure functions, so the
// flags that matter (the binder switch above all) are unit-tested.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Pki } from './pki.ts';

export const fakeNodeName = 'kwok-node-0';
export const fakeNodeAnnotation = 'kwok.x-k8s.io/node';
export const serviceClusterIpRange = '10.0.0.0/24';

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

export interface ComponentContext {
  dir: string;
  binDir: string;
  stagesDir: string;
  ports: Ports;
  pki: Pki;
  kubeconfig: string;
  /** Run kube-controller-manager with its PersistentVolume binder, as upstream does. */
  inTreeBinder: boolean;
  /**
   * kube-controller-manager's client rate (--kube-api-qps, and a burst of as many);
   * unset keeps its own default of 20 QPS with a burst of 30.
   */
  controllerManagerQps?: number;
}

export interface Component {
  name: string;
  command: string;
  args: string[];
}

/** Most requests a second the controller manager may be given; more is surely a typo. */
export const maxControllerManagerQps = 100_000;

/**
 * --kube-api-qps and --kube-api-burst for the controller manager, both set to qps
 * (a burst below the rate would throttle it again); nothing when qps is unset.
 */
export function clientRateFlags(qps: number | undefined): string[] {
  if (qps === undefined) return [];
  if (!Number.isInteger(qps) || qps < 1 || qps > maxControllerManagerQps) {
    throw new Error(
      `the controller manager's client rate must be a whole number of requests a second from 1 to ${String(maxControllerManagerQps)}, not ${String(qps)}`,
    );
  }
  return [`--kube-api-qps=${String(qps)}`, `--kube-api-burst=${String(qps)}`];
}

/** Value of kube-controller-manager's --controllers flag. */
export function controllersFlag(inTreeBinder: boolean): string {
  return inTreeBinder ? '*' : '*,-persistentvolume-binder-controller';
}

export function etcd(ctx: ComponentContext): Component {
  const client = `http://127.0.0.1:${ctx.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ctx.ports.etcdPeer}`;
  return {
    name: 'etcd',
    command: join(ctx.binDir, 'etcd'),
    args: [
      '--name=local',
      `--data-dir=${join(ctx.dir, 'etcd')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=local=${peer}`,
      '--initial-cluster-state=new',
      // A throwaway test store: durability across power loss is not needed, speed is.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
  };
}

export function kubeApiServer(ctx: ComponentContext): Component {
  return {
    name: 'kube-apiserver',
    command: join(ctx.binDir, 'kube-apiserver'),
    args: [
      `--etcd-servers=http://127.0.0.1:${ctx.ports.etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ctx.ports.apiServer}`,
      `--cert-dir=${join(ctx.dir, 'apiserver-certs')}`,
      `--tls-cert-file=${ctx.pki.serverCert}`,
      `--tls-private-key-file=${ctx.pki.serverKey}`,
      `--client-ca-file=${ctx.pki.caCert}`,
      `--token-auth-file=${ctx.pki.tokenFile}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${ctx.pki.serviceAccountKey}`,
      `--service-account-signing-key-file=${ctx.pki.serviceAccountKey}`,
      `--service-cluster-ip-range=${serviceClusterIpRange}`,
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--profiling=false',
      '--v=1',
    ],
  };
}

export function kubeControllerManager(ctx: ComponentContext): Component {
  return {
    name: 'kube-controller-manager',
    command: join(ctx.binDir, 'kube-controller-manager'),
    args: [
      `--kubeconfig=${ctx.kubeconfig}`,
      `--authentication-kubeconfig=${ctx.kubeconfig}`,
      `--authorization-kubeconfig=${ctx.kubeconfig}`,
      '--leader-elect=false',
      `--controllers=${controllersFlag(ctx.inTreeBinder)}`,
      `--service-account-private-key-file=${ctx.pki.serviceAccountKey}`,
      `--root-ca-file=${ctx.pki.caCert}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ctx.ports.controllerManager}`,
      `--cert-dir=${join(ctx.dir, 'controller-manager-certs')}`,
      '--use-service-account-credentials=false',
      ...clientRateFlags(ctx.controllerManagerQps),
      '--profiling=false',
      '--v=1',
    ],
  };
}

export function kubeScheduler(ctx: ComponentContext): Component {
  return {
    name: 'kube-scheduler',
    command: join(ctx.binDir, 'kube-scheduler'),
    args: [
      `--kubeconfig=${ctx.kubeconfig}`,
      `--authentication-kubeconfig=${ctx.kubeconfig}`,
      `--authorization-kubeconfig=${ctx.kubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${ctx.ports.scheduler}`,
      `--cert-dir=${join(ctx.dir, 'scheduler-certs')}`,
      '--profiling=false',
      '--v=1',
    ],
  };
}

/** Stages shipped in the kwok module (copied into the cache by build.sh). */
export const kwokStages = [
  'node-initialize.yaml',
  'node-heartbeat-with-lease.yaml',
  'pod-ready.yaml',
  'pod-delete.yaml',
];

/**
 * The project's own stages: Job pods succeed, or, for tests, succeed late or fail (label kwokoutcome);
 * the in-tree binder's recycler pods succeed.
 */
export const projectStagesDir = fileURLToPath(new URL('kwok-stages/', import.meta.url));
export const projectKwokStages = [
  'pod-complete.yaml',
  'pod-complete-slow.yaml',
  'pod-fail.yaml',
  'pod-complete-upstream-recycler.yaml',
];

export function kwok(ctx: ComponentContext): Component {
  return {
    name: 'kwok',
    command: join(ctx.binDir, 'kwok'),
    args: [
      `--kubeconfig=${ctx.kubeconfig}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-annotation-selector=${fakeNodeAnnotation}=fake`,
      `--server-address=127.0.0.1:${ctx.ports.kwok}`,
      '--node-ip=10.0.1.1',
      '--cidr=10.0.2.0/24',
      '--node-lease-duration-seconds=40',
      ...kwokStages.map((s) => `--config=${join(ctx.stagesDir, s)}`),
      ...projectKwokStages.map((s) => `--config=${join(projectStagesDir, s)}`),
    ],
  };
}

/** In start order; stop in reverse. */
export function components(ctx: ComponentContext): Component[] {
  return [etcd(ctx), kubeApiServer(ctx), kubeControllerManager(ctx), kubeScheduler(ctx), kwok(ctx)];
}
