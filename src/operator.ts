// The composition root: the one place that builds the manager and the
// features and connects them. Features never import each other; what one
// must know of another comes in here as a function or a trigger.
import { hostname } from 'node:os';

import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  EventsV1Api,
  type KubeConfig,
  type V1PersistentVolume,
} from '@kubernetes/client-node';

import { BindingController } from './binding/controller.ts';
import { OtherBinderWatch } from './binding/other-binder.ts';
import { type ControllerName, allControllers, describeControllers } from './controller-selection.ts';
import { persistentVolumes } from './kube/kinds.ts';
import { apiMessage } from './kube/api-errors.ts';
import { exportOfVolume, volumeNameFor } from './nfs/export.ts';
import { overlaps } from './nfs/conflict.ts';
import { ExportController, nfsExports } from './nfs/export-controller.ts';
import { ProbeManager } from './nfs/probe-manager.ts';
import { ProvisionerController } from './provisioning/controller.ts';
import type { PoolLookup } from './provisioning/plan.ts';
import { ReclaimController } from './reclaim/controller.ts';
import type { RecycleTimeouts } from './reclaim/job.ts';
import { defaultRecyclerTemplate, mergeTemplate } from './reclaim/template.ts';
import { type TemplateSource, loadRecyclerTemplate } from './reclaim/template-source.ts';
import { EventRecorder } from './runtime/events.ts';
import type { Informer } from './runtime/informer.ts';
import { type LeaderElectionConfig, runManager } from './runtime/lifecycle.ts';
import type { Log } from './runtime/log.ts';
import { Manager } from './runtime/manager.ts';
import { Metrics } from './runtime/metrics.ts';
import { MetricsAuthorizer } from './runtime/metrics-auth.ts';
import { servingCertificate } from './runtime/serving-cert.ts';
import { type Syncable, Trigger } from './runtime/source.ts';

export interface OperatorConfig {
  kubeConfig: KubeConfig;
  log: Log;
  workers: number;
  resyncPeriodMs: number;
  /** host:port for /metrics, /healthz and /readyz; undefined turns the listener off. */
  metricsBindAddress: string | undefined;
  /** HTTPS, and /metrics only for tokens the API server allows "get" on it (--metrics-secure). */
  metricsSecure?: boolean;
  /** tls.crt and tls.key for it; a self-signed certificate is made at start when absent. */
  metricsCertDir?: string;
  /** The limit on each API request but watches, in ms (default 60 s). */
  requestTimeoutMs?: number;
  /** How long in-flight reconciles may take to finish on a stop before they are abandoned (default: no limit). */
  gracefulShutdownTimeoutMs?: number;
  /** Off when absent. */
  leaderElection?: LeaderElectionConfig;
  /** Reported in events; the pod name in a cluster. */
  instance?: string;
  /** The operator's namespace, where scrub Jobs run. */
  namespace: string;
  /** The administrator's recycler pod template: read and checked by Operator.create. */
  recyclerPodTemplate?: TemplateSource;
  timeouts?: Partial<RecycleTimeouts>;
  recycleMaxRetries: number;
  recycleRetryBaseMs?: number;
  probe: {
    intervalMs: number;
    timeoutMs: number;
    concurrency: number;
    nfsPort?: number;
    portmapperPort?: number;
  };
  /** For tests: quicker retries of failed reconciles. */
  baseDelayMs?: number;
  /** The controllers to run (--controllers); every one when absent. */
  controllers?: ReadonlySet<ControllerName>;
}

export const controllerName = 'pv-lifecycle-operator';

/** The limit on each API request but watches. */
export const defaultRequestTimeoutMs = 60_000;

/** The administrator's recycler template could not be read or is invalid. */
export class TemplateError extends Error {}

export class Operator {
  readonly manager: Manager;
  readonly metrics: Metrics;
  readonly events: EventRecorder;
  /** The controllers this operator runs (--controllers). */
  readonly controllers: ReadonlySet<ControllerName>;
  private readonly config: OperatorConfig;
  private readonly built: {
    binding?: BindingController;
    reclaim?: ReclaimController;
    exports?: ExportController;
    probes?: ProbeManager;
    provisioner?: ProvisionerController;
  } = {};

  /** Reads the administrator's recycler template (throws TemplateError), then builds the operator. */
  static async create(config: OperatorConfig): Promise<Operator> {
    const manager = Operator.managerFor(config);
    let template;
    if (config.recyclerPodTemplate) {
      try {
        template = await loadRecyclerTemplate(
          config.recyclerPodTemplate,
          config.namespace,
          manager.api.make(CoreV1Api),
        );
      } catch (e) {
        throw new TemplateError((e as Error).message, { cause: e });
      }
    }
    return new Operator(config, manager, template);
  }

