// Command line of pv-lifecycle-operator: parse flags, load the kubeconfig,
// run the operator until SIGINT or SIGTERM.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { KubeConfig } from '@kubernetes/client-node';

import { type ControllerName, controllerNames, parseControllers } from './controller-selection.ts';
import { defaultRequestTimeoutMs, Operator, TemplateError } from './operator.ts';
import { formatDuration, parseDuration } from './runtime/duration.ts';
import { createLogger, isLogLevel, logFormats, logLevels } from './runtime/logging.ts';
import { parseBindAddress } from './runtime/http-server.ts';
import { leaderElectionDefaults } from './runtime/leader-election.ts';
import type { LeaderElectionConfig } from './runtime/lifecycle.ts';
import { packageInfo } from './version.ts';

const defaults = {
  namespace: 'pv-lifecycle-system',
  recycleMaxRetries: 3,
  recycleRetryBaseMs: 10_000,
  nfsMinimumTimeout: 300,
  nfsTimeoutIncrement: 30,
  hostPathMinimumTimeout: 60,
  hostPathTimeoutIncrement: 30,
  probeIntervalMs: 60_000,
  probeTimeoutMs: 5_000,
  probeConcurrency: 8,
  nfsPort: 2049,
  portmapperPort: 111,
  workers: 4,
  resyncPeriodMs: 15_000,
  metricsBindAddress: ':8080',
  logLevel: 'info',
  logFormat: 'json',
  leaderElectionId: 'pv-lifecycle-operator',
  leaseDurationMs: leaderElectionDefaults.leaseDurationMs,
  renewDeadlineMs: leaderElectionDefaults.renewDeadlineMs,
  retryPeriodMs: leaderElectionDefaults.retryPeriodMs,
  requestTimeoutMs: defaultRequestTimeoutMs,
  gracefulShutdownTimeoutMs: 15_000,
} as const;

/** 24 days: below the 2^31-1 ms that Node's timers can wait. */
const maxDurationMs = 576 * 3_600_000;

