// The NfsExport controller: one PersistentVolume per export, kept as the
// export declares it. It never touches what belongs to the binder (claimRef,
// status) nor any data on the server: deleting an export removes its volume
// object once no claim holds it, nothing more.
import { CoreV1Api, CustomObjectsApi, type V1PersistentVolume } from '@kubernetes/client-node';

import { apiFailure, deleteUnlessGone, unlessNotFound } from '../kube/api-errors.ts';
import { annNfsPool } from '../kube/annotations.ts';
import { quantityOrZero } from '../kube/quantity.ts';
import { readReferencedClaim } from '../kube/claims.ts';
import { persistentVolumes } from '../kube/kinds.ts';
import { type PlannedEvent, eventNote } from '../kube/planned-event.ts';
import type { Controller, ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, objectRef } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Kind, Manager } from '../runtime/manager.ts';
import { type Trigger, watchInformer, watchTrigger } from '../runtime/source.ts';
import type { Log } from '../runtime/log.ts';
import { type Verdict, decideConflict, normalServer, overlaps } from './conflict.ts';
import {
  type Condition,
  type NfsExport,
  type StoredExport,
  apiVersion,
  exportOfVolume,
  group,
  kind,
  plural,
  version,
  volumeNameFor,
} from './export.ts';
import { type Ready, canonical, deleteExactly, exportWithStatus } from './export-writes.ts';
import { type ExportPlan, claimToCheck, placementOf, planExport } from './plan.ts';
import { WriteRefusals, refusalCondition, refusalReason } from './write-refusals.ts';

/** Exports filed by server (normalServer), so the conflict check reads only those of one server. */
const byServer = 'server';
/** The capacities of these volumes together, in bytes (an unreadable one counts as none). */
function promisedBytes(volumes: readonly (V1PersistentVolume | undefined)[]): number {
  let nano = 0n;
  for (const v of volumes) {
    try {
      nano += quantityOrZero(v?.spec?.capacity?.storage);
    } catch {
      // The API server refuses invalid quantities; nothing to add if one got through.
    }
  }
  return Number(nano / 1_000_000_000n);
}

/** Provisioned volumes filed by the export they were carved from. */
const byPool = 'nfsPool';
const poolOf = (v: V1PersistentVolume): string[] => {
  const pool = v.metadata?.annotations?.[annNfsPool];
  return pool ? [pool] : [];
};

export interface ExportControllerOptions {
  events: EventSink;
  log: Log;
  /** Whether a scrub Job runs for a volume (the reclaim controller knows). */
  isScrubbing: (volumeName: string) => boolean;
  /** Fired with a volume's name when one of its scrub Jobs changed: the export's phase follows (Recycling). */
  scrubJobChanged?: Trigger<string>;
  /** Fired with an export's name when its server's answer changed. */
  probeChanged?: Trigger<string>;
  /**
   * The in-tree binder runs instead of this operator's: the volumes carry
   * their reclaim policy in an annotation and say Retain in their spec, so the
   * in-tree controller never reclaims them and this operator's reclaim does.
   */
  policyInAnnotation?: boolean;
  /** The server probes: told what to probe, asked for the ServerReachable condition. */
  probes?: {
    track(exportName: string, target: { server: string; path: string }): void;
    forget(exportName: string): void;
    condition(exportName: string): Omit<Condition, 'lastTransitionTime'> | undefined;
    space?(exportName: string): { totalBytes: number; freeBytes: number; availBytes: number } | undefined;
  };
}

/** What the reconcile works with: the options, and the clients and caches the manager gave. */
interface Wired extends ExportControllerOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  volumes: Informer<V1PersistentVolume>;
}