  private static managerFor(config: OperatorConfig): Manager {
    return new Manager({
      kubeConfig: config.kubeConfig,
      log: config.log,
      metrics: new Metrics(),
      workers: config.workers,
      resyncPeriodMs: config.resyncPeriodMs,
      requestTimeoutMs: config.requestTimeoutMs ?? defaultRequestTimeoutMs,
      baseDelayMs: config.baseDelayMs,
    });
  }

  private constructor(
    config: OperatorConfig,
    manager: Manager,
    template: Awaited<ReturnType<typeof loadRecyclerTemplate>> | undefined,
  ) {
    this.config = config;
    this.manager = manager;
    this.metrics = manager.metrics;
    const { log } = config;
    this.events = new EventRecorder({
      api: manager.api.make(EventsV1Api),
      log,
      reportingController: controllerName,
      observer: manager.metrics.eventObserver(),
      reportingInstance: `${controllerName}-${config.instance ?? process.env.POD_NAME ?? hostname()}`,
    });
    // Added first, stopped last: the controllers' final events are flushed.
    manager.add({ name: 'events', start: () => undefined, stop: () => this.events.stop() });
    manager.add({
      name: 'namespace-check',
      start: () => this.checkNamespace(),
      stop: () => Promise.resolve(),
    });

    const volumes = manager.informer(persistentVolumes);
    this.controllers = config.controllers ?? allControllers;
    const on = (name: ControllerName) => this.controllers.has(name);
    // How the features tell each other of changes.
    const volumeUnblocked = new Trigger<string>('volume-unblocked');
    const scrubJobChanged = new Trigger<string>('scrub-job-changed');
    const probeChanged = new Trigger<string>('probe-changed');
    const built = this.built;

    if (on('nfsexport')) {
      const probes = new ProbeManager({
        ...config.probe,
        log,
        metrics: this.metrics,
        onSpaceChange: (exportName) => {
          probeChanged.fire(exportName);
        },
        onChange: (exportName, result) => {
          probeChanged.fire(exportName);
          if (result.reachable) volumeUnblocked.fire(volumeNameFor(exportName));
        },
      });
      built.probes = probes;
      this.metrics.onCollectExportSpaces(() => probes.allSpaces());
      manager.add({
        name: 'nfs-probes',
        start: () => {
          probes.start();
        },
        stop: () => probes.stop(),
      });
    }

    if (on('reclaim')) {
      const reclaim = new ReclaimController(manager, {
        events: this.events,
        log,
        namespace: config.namespace,
        job: { template: mergeTemplate(defaultRecyclerTemplate(), template), timeouts: config.timeouts },
        maxRetries: config.recycleMaxRetries,
        retryBaseMs: config.recycleRetryBaseMs,
        metrics: this.metrics,
        scrubJobChanged,
        sharingData: (volume) => sharingData(volumes, volume),
        // Without ours, the in-tree binder (and its recycler and deleter) is presumed to run.
        besideInTreeBinder: !on('binder'),
      });
      built.reclaim = reclaim;
      scrubJobChanged.listen((volumeName) => {
        if (!reclaim.isScrubbing(volumeName)) volumeUnblocked.fire(volumeName);
      });
    }
    // Without the reclaimer no scrub Job of ours is known to run.
    const scrubbingJob = (volumeName: string) => built.reclaim?.scrubbingJob(volumeName);

    if (on('nfsexport')) {
      built.exports = new ExportController(manager, {
        events: this.events,
        log,
        isScrubbing: (volumeName) => scrubbingJob(volumeName) !== undefined,
        scrubJobChanged,
        probeChanged,
        probes: built.probes,
        policyInAnnotation: !on('binder'),
      });
    }

    if (on('binder')) {
      // Nothing may bind a volume that a scrub Job may still be emptying.
      const scrubbing = (volume: V1PersistentVolume): string | undefined => {
        const job = scrubbingJob(volume.metadata?.name ?? '');
        return job ? `is being scrubbed by Job ${job}` : undefined;
      };
      const binding = new BindingController(manager, {
        blocked: (volume) => {
          const held = scrubbing(volume);
          if (held) return held;
          // The ownerReference holds the export's whole name; the label may be shortened.
          const exportName = exportOfVolume(volume);
          if (!exportName) return undefined;
          return built.exports?.heldBack(volume) ?? built.probes?.blockedReason(exportName);
        },
        busy: scrubbing,
        events: this.events,
        log,
        metrics: this.metrics,
        volumeUnblocked,
      });
      built.binding = binding;
      this.metrics.onCollectVolumeCounts(() => binding.volumeCounts());
      // Two binders race quietly: say so if kube-controller-manager's is on too.
      new OtherBinderWatch(manager, {
        kubeConfig: config.kubeConfig,
        events: this.events,
        log,
        metrics: this.metrics,
      });
    }
    if (on('provisioner')) {
      built.provisioner = new ProvisionerController(manager, {
        events: this.events,
        log,
        metrics: this.metrics,
        ...poolLookup(manager),
        server: {
          port: config.probe.nfsPort ?? 2049,
          timeoutMs: config.probe.timeoutMs,
          ...(config.probe.portmapperPort === undefined
            ? {}
            : { portmapperPort: config.probe.portmapperPort }),
        },
      });
    }
    const reclaim = built.reclaim;
    if (reclaim) this.metrics.onCollectJobsInFlight(() => reclaim.jobsInFlight());
  }