export const usage = `Usage: pv-lifecycle-operator [options]

A Kubernetes operator that owns the whole life of PersistentVolumes: it binds
claims to volumes as the in-tree controller does (run kube-controller-manager
with --controllers=*,-persistentvolume-binder-controller). Where that cannot be
done (managed clusters), run it with --controllers=*,-binder beside the in-tree
binder.

Options:
      --kubeconfig PATH               kubeconfig to use; without it the in-cluster
                                      configuration, else $KUBECONFIG or ~/.kube/config
      --controllers LIST              the controllers to run, as kube-controller-manager's
                                      flag: * for all, NAME to turn one on, -NAME to turn
                                      one off; names ${controllerNames.join(', ')} (default *)
      --workers N                     reconciles running at once per controller
                                      (default ${String(defaults.workers)})
      --resync-period DURATION        how often every object is reconciled again even
                                      without a change, e.g. 30s or 5m; 0 turns it off
                                      (default ${formatDuration(defaults.resyncPeriodMs)})
      --metrics-bind-address ADDR     where /metrics, /healthz and /readyz are served,
                                      host:port or :port; 0 turns it off
                                      (default ${defaults.metricsBindAddress})
      --metrics-secure                serve them over HTTPS, and /metrics only to bearer
                                      tokens the API server authenticates (TokenReview)
                                      and allows "get" on /metrics (SubjectAccessReview);
                                      the probes stay open for the kubelet
      --metrics-cert-dir DIR          tls.crt and tls.key for HTTPS (default: a certificate
                                      signed by itself, made at start)
      --request-timeout DURATION      limit on each API request but watches; a request
                                      still unanswered then fails and is retried (default
                                      ${formatDuration(defaults.requestTimeoutMs)}, the API server's own limit on such requests)
      --graceful-shutdown-timeout DURATION
                                      on SIGTERM, how long in-flight reconciles may take
                                      to finish before they are abandoned; keep it some
                                      seconds below the pod's terminationGracePeriodSeconds
                                      (default ${formatDuration(defaults.gracefulShutdownTimeoutMs)})
 Leader election (production deployments with more than one replica turn it on):
      --leader-elect                  only the replica holding a coordination.k8s.io Lease
                                      reconciles; the others keep their caches warm and wait
                                      (default off)
      --leader-election-id NAME       the Lease's name (default ${defaults.leaderElectionId})
      --leader-election-namespace NAME
                                      the Lease's namespace (default: --namespace)
      --leader-election-lease-duration DURATION
                                      how long standbys wait before taking over a lease
                                      that is no longer renewed (default ${formatDuration(defaults.leaseDurationMs)})
      --leader-election-renew-deadline DURATION
                                      the leader gives up, and exits, if it could not
                                      renew for this long (default ${formatDuration(defaults.renewDeadlineMs)})
      --leader-election-retry-period DURATION
                                      how often the lease is tried or renewed (default ${formatDuration(defaults.retryPeriodMs)})
                                      Each Lease request is given up after half the renew
                                      deadline; a leader that loses the lease abandons its
                                      in-flight requests at once and exits 1.
 Reclaim:
      --namespace NAME                the operator's namespace, where scrub Jobs run
                                      (default $POD_NAMESPACE, else ${defaults.namespace})
      --recycler-pod-template FILE    pod template (YAML or JSON) for scrub Jobs: image,
                                      resources, node selector, tolerations, security context
      --recycler-pod-template-configmap NAME[/KEY]
                                      the same from a ConfigMap in --namespace
                                      (key default template.yaml)
      --recycle-max-retries N         doubling retries of a failed scrub, then on at the
                                      longest delay (default ${String(defaults.recycleMaxRetries)})
      --recycle-retry-base DURATION   first retry delay, doubling each time
                                      (default ${formatDuration(defaults.recycleRetryBaseMs)})
      --pv-recycler-minimum-timeout-nfs SECONDS         (default ${String(defaults.nfsMinimumTimeout)})
      --pv-recycler-increment-timeout-nfs SECONDS       per GiB (default ${String(defaults.nfsTimeoutIncrement)})
      --pv-recycler-minimum-timeout-hostpath SECONDS    (default ${String(defaults.hostPathMinimumTimeout)})
      --pv-recycler-timeout-increment-hostpath SECONDS  per GiB (default ${String(defaults.hostPathTimeoutIncrement)})
                                      a scrub Job's deadline: the larger of the minimum
                                      and the volume's whole GiB times the increment
 NFS server probes:
      --probe-interval DURATION       how often each NfsExport's server is checked (TCP and
                                      ONC RPC, no mount); 0 turns probes off and never
                                      holds volumes back (default ${formatDuration(defaults.probeIntervalMs)})
      --probe-timeout DURATION        limit for each step of a probe (default ${formatDuration(defaults.probeTimeoutMs)})
      --probe-concurrency N           probes at once (default ${String(defaults.probeConcurrency)})
      --nfs-port PORT                 the servers' NFS port (default ${String(defaults.nfsPort)})
      --portmapper-port PORT          the servers' portmapper port (default ${String(defaults.portmapperPort)})
 Logging:
      --log-level LEVEL               ${logLevels.join(', ')} (default ${defaults.logLevel})
      --log-format FORMAT             ${logFormats.join(' (one JSON object a line) or ')} (key=value
                                      lines for a terminal) (default ${defaults.logFormat})
  -h, --help                          show this help
      --version                       print the version
`;

export interface RunOptions {
  kubeconfig: string | undefined;
  namespace: string;
  recyclerPodTemplate: { file: string } | { configMap: string; key: string } | undefined;
  recycleMaxRetries: number;
  recycleRetryBaseMs: number;
  probe: {
    intervalMs: number;
    timeoutMs: number;
    concurrency: number;
    nfsPort: number;
    portmapperPort: number;
  };
  timeouts: {
    nfsMinimum: number;
    nfsIncrement: number;
    hostPathMinimum: number;
    hostPathIncrement: number;
  };
  workers: number;
  resyncPeriodMs: number;
  metricsBindAddress: string | undefined;
  /** --metrics-secure: HTTPS, and /metrics only for tokens the API server allows. */
  metricsSecure?: boolean;
  metricsCertDir?: string;
  requestTimeoutMs: number;
  gracefulShutdownTimeoutMs: number;
  logLevel: string;
  logFormat: string;
  leaderElection: LeaderElectionConfig;
  /** --controllers; absent when not given (every controller runs). */
  controllers?: ReadonlySet<ControllerName>;
}

