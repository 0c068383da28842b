// The NfsExport controller: one PersistentVolume per export, kept as the
// export declares it. It never touches what belongs to the binder (claimRef,
// status) nor any data on the server: deleting an export removes its volume
// object once no claim holds it, nothing more.
import { CoreV1Api, CustomObjectsApi, type V1PersistentVolume } from '@kubernetes/client-node';

import { isNotFound } from '../kube/api-errors.ts';
import { persistentVolumes } from '../kube/kinds.ts';
import type { Controller, ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, objectRef } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Kind, Manager } from '../runtime/manager.ts';
import { type Trigger, watchInformer, watchTrigger } from '../runtime/source.ts';
import type { Log } from '../runtime/log.ts';
import { type Placement, type Verdict, decideConflict, normalServer, overlaps } from './conflict.ts';
import {
  type Condition,
  type NfsExport,
  type NfsExportStatus,
  apiVersion,
  desiredVolume,
  exportFinalizer,
  exportOfVolume,
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
import { WriteRefusals, refusalCondition, refusalReason } from './write-refusals.ts';

type StoredExport = NfsExport & { metadata: NonNullable<NfsExport['metadata']> };
type Ready = Omit<Condition, 'lastTransitionTime'>;

/** Exports filed by server (normalServer), so the conflict check reads only those of one server. */
const byServer = 'server';

export interface ExportControllerOptions {
  events: EventSink;
  log: Log;
  /** Whether a scrub Job runs for a volume (the reclaim controller knows). */
  isScrubbing: (volumeName: string) => boolean;
  /** Fired with a volume's name when one of its scrub Jobs changed: the export's phase follows (Recycling). */
  scrubJobChanged?: Trigger<string>;
  /** Fired with an export's name when its server's answer changed. */
  probeChanged?: Trigger<string>;
  /** The server probes: told what to probe, asked for the ServerReachable condition. */
  probes?: {
    track(exportName: string, target: { server: string; path: string }): void;
    forget(exportName: string): void;
    condition(exportName: string): Omit<Condition, 'lastTransitionTime'> | undefined;
  };
}

/** What the reconcile works with: the options, and the clients and caches the manager gave. */
interface Wired extends ExportControllerOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  volumes: Informer<V1PersistentVolume>;
}

const nfsExports: Kind<StoredExport> = {
  name: plural,
  path: `/apis/${group}/${version}/${plural}`,
  list: (api) =>
    api.make(CustomObjectsApi).listClusterCustomObject({ group, version, plural }) as Promise<{
      items: StoredExport[];
      metadata?: { resourceVersion?: string };
    }>,
};

export const exportControllerName = 'nfsexport';

export class ExportController {
  readonly exports: Informer<StoredExport>;
  readonly controller: Controller;
  private readonly opts: Wired;
  private readonly refusals = new WriteRefusals();

  constructor(manager: Manager, options: ExportControllerOptions) {
    const volumes = manager.informer(persistentVolumes);
    this.opts = {
      ...options,
      core: manager.api.make(CoreV1Api),
      custom: manager.api.make(CustomObjectsApi),
      volumes,
    };
    this.exports = manager.informer(nfsExports, {
      indexers: { [byServer]: (e) => [normalServer(e.spec.server)] },
    });
    const exportOf = (volumeName: string): string[] => {
      const name = exportOfVolume(volumes.store.get(volumeName));
      return name ? [name] : [];
    };
    this.controller = manager.controller({
      name: exportControllerName,
      readiness: 'nfsexports',
      reconcile: (key) => this.sync(key),
      watches: [
        // An export's coming, going or moving changes what its overlapping peers may do.
        watchInformer(this.exports, ({ type, obj: e, old }) => {
          const own = [e.metadata.name ?? ''];
          if (type === 'add' || type === 'delete') return [...own, ...this.peers(e)];
          if (
            type === 'update' &&
            old &&
            (old.spec.server !== e.spec.server || old.spec.path !== e.spec.path)
          )
            return [...own, ...this.peers(old), ...this.peers(e)];
          return own;
        }),
        // So does its volume's coming, going, binding and release.
        watchInformer(
          volumes,
          ({ obj: v }) => {
            const name = exportOfVolume(v);
            if (!name) return [];
            const e = this.exports.store.get(name);
            return [name, ...(e ? this.peers(e) : [])];
          },
          { types: ['add', 'update', 'delete'] },
        ),
        ...(options.scrubJobChanged ? [watchTrigger(options.scrubJobChanged, exportOf)] : []),
        ...(options.probeChanged ? [watchTrigger(options.probeChanged, (name) => [name])] : []),
      ],
    });
  }