export const nfsExports: Kind<StoredExport> = {
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
    const volumes = manager.informer(persistentVolumes, { indexers: { [byPool]: poolOf } });
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
          ({ type, obj: v, old }) => {
            // A pool's count of provisioned volumes changes as they come and go.
            if (type !== 'update' || poolOf(v)[0] !== (old && poolOf(old)[0])) {
              const pools = [...poolOf(v), ...(old ? poolOf(old) : [])];
              if (pools.length > 0) return pools;
            }
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

  /** Reads the facts (the caches; a claim while a deletion may have to wait), plans, applies. */
  private async sync(name: string): Promise<ReconcileResult> {
    const e = this.exports.store.get(name);
    if (!e || e.metadata.deletionTimestamp) this.opts.probes?.forget(name);
    if (!e) {
      this.refusals.clear(name);
      return undefined;
    }
    if (!e.metadata.deletionTimestamp)
      this.opts.probes?.track(name, { server: e.spec.server, path: e.spec.path });
    const volume = this.opts.volumes.store.get(volumeNameFor(name));
    const named = claimToCheck(e, volume);
    const claim = await readReferencedClaim(this.opts.core, named);
    const plan = planExport({
      export: e,
      volume,
      verdict: this.verdictOf(e, volume),
      claim,
      // Absent unless asked for, so the facts are as before without it.
      ...(this.opts.policyInAnnotation ? { style: { policyInAnnotation: true } } : {}),
    });
    return this.apply(e, volume, plan);
  }

  /** Carries a plan out; volume is the cached one the plan was made from. */
  private async apply(
    e: StoredExport,
    volume: V1PersistentVolume | undefined,
    plan: ExportPlan,
  ): Promise<ReconcileResult> {
    const { core } = this.opts;
    switch (plan.action) {
      case 'none':
        return undefined;
      case 'addFinalizer':
        await this.replaceExport(plan.body);
        return undefined; // the update brings us back
      case 'nameTaken':
        await this.writeStatus(e, undefined, plan.ready);
        return undefined;
      case 'deletionBlocked':
        await this.writeStatus(e, volume, plan.ready);
        return { requeueAfterMs: plan.requeueAfterMs };
      case 'deleteVolume': {
        const { volumeName: name, uid } = plan;
        const outcome = await this.writeVolume(e, { uid }, plan.what, () =>
          deleteUnlessGone(core.deletePersistentVolume({ name, body: { preconditions: { uid } } })),
        );
        if (!outcome.done) return outcome.result;
        return this.release(plan.release);
      }
      case 'removeFinalizer':
        return this.release(plan.release);
      case 'withdraw': {
        const current = plan.volume;
        const name = current.metadata?.name ?? '';
        this.record(e, plan.events);
        // A conflict (changed since we saw it, perhaps bound) throws: the retry decides from fresh state.
        const outcome = await this.writeVolume(e, current, plan.what, () =>
          unlessNotFound(core.deletePersistentVolume({ name, body: deleteExactly(current) })),
        );
        if (!outcome.done) return outcome.result;
        this.record(e, [plan.done]);
        await this.writeStatus(e, undefined, plan.ready);
        return undefined; // a change of the other export or its volume brings us back
      }
      case 'createVolume': {
        this.record(e, plan.events);
        const outcome = await this.writeVolume(e, plan.body, plan.what, () => this.createVolume(plan.body));
        if (!outcome.done) return outcome.result;
        this.record(e, [plan.done]);
        await this.writeStatus(e, outcome.value, plan.ready);
        return undefined;
      }
      case 'recreateVolume': {
        const current = plan.volume;
        const name = current.metadata?.name ?? '';
        this.record(e, plan.events);
        const outcome = await this.writeVolume(e, current, plan.what, () =>
          core.deletePersistentVolume({ name, body: deleteExactly(current) }),
        );
        if (!outcome.done) return outcome.result;
        this.record(e, [plan.done]);
        return undefined; // its deletion brings us back to create it
      }
      case 'updateVolume': {
        const { body } = plan;
        const name = body.metadata?.name ?? '';
        this.record(e, plan.events);
        const outcome = await this.writeVolume(e, body, plan.what, () =>
          core.replacePersistentVolume({ name, body }),
        );
        if (!outcome.done) return outcome.result;
        this.opts.log.info('volume brought in line with its export', {
          export: e.metadata.name,
          volume: name,
          fields: plan.drift,
        });
        this.record(e, [plan.done]);
        await this.writeStatus(e, outcome.value, plan.ready);
        return undefined;
      }
      case 'status':
        this.record(e, plan.events);
        await this.writeStatus(e, volume, plan.ready);
        return undefined;
    }
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

  /** The conflict check against the exports of the same server (and their own volumes). */
  private verdictOf(e: StoredExport, volume: V1PersistentVolume | undefined): Verdict {
    const peers = this.exports.store
      .byIndex(byServer, normalServer(e.spec.server))
      .filter((p) => p.metadata.name !== e.metadata.name && overlaps(p.spec, e.spec))
      .map((p) => {
        const v = this.opts.volumes.store.get(volumeNameFor(p.metadata.name ?? ''));
        return placementOf(p, v && exportOfVolume(v) === p.metadata.name ? v : undefined);
      });
    return decideConflict(placementOf(e, volume), peers);
  }

  /**
   * Runs a write of the export's volume. A refusal by the API server (invalid,
   * forbidden) ends in the Ready condition and a warning, and the same write
   * (what, and attempted: what it sends) waits, longer each time; other
   * failures throw for the queue's retry.
   */
  private async writeVolume<T>(
    e: StoredExport,
    attempted: unknown,
    what: string,
    write: () => Promise<T>,
  ): Promise<{ done: false; result: ReconcileResult } | { done: true; value: T }> {
    const name = e.metadata.name ?? '';
    const attempt = `${what}\n${canonical(attempted)}`;
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
      this.record(e, [{ type: 'Warning', reason, note: r.condition.message }]);
      await this.writeStatus(e, this.opts.volumes.store.get(volumeNameFor(name)), r.condition);
      return { done: false, result: { requeueAfterMs: r.retryInMs } };
    }
    this.refusals.clear(name);
    return { done: true, value };
  }

  private async createVolume(body: V1PersistentVolume): Promise<V1PersistentVolume> {
    try {
      return await this.opts.core.createPersistentVolume({ body });
    } catch (err) {
      // Created a moment ago by an earlier sync whose event we have not seen yet.
      if (apiFailure(err) !== 'alreadyExists') throw err;
      return this.opts.core.readPersistentVolume({ name: body.metadata?.name ?? '' });
    }
  }

  private replaceExport(body: StoredExport): Promise<unknown> {
    return this.opts.custom.replaceClusterCustomObject({
      group,
      version,
      plural,
      name: body.metadata.name ?? '',
      body,
    });
  }

  /** The export's finalizer goes: nothing of it is left (its data on the server is never touched). */
  private async release(body: StoredExport): Promise<ReconcileResult> {
    await this.replaceExport(body);
    this.opts.log.info('export deleted; its volume object removed, the data on the server untouched', {
      export: body.metadata.name,
    });
    return undefined;
  }

  private async writeStatus(
    e: NfsExport,
    volume: V1PersistentVolume | undefined,
    ready: Ready,
  ): Promise<void> {
    const name = e.metadata?.name ?? '';
    const provisioned = this.opts.volumes.store.byIndex(byPool, name);
    const space = this.opts.probes?.space?.(name);
    const body = exportWithStatus(e, {
      volume,
      ready,
      reachable: this.opts.probes?.condition(name),
      scrubbing: volume ? this.opts.isScrubbing(volume.metadata?.name ?? '') : false,
      provisioned: provisioned.length,
      ...(space ? { space: { ...space, promisedBytes: promisedBytes([volume, ...provisioned]) } } : {}),
      now: new Date(),
    });
    if (!body) return;
    // A failure (a conflict above all) is retried by the work queue, which logs it.
    await this.opts.custom.replaceClusterCustomObjectStatus({
      group,
      version,
      plural,
      name: e.metadata?.name ?? '',
      body,
    });
  }

  private record(e: NfsExport, events: readonly PlannedEvent[]): void {
    for (const event of events) {
      void this.opts.events.record(
        objectRef(kind, apiVersion, e),
        event.type,
        event.reason,
        'Reconcile',
        eventNote(event),
      );
    }
  }
}
