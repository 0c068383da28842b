// One run of the process around a manager: the HTTP listener, leader
// election, start, and the race between a signal, a lost lease and a failed
// start that decides how the process ends and with which exit code.
//
// Under leader election the workers start only once this replica holds the
// lease. Losing it (no renewal within the renew deadline, or another holder)
// ends the run with 1: it never leads again, and its supervisor starts a fresh
// process that rejoins the election as a standby.
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';

import { ApiClients } from './api-clients.ts';
import { type HttpServer, type HttpServerOptions, startHttpServer } from './http-server.ts';
import { LeaderElector } from './leader-election.ts';
import type { Manager } from './manager.ts';

export interface LeaderElectionConfig {
  enabled: boolean;
  /** The Lease's name and namespace. */
  id: string;
  namespace: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface RunConfig {
  kubeConfig: KubeConfig;
  leaderElection: LeaderElectionConfig;
  /** host:port for /metrics, /healthz and /readyz; undefined turns the listener off. */
  metricsBindAddress: string | undefined;
  /** Serve over HTTPS, /metrics only to those the API server allows (secure metrics). */
  metricsSecurity?: Pick<HttpServerOptions, 'tls' | 'authorize'>;
  gracefulShutdownTimeoutMs: number;
  /** Resolves with the signal's name when the process is asked to stop. */
  stopped: Promise<string>;
  /** Told the listener's address once it serves. */
  onListening?: (address: { host: string; port: number }) => void;
}

/** Runs the manager until stopped, the lease is lost or start fails; resolves with the exit code. */
export async function runManager(manager: Manager, config: RunConfig): Promise<number> {
  const { log } = manager;
  let http: HttpServer | undefined;
  if (config.metricsBindAddress !== undefined) {
    try {
      http = await startHttpServer({
        bindAddress: config.metricsBindAddress,
        metrics: manager.metrics,
        readyChecks: manager.readyChecks(),
        ...config.metricsSecurity,
      });
    } catch (err) {
      log.error('could not start', { error: err });
      return 1;
    }
    log.info('serving metrics and probes', {
      address: `${http.address.host}:${String(http.address.port)}`,
      scheme: config.metricsSecurity?.tls ? 'https' : 'http',
      ...(config.metricsSecurity?.authorize ? { metrics: 'TokenReview and SubjectAccessReview' } : {}),
    });
    config.onListening?.(http.address);
  }
  const election = electLeader(manager, config);
  const started = manager.start(election.leading).then(
    () => undefined,
    (e: unknown) => e ?? new Error('start failed'),
  );
  const stopped = config.stopped.then((s) => ({ signal: s }));
  const lost = election.lost.then(() => ({ lost: true as const }));
  const first = await Promise.race([started.then((e) => ({ failed: e })), stopped, lost]);
  const finish = async (code: number): Promise<number> => {
    await http?.close();
    return code;
  };
  if ('failed' in first && first.failed !== undefined) {
    log.error('could not start', { error: first.failed });
    election.elector?.stop();
    await manager.stop(config.gracefulShutdownTimeoutMs);
    await election.elector?.release();
    return finish(1);
  }
  if ('failed' in first) log.info('informers synced; reconciling', { cached: manager.cacheSizes() });
  const next = 'failed' in first ? await Promise.race([stopped, lost]) : first;
  if ('lost' in next) {
    log.error(
      'lost leadership: abandoning in-flight work and exiting so a fresh process rejoins the election',
    );
    // Nothing of this process may land after another replica took over.
    manager.abandon('lost the lease');
    await manager.stop(0);
    return finish(1);
  }
  log.info('shutting down', { signal: next.signal });
  // Stop reconciling first (abandoning what outlives the grace period), then
  // hand the lease over so a standby takes it at once. Should the lease be
  // lost meanwhile, nothing more of this process may land: abandon at once.
  void election.lost.then(() => {
    manager.abandon('lost the lease while stopping');
  });
  await manager.stop(config.gracefulShutdownTimeoutMs);
  await election.elector?.release();
  log.info('stopped');
  return finish(0);
}

interface Election {
  elector: LeaderElector | undefined;
  /** Resolves once this replica may reconcile (at once without election). */
  leading: Promise<void>;
  /** Resolves if leadership is lost (never without election). */
  lost: Promise<void>;
}

function electLeader(manager: Manager, config: RunConfig): Election {
  const election = config.leaderElection;
  if (!election.enabled)
    return { elector: undefined, leading: Promise.resolve(), lost: new Promise(() => undefined) };
  const { log } = manager;
  let startLeading: () => void = () => undefined;
  let stopLeading: () => void = () => undefined;
  const leading = new Promise<void>((resolve) => {
    startLeading = resolve;
  });
  const lost = new Promise<void>((resolve) => {
    stopLeading = resolve;
  });
  const lease = `${election.namespace}/${election.id}`;
  const elector = new LeaderElector({
    // Its own clients: the lease is still handed back after the operator's
    // requests were abandoned.
    api: new ApiClients(config.kubeConfig, {
      timeoutMs: Math.max(100, Math.floor(election.renewDeadlineMs / 2)),
    }).make(CoordinationV1Api),
    namespace: election.namespace,
    name: election.id,
    leaseDurationMs: election.leaseDurationMs,
    renewDeadlineMs: election.renewDeadlineMs,
    retryPeriodMs: election.retryPeriodMs,
    log,
    metrics: manager.metrics,
    onStartedLeading: () => {
      log.info('leading: starting the controllers', { lease });
      startLeading();
    },
    onStoppedLeading: ({ released }) => {
      if (!released) stopLeading();
    },
  });
  log.info('leader election: waiting for the lease before reconciling', {
    lease,
    identity: elector.identity,
  });
  elector.start();
  return { elector, leading, lost };
}