export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: RunOptions };

/** Parses argv; throws an Error that names the bad flag or value. */
export function parseCommandLine(argv: string[]): Command {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      kubeconfig: { type: 'string' },
      controllers: { type: 'string' },
      workers: { type: 'string' },
      'resync-period': { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      'metrics-secure': { type: 'boolean' },
      'metrics-cert-dir': { type: 'string' },
      'request-timeout': { type: 'string' },
      'graceful-shutdown-timeout': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      namespace: { type: 'string' },
      'recycler-pod-template': { type: 'string' },
      'recycler-pod-template-configmap': { type: 'string' },
      'recycle-max-retries': { type: 'string' },
      'recycle-retry-base': { type: 'string' },
      'pv-recycler-minimum-timeout-nfs': { type: 'string' },
      'pv-recycler-increment-timeout-nfs': { type: 'string' },
      'pv-recycler-minimum-timeout-hostpath': { type: 'string' },
      'pv-recycler-timeout-increment-hostpath': { type: 'string' },
      'probe-interval': { type: 'string' },
      'probe-timeout': { type: 'string' },
      'probe-concurrency': { type: 'string' },
      'nfs-port': { type: 'string' },
      'portmapper-port': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'leader-election-id': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-lease-duration': { type: 'string' },
      'leader-election-renew-deadline': { type: 'string' },
      'leader-election-retry-period': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0] ?? ''}"`);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const wholeNumber = (
    flag: string,
    text: string | undefined,
    fallback: number,
    min: number,
    max: number,
  ) => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) {
      throw new Error(`--${flag}: "${text}" is not a whole number from ${String(min)} to ${String(max)}`);
    }
    return n;
  };
  const workers = wholeNumber('workers', values.workers, defaults.workers, 1, 256);
  const controllers = values.controllers === undefined ? undefined : parseControllers(values.controllers);
  const duration = (flag: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (e) {
      throw new Error(`--${flag}: ${(e as Error).message}`, { cause: e });
    }
    // Node's timers cannot wait longer (a longer one would fire at once).
    if (ms > maxDurationMs) throw new Error(`--${flag}: "${text}" is longer than 576h, the most it can be`);
    return ms;
  };
  const namespace = values.namespace ?? process.env.POD_NAMESPACE ?? defaults.namespace;
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
    throw new Error(`--namespace: "${namespace}" is not a valid namespace name`);
  }
  if (
    values['recycler-pod-template'] !== undefined &&
    values['recycler-pod-template-configmap'] !== undefined
  ) {
    throw new Error('--recycler-pod-template and --recycler-pod-template-configmap: give one or the other');
  }
  let recyclerPodTemplate: RunOptions['recyclerPodTemplate'];
  if (values['recycler-pod-template'] !== undefined) {
    if (!existsSync(values['recycler-pod-template'])) {
      throw new Error(`--recycler-pod-template: no file at "${values['recycler-pod-template']}"`);
    }
    recyclerPodTemplate = { file: values['recycler-pod-template'] };
  } else if (values['recycler-pod-template-configmap'] !== undefined) {
    const [configMap = '', key = 'template.yaml', ...extra] =
      values['recycler-pod-template-configmap'].split('/');
    if (!configMap || !key || extra.length > 0) {
      throw new Error(
        `--recycler-pod-template-configmap: "${values['recycler-pod-template-configmap']}" is not NAME or NAME/KEY`,
      );
    }
    recyclerPodTemplate = { configMap, key };
  }
  const recycleMaxRetries = wholeNumber(
    'recycle-max-retries',
    values['recycle-max-retries'],
    defaults.recycleMaxRetries,
    0,
    100,
  );
  const recycleRetryBaseMs = duration(
    'recycle-retry-base',
    values['recycle-retry-base'],
    defaults.recycleRetryBaseMs,
  );
  const seconds = (flag: keyof typeof values, fallback: number) =>
    wholeNumber(flag, values[flag] as string | undefined, fallback, 1, 86_400);
  const probe = {
    intervalMs: duration('probe-interval', values['probe-interval'], defaults.probeIntervalMs),
    timeoutMs: duration('probe-timeout', values['probe-timeout'], defaults.probeTimeoutMs),
    concurrency: wholeNumber(
      'probe-concurrency',
      values['probe-concurrency'],
      defaults.probeConcurrency,
      1,
      256,
    ),
    nfsPort: wholeNumber('nfs-port', values['nfs-port'], defaults.nfsPort, 1, 65535),
    portmapperPort: wholeNumber(
      'portmapper-port',
      values['portmapper-port'],
      defaults.portmapperPort,
      1,
      65535,
    ),
  };
  if (probe.timeoutMs <= 0) throw new Error('--probe-timeout: must be more than 0');
  const timeouts = {
    nfsMinimum: seconds('pv-recycler-minimum-timeout-nfs', defaults.nfsMinimumTimeout),
    nfsIncrement: seconds('pv-recycler-increment-timeout-nfs', defaults.nfsTimeoutIncrement),
    hostPathMinimum: seconds('pv-recycler-minimum-timeout-hostpath', defaults.hostPathMinimumTimeout),
    hostPathIncrement: seconds('pv-recycler-timeout-increment-hostpath', defaults.hostPathTimeoutIncrement),
  };
  const resyncPeriodMs = duration('resync-period', values['resync-period'], defaults.resyncPeriodMs);
  const address = values['metrics-bind-address'] ?? defaults.metricsBindAddress;
  if (values['metrics-cert-dir'] !== undefined && !values['metrics-secure']) {
    throw new Error('--metrics-cert-dir: only with --metrics-secure');
  }
  if (address !== '0') {
    try {
      parseBindAddress(address);
    } catch (e) {
      throw new Error(`--metrics-bind-address: ${(e as Error).message}`, { cause: e });
    }
  }
  const logLevel = values['log-level'] ?? defaults.logLevel;
  if (!isLogLevel(logLevel)) {
    throw new Error(`--log-level: "${logLevel}" is not one of ${logLevels.join(', ')}`);
  }
  const logFormat = values['log-format'] ?? defaults.logFormat;
  if (!(logFormats as readonly string[]).includes(logFormat)) {
    throw new Error(`--log-format: "${logFormat}" is not one of ${logFormats.join(', ')}`);
  }
  const leaderElection = {
    enabled: values['leader-elect'] ?? false,
    id: values['leader-election-id'] ?? defaults.leaderElectionId,
    namespace: values['leader-election-namespace'] ?? namespace,
    leaseDurationMs: duration(
      'leader-election-lease-duration',
      values['leader-election-lease-duration'],
      defaults.leaseDurationMs,
    ),
    renewDeadlineMs: duration(
      'leader-election-renew-deadline',
      values['leader-election-renew-deadline'],
      defaults.renewDeadlineMs,
    ),
    retryPeriodMs: duration(
      'leader-election-retry-period',
      values['leader-election-retry-period'],
      defaults.retryPeriodMs,
    ),
  };
  if (!/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/.test(leaderElection.id)) {
    throw new Error(`--leader-election-id: "${leaderElection.id}" is not a valid object name`);
  }
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(leaderElection.namespace)) {
    throw new Error(
      `--leader-election-namespace: "${leaderElection.namespace}" is not a valid namespace name`,
    );
  }
  if (leaderElection.leaseDurationMs < 1000) {
    throw new Error('--leader-election-lease-duration: must be at least 1s');
  }
  if (leaderElection.retryPeriodMs <= 0) {
    throw new Error('--leader-election-retry-period: must be more than 0');
  }
  if (leaderElection.renewDeadlineMs >= leaderElection.leaseDurationMs) {
    throw new Error(
      `--leader-election-renew-deadline (${formatDuration(leaderElection.renewDeadlineMs)}) must be shorter than --leader-election-lease-duration (${formatDuration(leaderElection.leaseDurationMs)})`,
    );
  }
  if (leaderElection.retryPeriodMs >= leaderElection.renewDeadlineMs) {
    throw new Error(
      `--leader-election-retry-period (${formatDuration(leaderElection.retryPeriodMs)}) must be shorter than --leader-election-renew-deadline (${formatDuration(leaderElection.renewDeadlineMs)})`,
    );
  }
  const requestTimeoutMs = duration('request-timeout', values['request-timeout'], defaults.requestTimeoutMs);
  if (requestTimeoutMs < 100) throw new Error('--request-timeout: must be at least 100ms');
  const gracefulShutdownTimeoutMs = duration(
    'graceful-shutdown-timeout',
    values['graceful-shutdown-timeout'],
    defaults.gracefulShutdownTimeoutMs,
  );
  if (values.kubeconfig !== undefined && !existsSync(values.kubeconfig)) {
    throw new Error(`--kubeconfig: no file at "${values.kubeconfig}"`);
  }
  return {
    kind: 'run',
    options: {
      kubeconfig: values.kubeconfig,
      namespace,
      recyclerPodTemplate,
      recycleMaxRetries,
      recycleRetryBaseMs,
      probe,
      timeouts,
      workers,
      resyncPeriodMs,
      metricsBindAddress: address === '0' ? undefined : address,
      ...(values['metrics-secure'] ? { metricsSecure: true } : {}),
      ...(values['metrics-cert-dir'] !== undefined ? { metricsCertDir: values['metrics-cert-dir'] } : {}),
      requestTimeoutMs,
      gracefulShutdownTimeoutMs,
      logLevel,
      logFormat,
      leaderElection,
      ...(controllers ? { controllers } : {}),
    },
  };
}

