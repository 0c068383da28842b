// The NfsExport controller: one PersistentVolume per export, kept as the
// export declares it. It never touches what belongs to the binder (claimRef,
// status) nor any data on the server: deleting an export removes its volume
// object once no claim holds it, nothing more.
import {
  type CoreV1Api,
  type CustomObjectsApi,
  type KubeConfig,
  type V1PersistentVolume,
} from '@kubernetes/client-node';

import { isNotFound } from '../runtime/api-errors.ts';
import { Controller, type ReconcileObserver, type ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, objectRef } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import type { Log } from '../runtime/log.ts';
import type { WorkQueueObserver } from '../runtime/work-queue.ts';
import {
  type Condition,
  type NfsExport,
  type NfsExportStatus,
  apiVersion,
  desiredVolume,
  exportFinalizer,
  exportLabel,
  exportPhase,
  group,
  kind,
  plural,
  planVolumeChange,
  setCondition,
  shortAccessModes,
  version,
  volumeNameFor,
} from './export.ts';

export interface ExportControllerOptions {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  events: EventSink;
  log: Log;
  /** The binder's volume informer, shared. */
  volumes: Informer<V1PersistentVolume>;
  /** Whether a scrub Job runs for a volume (the reclaim controller knows). */
  isScrubbing: (volumeName: string) => boolean;
  /** The server probes: told what to probe, asked for the ServerReachable condition. */
  probes?: {
    track(exportName: string, target: { server: string; path: string }): void;
    forget(exportName: string): void;
    condition(exportName: string): Omit<Condition, 'lastTransitionTime'> | undefined;
  };
  workers: number;
  resyncPeriodMs: number;
  metrics?: {
    queueObserver(name: string): WorkQueueObserver;
    reconcileObserver(controller: string): ReconcileObserver;
  };
  baseDelayMs?: number;
}

export const exportControllerName = 'nfsexport';

export class ExportController {
  readonly exports: Informer<NfsExport & { metadata: NonNullable<NfsExport['metadata']> }>;
  readonly controller: Controller;
  private readonly opts: ExportControllerOptions;

  constructor(opts: ExportControllerOptions) {
    this.opts = opts;
    const { kubeConfig, custom, log } = opts;
    this.exports = new Informer({
      name: plural,
      kubeConfig,
      path: `/apis/${group}/${version}/${plural}`,
      list: () =>
        custom.listClusterCustomObject({ group, version, plural }) as Promise<{
          items: (NfsExport & { metadata: NonNullable<NfsExport['metadata']> })[];
          metadata?: { resourceVersion?: string };
        }>,
      resyncPeriodMs: opts.resyncPeriodMs,
      log,
    });
    this.controller = new Controller({
      name: exportControllerName,
      workers: opts.workers,
      log,
      baseDelayMs: opts.baseDelayMs,
      reconcile: (key) => this.sync(key),
      queueObserver: opts.metrics?.queueObserver(exportControllerName),
      reconcileObserver: opts.metrics?.reconcileObserver(exportControllerName),
    });
    const onExport = (e: NfsExport) => {
      this.controller.enqueue(e.metadata?.name ?? '');
    };
    this.exports.on({
      add: onExport,
      update: (_o, e) => {
        onExport(e);
      },
      delete: onExport,
      resync: onExport,
    });
    const onVolume = (v: V1PersistentVolume) => {
      const name = v.metadata?.labels?.[exportLabel];
      if (name) this.controller.enqueue(name);
    };
    opts.volumes.on({
      add: onVolume,
      update: (_o, v) => {
        onVolume(v);
      },
      delete: onVolume,
    });
  }

  /** Call when a scrub Job of a volume changed, so the export's phase follows (Recycling). */
  volumeJobChanged(volumeName: string): void {
    const v = this.opts.volumes.store.get(volumeName);
    const name = v?.metadata?.labels?.[exportLabel];
    if (name) this.controller.enqueue(name);
  }

  /** Syncs the informers, then starts the workers once leading resolves (at once by default). */
  async start(leading: Promise<void> = Promise.resolve()): Promise<void> {
    this.exports.start();
    await this.exports.waitForSync();
    await leading;
    this.controller.start();
  }

  hasSynced(): boolean {
    return this.exports.hasSynced();
  }

  async stop(): Promise<void> {
    await this.controller.stop();
    await this.exports.stop();
  }

