// What every end-to-end spec needs: the cluster from KUBECONFIG, the settings
// of the run (E2E_*), and the checks that must hold before any spec means
// anything: the in-tree PV binder is off, and the operator holds its Lease.
// Nothing here knows which kind of cluster it talks to.
import { spawn } from 'node:child_process';

import {
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
  StorageV1Api,
  type CoreV1Event,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from '@kubernetes/client-node';

import { httpGet } from '../cluster/http.ts';

export interface E2eSettings {
  operatorNamespace: string;
  nfsServer: string;
  nfsRoot: string;
  /** Pods really run and mount NFS (kind): data is checked through them. */
  realPods: boolean;
  podImage: string;
  /** The replicas' /metrics endpoints when the operator runs out of cluster. */
  metricsUrls: string[];
  /** Why the NFS specs cannot run here (no NFS client on the nodes), or ''. */
  nfsSkip: string;
  /** A directory on the node for hostPath volumes (real pods only), or ''. */
  hostPathRoot: string;
  /** The operator runs beside the in-tree binder (--controllers=*,-binder; E2E_MODE=managed). */
  managed: boolean;
  /** kubectl, for port-forward to replicas that serve metrics over HTTPS (E2E_KUBECTL). */
  kubectl: string;
}

export function settings(env: NodeJS.ProcessEnv = process.env): E2eSettings {
  const nfsServer = env.E2E_NFS_SERVER ?? '';
  const nfsRoot = env.E2E_NFS_ROOT ?? '';
  const nfsSkip = env.E2E_NFS_SKIP ?? '';
  const hostPathRoot = (env.E2E_HOSTPATH_ROOT ?? '').replace(/\/+$/, '');
  if (hostPathRoot !== '' && !hostPathRoot.startsWith('/'))
    throw new Error('E2E_HOSTPATH_ROOT must be absolute');
  if (!nfsSkip && (!nfsServer || !nfsRoot.startsWith('/'))) {
    throw new Error(
      'E2E_NFS_SERVER (an NFS server the nodes can mount) and E2E_NFS_ROOT (an absolute exported directory) must be set, or E2E_NFS_SKIP to why not',
    );
  }
  const root = nfsRoot.replace(/\/+$/, '');
  // The specs scrub what they create below the root: the server's / itself is never a volume to scrub.
  if (!nfsSkip && root === '')
    throw new Error('E2E_NFS_ROOT must be an exported directory below /, such as /exports');
  return {
    operatorNamespace: env.E2E_OPERATOR_NAMESPACE ?? 'pv-lifecycle-system',
    nfsServer,
    nfsRoot: root,
    realPods: env.E2E_REAL_PODS === '1' || env.E2E_REAL_PODS === 'true',
    podImage: env.E2E_POD_IMAGE ?? 'busybox:1.37',
    metricsUrls: (env.E2E_METRICS_URLS ?? '')
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== ''),
    nfsSkip,
    hostPathRoot,
    managed: env.E2E_MODE === 'managed',
    kubectl: env.E2E_KUBECTL ?? 'kubectl',
  };
}

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  batch: BatchV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  storage: StorageV1Api;
  rbac: RbacAuthorizationV1Api;
}

/** Clients for kc, by default the cluster of KUBECONFIG. */
export function clients(kc = defaultKubeConfig()): Clients {
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
    storage: kc.makeApiClient(StorageV1Api),
    rbac: kc.makeApiClient(RbacAuthorizationV1Api),
  };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls check until it returns a value other than undefined/false; throws with what after timeoutMs. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${why}`);
    }
    await sleep(intervalMs);
  }
}

export const isNotFound = (err: unknown) => (err as { code?: number }).code === 404;

/** Events about an object in namespace, core/v1 (which shows events.k8s.io ones too). */
export async function eventsAbout(
  c: Clients,
  namespace: string,
  name: string,
  uid?: string,
): Promise<CoreV1Event[]> {
  const list = await c.core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name}${uid ? `,involvedObject.uid=${uid}` : ''}`,
  });
  return list.items;
}

/** The component that wrote an event, whichever API it was written through. */
export const reporter = (e: CoreV1Event) => e.reportingComponent || e.source?.component || '';

/** The in-tree controller names itself so in the events it writes. */
export const inTreeBinder = 'persistentvolume-controller';
export const operatorName = 'pv-lifecycle-operator';

/**
 * Fails unless the cluster's in-tree PV binder is off. A claim no volume can
 * satisfy, with no class, draws a FailedBinding event from every binder that
 * sees it. The in-tree controller's must not come; the operator's must (else
 * the check could not tell), and then a few seconds more pass for a slower
 * in-tree controller.
 */