  /** The other exports whose server and path overlap e's. */
  private peers(e: NfsExport): string[] {
    return this.exports.store
      .byIndex(byServer, normalServer(e.spec.server))
      .filter((peer) => peer.metadata.name !== e.metadata?.name && overlaps(peer.spec, e.spec))
      .map((peer) => peer.metadata.name ?? '');
  }

  private async sync(name: string): Promise<ReconcileResult> {
    const e = this.exports.store.get(name);
    if (!e || e.metadata.deletionTimestamp) this.opts.probes?.forget(name);
    if (!e) {
      this.refusals.clear(name);
      return undefined;
    }
    if (!e.metadata.deletionTimestamp)
      this.opts.probes?.track(name, { server: e.spec.server, path: e.spec.path });
    const volumeName = volumeNameFor(name);
    let volume = this.opts.volumes.store.get(volumeName);
    // Someone else's volume with our name is never adopted.
    if (volume && exportOfVolume(volume) !== name) {
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

    const verdict = this.verdictOf(e, volume);
    if (verdict.kind === 'conflict' && !sameReady(e, 'ExportConflict', verdict.message))
      this.event(e, 'Warning', 'ExportConflict', verdict.message);
    let ready: Ready = {
      type: 'Ready',
      status: 'True',
      reason: 'VolumeReady',
      message: `PersistentVolume ${volumeName} matches the spec`,
    };
    if (verdict.kind === 'conflict') {
      ready = { type: 'Ready', status: 'False', reason: 'ExportConflict', message: verdict.message };
      if (verdict.volume !== 'keep') {
        if (verdict.volume === 'withdraw' && volume) {
          const outcome = await this.writeVolume(e, volume, `delete PersistentVolume ${volumeName}`, () =>
            this.withdraw(volume as V1PersistentVolume),
          );
          if (!outcome.done) return outcome.result;
          this.event(
            e,
            'Normal',
            'VolumeWithdrawn',
            `unbound PersistentVolume ${volumeName} deleted: the export conflicts with ${verdict.with} (the data on the server is untouched)`,
          );
          volume = undefined;
        }
        await this.writeStatus(e, volume, ready);
        return undefined; // a change of the other export or its volume brings us back
      }
    }

    if (!volume) {
      // A volume deleted by the Delete policy (after its scrub) is made anew here, Available again.
      const outcome = await this.writeVolume(e, undefined, `create PersistentVolume ${volumeName}`, () =>
        this.createVolume(e),
      );
      if (!outcome.done) return outcome.result;
      volume = outcome.value;
      this.event(e, 'Normal', 'VolumeCreated', `created PersistentVolume ${volumeName}`);
    } else {
      const change = planVolumeChange(e, volume);
      if (change.recreate) {
        const current = volume;
        const outcome = await this.writeVolume(e, current, `replace PersistentVolume ${volumeName}`, () =>
          this.opts.core.deletePersistentVolume({
            name: volumeName,
            body: {
              preconditions: {
                uid: current.metadata?.uid,
                resourceVersion: current.metadata?.resourceVersion,
              },
            },
          }),
        );
        if (!outcome.done) return outcome.result;
        this.event(
          e,
          'Normal',
          'VolumeReplaced',
          `the NFS source changed: PersistentVolume ${volumeName} is made anew`,
        );
        return undefined; // its deletion brings us back to create it
      }
      if (change.update) {
        const body = change.update;
        const outcome = await this.writeVolume(e, body, `update PersistentVolume ${volumeName}`, () =>
          this.opts.core.replacePersistentVolume({ name: volumeName, body }),
        );
        if (!outcome.done) return outcome.result;
        volume = outcome.value;
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
      if (change.refused.length > 0 && verdict.kind === 'ok') {
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

  /**
   * Why the binder must not offer this free volume now, if it must not: its
   * export conflicts with another (the volume is about to be withdrawn), or
   * the exports are not known yet. Decided from the caches at the moment of
   * asking, so a volume made free by its scrub is never offered in between.
   */
  heldBack(volume: V1PersistentVolume): string | undefined {
    const name = exportOfVolume(volume);
    if (!name) return undefined;
    if (!this.exports.hasSynced()) return 'the NfsExports are not known yet (the operator is starting)';
    const e = this.exports.store.get(name);
    if (!e) return undefined;
    const verdict = this.verdictOf(e, volume);
    return verdict.kind === 'conflict' ? `NfsExport ${name} conflicts: ${verdict.message}` : undefined;
  }

  /** The conflict check against the exports of the same server (and their volumes). */
  private verdictOf(e: StoredExport, volume: V1PersistentVolume | undefined): Verdict {
    const placement = (x: StoredExport, v: V1PersistentVolume | undefined): Placement => {
      const ref = v?.spec?.claimRef;
      const created = x.metadata.creationTimestamp as Date | string | undefined;
      return {
        name: x.metadata.name ?? '',
        createdMs: created instanceof Date ? created.getTime() : Date.parse(String(created)),
        server: x.spec.server,
        path: x.spec.path,
        volume: v
          ? {
              name: v.metadata?.name ?? '',
              claim: ref ? `${ref.namespace ?? ''}/${ref.name ?? ''}` : undefined,
            }
          : undefined,
      };
    };
    const peers = this.exports.store
      .byIndex(byServer, normalServer(e.spec.server))
      .filter((p) => p.metadata.name !== e.metadata.name && overlaps(p.spec, e.spec))
      .map((p) => {
        const v = this.opts.volumes.store.get(volumeNameFor(p.metadata.name ?? ''));
        return placement(p, v && exportOfVolume(v) === p.metadata.name ? v : undefined);
      });
    return decideConflict(placement(e, volume), peers);
  }

  /**
   * Runs a write of the export's volume. A refusal by the API server (invalid,
   * forbidden) ends in the Ready condition and a warning, and the same write
   * waits, longer each time; other failures throw for the queue's retry.
   */
  private async writeVolume<T>(
    e: StoredExport,
    attempted: unknown,
    what: string,
    write: () => Promise<T>,
  ): Promise<{ done: false; result: ReconcileResult } | { done: true; value: T }> {
    const name = e.metadata.name ?? '';
    const attempt = `${what}\n${canonical(attempted ?? desiredVolume(e))}`;
    const now = Date.now();
    const waiting = this.refusals.waiting(name, attempt, now);
    if (waiting) {
      await this.writeStatus(e, this.opts.volumes.store.get(volumeNameFor(name)), waiting.condition);
      return { done: false, result: { requeueAfterMs: waiting.retryInMs } };
    }
    let value: T;
    try {
      value = await write();
    } catch (err) {
      const reason = refusalReason(err);
      if (!reason) throw err;
      const r = this.refusals.refused(name, attempt, now, (ms) => refusalCondition(reason, what, err, ms));
      this.opts.log.warn('the API server refused a volume write; the export reports it', {
        export: name,
        reason,
        detail: r.condition.message,
      });
      this.event(e, 'Warning', reason, r.condition.message);
      await this.writeStatus(e, this.opts.volumes.store.get(volumeNameFor(name)), r.condition);
      return { done: false, result: { requeueAfterMs: r.retryInMs } };
    }
    this.refusals.clear(name);
    return { done: true, value };
  }

  /** Deletes an unbound volume; the preconditions fail if the binder took it meanwhile. */
  private async withdraw(volume: V1PersistentVolume): Promise<object> {
    try {
      return await this.opts.core.deletePersistentVolume({
        name: volume.metadata?.name ?? '',
        body: {
          preconditions: { uid: volume.metadata?.uid, resourceVersion: volume.metadata?.resourceVersion },
        },
      });
    } catch (err) {
      // A conflict (changed since we saw it, perhaps bound) throws: the retry decides from fresh state.
      if (isNotFound(err)) return {};
      throw err;
    }
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
      const uid = volume.metadata?.uid;
      const outcome = await this.writeVolume(
        e,
        { uid },
        `delete PersistentVolume ${volume.metadata?.name ?? ''}`,
        async () => {
          try {
            await this.opts.core.deletePersistentVolume({
              name: volume.metadata?.name ?? '',
              body: { preconditions: { uid } },
            });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        },
      );
      if (!outcome.done) return outcome.result;
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

/** Whether the export's stored Ready condition already says this. */
function sameReady(e: NfsExport, reason: string, message: string): boolean {
  const c = e.status?.conditions?.find((x) => x.type === 'Ready');
  return c?.reason === reason && c.message === message;
}