  private async sync(name: string): Promise<ReconcileResult> {
    const e = this.exports.store.get(name);
    if (!e || e.metadata.deletionTimestamp) this.opts.probes?.forget(name);
    if (!e) return undefined;
    if (!e.metadata.deletionTimestamp)
      this.opts.probes?.track(name, { server: e.spec.server, path: e.spec.path });
    const volumeName = volumeNameFor(name);
    let volume = this.opts.volumes.store.get(volumeName);
    // Someone else's volume with our name is never adopted.
    if (volume && volume.metadata?.labels?.[exportLabel] !== name) {
      await this.writeStatus(e, undefined, {
        type: 'Ready',
        status: 'False',
        reason: 'VolumeNameTaken',
        message: `a PersistentVolume named ${volumeName} exists and does not belong to this export`,
      });
      return undefined;
    }

    if (e.metadata.deletionTimestamp) return this.finalize(e, volume);

    if (!(e.metadata.finalizers ?? []).includes(exportFinalizer)) {
      await this.opts.custom.replaceClusterCustomObject({
        group,
        version,
        plural,
        name,
        body: {
          ...e,
          metadata: { ...e.metadata, finalizers: [...(e.metadata.finalizers ?? []), exportFinalizer] },
        },
      });
      return undefined; // the update brings us back
    }

    let ready: Omit<Condition, 'lastTransitionTime'> = {
      type: 'Ready',
      status: 'True',
      reason: 'VolumeReady',
      message: `PersistentVolume ${volumeName} matches the spec`,
    };
    if (!volume) {
      // A volume deleted by the Delete policy (after its scrub) is made anew here, Available again.
      volume = await this.createVolume(e);
      this.event(e, 'Normal', 'VolumeCreated', `created PersistentVolume ${volumeName}`);
    } else {
      const change = planVolumeChange(e, volume);
      if (change.recreate) {
        await this.opts.core.deletePersistentVolume({
          name: volumeName,
          body: {
            preconditions: { uid: volume.metadata?.uid, resourceVersion: volume.metadata?.resourceVersion },
          },
        });
        this.event(
          e,
          'Normal',
          'VolumeReplaced',
          `the NFS source changed: PersistentVolume ${volumeName} is made anew`,
        );
        return undefined; // its deletion brings us back to create it
      }
      if (change.update) {
        volume = await this.opts.core.replacePersistentVolume({ name: volumeName, body: change.update });
        const drift = change.drifted.filter((f) => !change.refused.includes(f));
        this.opts.log.info('volume brought in line with its export', {
          export: name,
          volume: volumeName,
          fields: drift,
        });
        this.event(
          e,
          'Normal',
          'VolumeUpdated',
          `PersistentVolume ${volumeName} updated: ${drift.join(', ')}`,
        );
      }
      if (change.refused.length > 0) {
        const ref = volume.spec?.claimRef;
        ready = {
          type: 'Ready',
          status: 'False',
          reason: 'UnsafeChangeRefused',
          message:
            `${change.refused.join(', ')} cannot change while claim ${ref?.namespace ?? ''}/${ref?.name ?? ''} ` +
            'holds the volume; the change applies once the volume is free',
        };
      }
    }
    await this.writeStatus(e, volume, ready);
    return undefined;
  }

  private async createVolume(e: NfsExport): Promise<V1PersistentVolume> {
    try {
      return await this.opts.core.createPersistentVolume({ body: desiredVolume(e) });
    } catch (err) {
      // Created a moment ago by an earlier sync whose event we have not seen yet.
      if ((err as { code?: number }).code === 409) {
        return this.opts.core.readPersistentVolume({ name: volumeNameFor(e.metadata?.name ?? '') });
      }
      throw err;
    }
  }

  /** Deleting an export: held while a claim holds the volume; then the volume object goes. */
  private async finalize(
    e: NfsExport & { metadata: NonNullable<NfsExport['metadata']> },
    volume: V1PersistentVolume | undefined,
  ): Promise<ReconcileResult> {
    if (!(e.metadata.finalizers ?? []).includes(exportFinalizer)) return undefined;
    const ref = volume?.spec?.claimRef;
    if (volume && ref && (await this.claimExists(ref.namespace ?? '', ref.name ?? '', ref.uid))) {
      const claim = `${ref.namespace ?? ''}/${ref.name ?? ''}`;
      await this.writeStatus(e, volume, {
        type: 'Ready',
        status: 'False',
        reason: 'DeletionBlocked',
        message: `deletion waits until claim ${claim} no longer uses volume ${volume.metadata?.name ?? ''}`,
      });
      return { requeueAfterMs: 30_000 };
    }
    if (volume) {
      try {
        await this.opts.core.deletePersistentVolume({
          name: volume.metadata?.name ?? '',
          body: { preconditions: { uid: volume.metadata?.uid } },
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    await this.opts.custom.replaceClusterCustomObject({
      group,
      version,
      plural,
      name: e.metadata.name ?? '',
      body: {
        ...e,
        metadata: {
          ...e.metadata,
          finalizers: (e.metadata.finalizers ?? []).filter((f) => f !== exportFinalizer),
        },
      },
    });
    this.opts.log.info('export deleted; its volume object removed, the data on the server untouched', {
      export: e.metadata.name,
    });
    return undefined;
  }

  private async claimExists(namespace: string, name: string, uid: string | undefined): Promise<boolean> {
    try {
      const c = await this.opts.core.readNamespacedPersistentVolumeClaim({ name, namespace });
      return uid === undefined || c.metadata?.uid === uid;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async writeStatus(
    e: NfsExport,
    volume: V1PersistentVolume | undefined,
    ready: Omit<Condition, 'lastTransitionTime'>,
  ): Promise<void> {
    const now = new Date();
    const generation = e.metadata?.generation;
    let conditions = setCondition(e.status?.conditions, { ...ready, observedGeneration: generation }, now);
    const reach = this.opts.probes?.condition(e.metadata?.name ?? '');
    if (reach) conditions = setCondition(conditions, { ...reach, observedGeneration: generation }, now);
    const ref = volume?.spec?.claimRef;
    const status: NfsExportStatus = {
      phase: exportPhase(volume, volume ? this.opts.isScrubbing(volume.metadata?.name ?? '') : false),
      volumeName: volume?.metadata?.name,
      claim: ref ? `${ref.namespace ?? ''}/${ref.name ?? ''}` : undefined,
      accessModes: shortAccessModes(e.spec.accessModes),
      observedGeneration: generation,
      conditions,
    };
    if (canonical(status) === canonical(e.status ?? {})) return;
    // A failure (a conflict above all) is retried by the work queue, which logs it.
    await this.opts.custom.replaceClusterCustomObjectStatus({
      group,
      version,
      plural,
      name: e.metadata?.name ?? '',
      body: { ...e, apiVersion, kind, status },
    });
  }

  private event(e: NfsExport, type: 'Normal' | 'Warning', reason: string, note: string): void {
    void this.opts.events.record(objectRef(kind, apiVersion, e), type, reason, 'Reconcile', note);
  }
}

/** JSON with sorted keys and without undefined values, to compare what the API would store. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}