export async function assertInTreeBinderOff(c: Clients, namespace: string): Promise<void> {
  const name = `binder-check-${Date.now().toString(36)}`;
  const claim = await c.core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: {
      metadata: { name },
      spec: {
        storageClassName: '',
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Ei' } },
        selector: { matchLabels: { 'e2e.pvlifecycle.io/nothing-has-this': name } },
      },
    },
  });
  const uid = claim.metadata?.uid;
  const inTreeEvent = async () =>
    (await eventsAbout(c, namespace, name, uid)).find((e) => reporter(e) === inTreeBinder);
  const refuse = (e: CoreV1Event) =>
    new Error(
      `the cluster's in-tree PV binder is on (it wrote "${e.reason ?? ''}: ${e.message ?? ''}" about a test claim); ` +
        'run kube-controller-manager with --controllers=*,-persistentvolume-binder-controller ' +
        '(kind: kubeadm extraArgs; k3s: --kube-controller-manager-arg), or two binders compete for every claim',
    );
  try {
    const first = await until(
      `a FailedBinding event on claim ${namespace}/${name} (is the operator running?)`,
      async () => {
        const events = await eventsAbout(c, namespace, name, uid);
        return events.find((e) => reporter(e) === inTreeBinder || reporter(e) === operatorName);
      },
      60_000,
    );
    if (reporter(first) === inTreeBinder) throw refuse(first);
    await sleep(3000);
    const late = await inTreeEvent();
    if (late) throw refuse(late);
  } finally {
    await c.core.deleteNamespacedPersistentVolumeClaim({ namespace, name }).catch(() => undefined);
  }
}

/** One replica's /metrics text, and where it came from. */
export interface ReplicaMetrics {
  source: string;
  text: string;
}

/**
 * Every operator replica's Prometheus metrics. Out of cluster the runner lists
 * the replicas' endpoints in E2E_METRICS_URLS (comma-separated). In a cluster
 * each running pod of the operator's Deployment is scraped: over HTTPS with a
 * token of a ServiceAccount bound to the metrics-reader role, through kubectl
 * port-forward (the API server's pod proxy forwards no token), where the pod
 * serves metrics securely; else through the pod proxy, as `kubectl get --raw`.
 */
export async function replicaMetrics(c: Clients, s: E2eSettings): Promise<ReplicaMetrics[]> {
  if (s.metricsUrls.length > 0) {
    return Promise.all(
      s.metricsUrls.map(async (url) => {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`${url}: HTTP ${String(res.status)}`);
        return { source: url, text: await res.text() };
      }),
    );
  }
  const running = await operatorPods(c, s);
  const token = running.some(servesHttps) ? await cachedReaderToken(c, s) : '';
  return Promise.all(
    running.map(async (pod) => {
      const name = pod.metadata?.name ?? '';
      const source = `pod ${s.operatorNamespace}/${name}`;
      if (servesHttps(pod)) {
        const res = await scrapePod(s, name, metricsPort(pod), '/metrics', token);
        if (res.status !== 200) throw new Error(`${source}: /metrics answered HTTP ${String(res.status)}`);
        return { source, text: res.body };
      }
      const text = await c.core.connectGetNamespacedPodProxyWithPath({
        name: `${name}:${String(metricsPort(pod))}`,
        namespace: s.operatorNamespace,
        path: 'metrics',
      });
      return { source, text };
    }),
  );
}

/** The operator's running pods. */
export async function operatorPods(c: Clients, s: E2eSettings): Promise<V1Pod[]> {
  const pods = await c.core.listNamespacedPod({
    namespace: s.operatorNamespace,
    labelSelector: `app.kubernetes.io/name=${operatorName}`,
  });
  const running = pods.items.filter((p) => p.status?.phase === 'Running');
  if (running.length === 0) {
    throw new Error(
      `no running pod labelled app.kubernetes.io/name=${operatorName} in ${s.operatorNamespace}, and E2E_METRICS_URLS is not set`,
    );
  }
  return running;
}

export const metricsPort = (pod: V1Pod): number =>
  pod.spec?.containers[0]?.ports?.find((p) => p.name === 'metrics')?.containerPort ?? 8080;

/** The kubelet probes it over HTTPS: the operator runs with --metrics-secure. */
export const servesHttps = (pod: V1Pod): boolean =>
  pod.spec?.containers[0]?.readinessProbe?.httpGet?.scheme === 'HTTPS';

const readerName = 'pv-lifecycle-e2e-metrics-scraper';

/**
 * A token of the ServiceAccount pv-lifecycle-e2e-metrics-scraper in the
 * operator's namespace, made if missing; bound to the ClusterRole
 * pv-lifecycle-metrics-reader when bound is true, unbound otherwise.
 */
export async function metricsReaderToken(c: Clients, s: E2eSettings, bound: boolean): Promise<string> {
  const name = bound ? readerName : `${readerName}-unbound`;
  const namespace = s.operatorNamespace;
  const exists = (err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  };
  await c.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch(exists);
  if (bound) {
    await c.rbac
      .createClusterRoleBinding({
        body: {
          metadata: { name },
          roleRef: {
            apiGroup: 'rbac.authorization.k8s.io',
            kind: 'ClusterRole',
            name: 'pv-lifecycle-metrics-reader',
          },
          subjects: [{ kind: 'ServiceAccount', name, namespace }],
        },
      })
      .catch(exists);
  }
  const review = await c.core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 600 } },
  });
  const token = review.status?.token;
  if (!token) throw new Error(`no token for ServiceAccount ${namespace}/${name}`);
  return token;
}