  get binding(): BindingController {
    return this.running('binder', this.built.binding);
  }

  get reclaim(): ReclaimController {
    return this.running('reclaim', this.built.reclaim);
  }

  get exports(): ExportController {
    return this.running('nfsexport', this.built.exports);
  }

  get provisioner(): ProvisionerController {
    return this.running('provisioner', this.built.provisioner);
  }

  get probes(): ProbeManager {
    return this.running('nfsexport', this.built.probes);
  }

  /** A controller that --controllers left out is a programming error to reach for. */
  private running<T>(name: ControllerName, c: T | undefined): T {
    if (c === undefined) throw new Error(`the ${name} controller is not running (--controllers)`);
    return c;
  }

  ready(): boolean {
    return this.manager.ready();
  }

  /**
   * Runs until stopped resolves (with the signal's name), the lease is lost
   * or start fails; resolves with the process's exit code.
   */
  async run(
    stopped: Promise<string>,
    onListening?: (address: { host: string; port: number }) => void,
  ): Promise<number> {
    const { config } = this;
    let metricsSecurity;
    if (config.metricsSecure && config.metricsBindAddress !== undefined) {
      try {
        const tls = await servingCertificate(config.metricsCertDir, config.instance ?? hostname());
        config.log.info('metrics served over HTTPS', { certificate: tls.source });
        const authorizer = new MetricsAuthorizer({
          authn: this.manager.api.make(AuthenticationV1Api),
          authz: this.manager.api.make(AuthorizationV1Api),
        });
        metricsSecurity = {
          tls,
          authorize: (header: string | undefined, path: string) => authorizer.check(header, path),
        };
      } catch (err) {
        config.log.error('could not start', { error: err });
        return 1;
      }
    }
    this.config.log.info('starting controllers', {
      workers: config.workers,
      namespace: config.namespace,
      // Said only when chosen, so a default start logs as before.
      ...(config.controllers ? { controllers: describeControllers(this.controllers) } : {}),
    });
    return runManager(this.manager, {
      kubeConfig: config.kubeConfig,
      leaderElection: config.leaderElection ?? {
        enabled: false,
        id: controllerName,
        namespace: config.namespace,
        leaseDurationMs: 0,
        renewDeadlineMs: 0,
        retryPeriodMs: 0,
      },
      metricsBindAddress: config.metricsBindAddress,
      ...(metricsSecurity ? { metricsSecurity } : {}),
      gracefulShutdownTimeoutMs: config.gracefulShutdownTimeoutMs ?? Number.POSITIVE_INFINITY,
      stopped,
      onListening,
    });
  }

  /** For tests in process: starts the caches and, once leading resolves, the controllers. */
  start(leading: Promise<void> = Promise.resolve()): Promise<void> {
    return this.manager.start(leading);
  }

  stop(graceMs = Number.POSITIVE_INFINITY): Promise<void> {
    return this.manager.stop(graceMs);
  }

  /** Scrub Jobs run in the operator's namespace: say clearly at start-up if it is missing. */
  private async checkNamespace(): Promise<void> {
    try {
      await this.manager.api.make(CoreV1Api).readNamespace({ name: this.config.namespace });
    } catch (err) {
      this.config.log.warn('the operator namespace cannot be read; scrub Jobs cannot run until it exists', {
        namespace: this.config.namespace,
        error: apiMessage(err),
        hint: 'create it, or pass --namespace',
      });
    }
  }
}

/** A declared NfsExport as a provisioning pool: its server and path, unless it cannot serve as one. */
function poolLookup(manager: Manager): { pool: PoolLookup; reads: Syncable[] } {
  const exports = manager.informer(nfsExports);
  const pool: PoolLookup = (name) => {
    const e = exports.store.get(name);
    if (!e) return { problem: `NfsExport ${JSON.stringify(name)} not found` };
    if (e.metadata.deletionTimestamp) return { problem: `NfsExport ${name} is being deleted` };
    if (e.spec.readOnly)
      return { problem: `NfsExport ${name} is read-only; directories cannot be made in it` };
    return { server: e.spec.server, path: e.spec.path, pool: name };
  };
  return { pool, reads: [exports] };
}

/** The other NFS volumes that see the same files as this one (exports may nest). */
function sharingData(
  volumes: Informer<V1PersistentVolume>,
  volume: V1PersistentVolume,
): V1PersistentVolume[] {
  const nfs = volume.spec?.nfs;
  if (!nfs) return [];
  const name = volume.metadata?.name;
  return volumes.store
    .list()
    .filter((v) => v.metadata?.name !== name && v.spec?.nfs !== undefined && overlaps(nfs, v.spec.nfs));
}
