// The composition root: one process with its logger, metrics and probes, the
// event recorder and the controllers, started and stopped in order.
import { hostname } from 'node:os';

import { CoreV1Api, type KubeConfig, StorageV1Api } from '@kubernetes/client-node';

import { BindingController } from './binding/controller.ts';
import { EventRecorder } from './runtime/events.ts';
import { type HttpServer, startHttpServer } from './runtime/http-server.ts';
import type { Log } from './runtime/log.ts';
import { Metrics } from './runtime/metrics.ts';

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  log: Log;
  workers: number;
  resyncPeriodMs: number;
  /** host:port for /metrics, /healthz and /readyz; undefined turns the listener off. */
  metricsBindAddress: string | undefined;
  /** Reported in events; the pod name in a cluster. */
  instance?: string;
}

export const controllerName = 'pv-lifecycle-operator';

export class Operator {
  readonly metrics = new Metrics();
  readonly events: EventRecorder;
  readonly binding: BindingController;
  private readonly opts: OperatorOptions;
  private http: HttpServer | undefined;
  private stopping: Promise<void> | undefined;

  constructor(opts: OperatorOptions) {
    this.opts = opts;
    const { kubeConfig, log } = opts;
    this.events = new EventRecorder({
      kubeConfig,
      log,
      reportingController: controllerName,
      reportingInstance: `${controllerName}-${opts.instance ?? process.env.POD_NAME ?? hostname()}`,
    });
    this.binding = new BindingController({
      kubeConfig,
      core: kubeConfig.makeApiClient(CoreV1Api),
      storage: kubeConfig.makeApiClient(StorageV1Api),
      events: this.events,
      log,
      workers: opts.workers,
      resyncPeriodMs: opts.resyncPeriodMs,
      metrics: this.metrics,
    });
    for (const c of [this.binding.claimController, this.binding.volumeController]) {
      this.metrics.bindQueue(c.name, c.queue);
    }
    this.metrics.onCollectVolumeCounts(() => this.binding.volumeCounts());
  }

  /** The listener's address once started, for logs and tests. */
  get httpAddress(): { host: string; port: number } | undefined {
    return this.http?.address;
  }

  ready(): boolean {
    return this.binding.hasSynced();
  }

  /** Serves probes at once (not ready until the informers sync), then starts the controllers. */
  async start(): Promise<void> {
    const { log, metricsBindAddress } = this.opts;
    if (metricsBindAddress !== undefined) {
      this.http = await startHttpServer({
        bindAddress: metricsBindAddress,
        metrics: this.metrics,
        readyChecks: { informers: () => this.ready() },
      });
      log.info('serving metrics and probes', {
        address: `${this.http.address.host}:${String(this.http.address.port)}`,
      });
    }
    log.info('starting controllers', { workers: this.opts.workers });
    await this.binding.start();
    log.info('informers synced; reconciling', {
      volumes: this.binding.volumes.store.size,
      claims: this.binding.claims.store.size,
    });
  }

  /** Stops taking work, lets in-flight reconciles finish, flushes events. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.binding.stop();
      await this.events.stop();
      await this.http?.close();
    })();
    return this.stopping;
  }
}
