// Command line of pv-lifecycle-operator: parse flags, load the kubeconfig,
// run the operator until SIGINT or SIGTERM.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { KubeConfig } from '@kubernetes/client-node';

import { Operator } from './operator.ts';
import { formatDuration, parseDuration } from './runtime/duration.ts';
import { createLogger, isLogLevel, logFormats, logLevels } from './runtime/logging.ts';
import { parseBindAddress } from './runtime/http-server.ts';
import { packageInfo } from './version.ts';

const defaults = {
  workers: 4,
  resyncPeriodMs: 15_000,
  metricsBindAddress: ':8080',
  logLevel: 'info',
  logFormat: 'json',
} as const;

export const usage = `Usage: pv-lifecycle-operator [options]

A Kubernetes operator that owns the whole life of PersistentVolumes: it binds
claims to volumes as the in-tree controller does (run kube-controller-manager
with --controllers=*,-persistentvolume-binder-controller).

Options:
      --kubeconfig PATH               kubeconfig to use; without it the in-cluster
                                      configuration, else $KUBECONFIG or ~/.kube/config
      --workers N                     reconciles running at once per controller
                                      (default ${String(defaults.workers)})
      --resync-period DURATION        how often every object is reconciled again even
                                      without a change, e.g. 30s or 5m; 0 turns it off
                                      (default ${formatDuration(defaults.resyncPeriodMs)})
      --metrics-bind-address ADDR     where /metrics, /healthz and /readyz are served,
                                      host:port or :port; 0 turns it off
                                      (default ${defaults.metricsBindAddress})
      --log-level LEVEL               ${logLevels.join(', ')} (default ${defaults.logLevel})
      --log-format FORMAT             ${logFormats.join(' (one JSON object a line) or ')} (key=value
                                      lines for a terminal) (default ${defaults.logFormat})
  -h, --help                          show this help
      --version                       print the version
`;

export interface RunOptions {
  kubeconfig: string | undefined;
  workers: number;
  resyncPeriodMs: number;
  metricsBindAddress: string | undefined;
  logLevel: string;
  logFormat: string;
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
      workers: { type: 'string' },
      'resync-period': { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new Error(`unexpected argument "${positionals[0] ?? ''}"`);
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const workersText = values.workers ?? String(defaults.workers);
  const workers = Number(workersText);
  if (!/^\d+$/.test(workersText) || workers < 1 || workers > 256) {
    throw new Error(`--workers: "${workersText}" is not a whole number from 1 to 256`);
  }
  let resyncPeriodMs: number = defaults.resyncPeriodMs;
  if (values['resync-period'] !== undefined) {
    try {
      resyncPeriodMs = parseDuration(values['resync-period']);
    } catch (e) {
      throw new Error(`--resync-period: ${(e as Error).message}`, { cause: e });
    }
  }
  const address = values['metrics-bind-address'] ?? defaults.metricsBindAddress;
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
  if (values.kubeconfig !== undefined && !existsSync(values.kubeconfig)) {
    throw new Error(`--kubeconfig: no file at "${values.kubeconfig}"`);
  }
  return {
    kind: 'run',
    options: {
      kubeconfig: values.kubeconfig,
      workers,
      resyncPeriodMs,
      metricsBindAddress: address === '0' ? undefined : address,
      logLevel,
      logFormat,
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
  const operator = new Operator({
    kubeConfig: loaded.kubeConfig,
    log,
    workers: options.workers,
    resyncPeriodMs: options.resyncPeriodMs,
    metricsBindAddress: options.metricsBindAddress,
  });

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

  const started = operator.start().then(
    () => undefined,
    (e: unknown) => e,
  );
  const first = await Promise.race([
    started.then((e) => ({ failed: e })),
    stopped.then((s) => ({ signal: s })),
  ]);
  if ('failed' in first && first.failed !== undefined) {
    log.error('could not start', { error: first.failed });
    await operator.stop();
    return 1;
  }
  const signal = 'signal' in first ? first.signal : await stopped;
  log.info('shutting down', { signal });
  await operator.stop();
  log.info('stopped');
  return 0;
}