// One bound token serves a run's scrapes (tokens live 600 s; it is renewed after 500).
let readerToken: { token: string; expiresMs: number } | undefined;
async function cachedReaderToken(c: Clients, s: E2eSettings): Promise<string> {
  if (!readerToken || Date.now() > readerToken.expiresMs) {
    readerToken = { token: await metricsReaderToken(c, s, true), expiresMs: Date.now() + 500_000 };
  }
  return readerToken.token;
}

/** Removes what metricsReaderToken made. */
export async function deleteMetricsReaders(c: Clients, s: E2eSettings): Promise<void> {
  const ignore = () => undefined;
  await c.rbac.deleteClusterRoleBinding({ name: readerName }).catch(ignore);
  for (const name of [readerName, `${readerName}-unbound`]) {
    await c.core.deleteNamespacedServiceAccount({ name, namespace: s.operatorNamespace }).catch(ignore);
  }
}

/**
 * GET path from the pod's port over HTTPS, through kubectl port-forward on
 * 127.0.0.1, with the bearer token unless it is ''. The pod's certificate is
 * one it signed itself, so it is not verified.
 */
export async function scrapePod(
  s: E2eSettings,
  pod: string,
  port: number,
  path: string,
  token: string,
): Promise<{ status: number; body: string }> {
  const forward = spawn(
    s.kubectl,
    ['-n', s.operatorNamespace, 'port-forward', `pod/${pod}`, `:${String(port)}`, '--address', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  try {
    const local = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => {
        reject(new Error(`kubectl port-forward ${pod}: no port within 20 s: ${err}`));
      }, 20_000);
      forward.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      forward.stderr.on('data', (d: Buffer) => (err += d.toString()));
      forward.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      forward.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`kubectl port-forward ${pod} exited ${String(code)}: ${err}`));
      });
    });
    return await httpGet(`https://127.0.0.1:${String(local)}${path}`, {
      insecure: true,
      ...(token ? { token } : {}),
      timeoutMs: 10_000,
    });
  } finally {
    forward.kill();
  }
}

/** The value of one sample (name and exact label set, as printed), or undefined. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Fails unless a replica of the operator holds its Lease and renewed it lately. */
export async function assertOperatorLeading(c: Clients, namespace: string): Promise<string> {
  return until(
    `an operator holding Lease ${namespace}/${operatorName}`,
    async () => {
      const lease = await c.coordination.readNamespacedLease({ name: operatorName, namespace });
      const holder = lease.spec?.holderIdentity;
      const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
      const fresh = Date.now() - renewed < 1000 * (lease.spec?.leaseDurationSeconds ?? 15) + 5000;
      return holder && fresh ? holder : undefined;
    },
    120_000,
    1000,
  );
}

export async function volume(c: Clients, name: string): Promise<V1PersistentVolume | undefined> {
  return c.core.readPersistentVolume({ name }).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
}

export async function claim(c: Clients, namespace: string, name: string): Promise<V1PersistentVolumeClaim> {
  return c.core.readNamespacedPersistentVolumeClaim({ namespace, name });
}

/**
 * Runs a one-shot pod (real clusters only) with the given volumes and a shell
 * script; resolves with its log once it succeeded, throws with the log if it
 * failed.
 */
export async function runPod(
  c: Clients,
  s: E2eSettings,
  namespace: string,
  name: string,
  script: string,
  volumes: NonNullable<V1Pod['spec']>['volumes'],
  timeoutMs = 180_000,
): Promise<string> {
  await c.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'main',
            image: s.podImage,
            command: ['sh', '-euc', script],
            volumeMounts: (volumes ?? []).map((v) => ({ name: v.name, mountPath: `/mnt/${v.name}` })),
          },
        ],
        volumes,
      },
    },
  });
  const phase = await until(
    `pod ${namespace}/${name} to finish`,
    async () => {
      const p = await c.core.readNamespacedPod({ namespace, name });
      const ph = p.status?.phase;
      return ph === 'Succeeded' || ph === 'Failed' ? ph : undefined;
    },
    timeoutMs,
    1000,
  );
  const log = await c.core.readNamespacedPodLog({ namespace, name, container: 'main' }).catch(() => '');
  await c.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
  if (phase !== 'Succeeded') throw new Error(`pod ${namespace}/${name} failed:\n${log}`);
  return log;
}

/** An inline NFS volume of a directory on the e2e server (real clusters only). */
export const nfsVolume = (s: E2eSettings, name: string, path: string) => ({
  name,
  nfs: { server: s.nfsServer, path },
});