const serviceAccountToken = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** --kubeconfig, else the in-cluster configuration, else $KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(path: string | undefined): { kubeConfig: KubeConfig; source: string } {
  const kc = new KubeConfig();
  if (path !== undefined) {
    kc.loadFromFile(path);
    return { kubeConfig: kc, source: path };
  }
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(serviceAccountToken)) {
    kc.loadFromCluster();
    return { kubeConfig: kc, source: 'in-cluster' };
  }
  kc.loadFromDefault();
  if (!kc.getCurrentCluster()) {
    throw new Error(
      'no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run inside a cluster',
    );
  }
  return { kubeConfig: kc, source: process.env.KUBECONFIG ?? '~/.kube/config' };
}

interface Output {
  write(text: string): unknown;
}

/** Runs the command; resolves with the exit code. */
export async function main(
  argv: string[],
  out: Output = process.stdout,
  err: Output = process.stderr,
): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    err.write(`pv-lifecycle-operator: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (command.kind === 'help') {
    out.write(usage);
    return 0;
  }
  if (command.kind === 'version') {
    out.write(`${packageInfo.name} ${packageInfo.version}\n`);
    return 0;
  }
  return run(command.options, err);
}

async function run(options: RunOptions, err: Output): Promise<number> {
  const log = createLogger({ level: options.logLevel, format: options.logFormat });
  let loaded;
  try {
    loaded = loadKubeConfig(options.kubeconfig);
  } catch (e) {
    err.write(`pv-lifecycle-operator: ${(e as Error).message}\n`);
    return 1;
  }
  log.info('pv-lifecycle-operator starting', {
    version: packageInfo.version,
    kubeconfig: loaded.source,
    server: loaded.kubeConfig.getCurrentCluster()?.server,
    resyncPeriod: formatDuration(options.resyncPeriodMs),
  });
  let operator: Operator;
  try {
    operator = await Operator.create({ ...options, kubeConfig: loaded.kubeConfig, log });
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    log.error('invalid recycler pod template', { error: e.message });
    err.write(`pv-lifecycle-operator: ${e.message}\n`);
    return 1;
  }
  const stopped = new Promise<string>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        log.warn('second signal: exiting without waiting for in-flight work', { signal });
        process.exit(1);
      }
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return operator.run(stopped);
}
