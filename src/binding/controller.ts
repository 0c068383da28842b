// The binding controller: informers over volumes, claims and storage classes,
// two keyed queues (claims, volumes), and the I/O that carries out planClaim
// and planVolume with resourceVersion preconditions.
//
// No volume goes to two claims:
//  - Matching and reserving a volume happen in one synchronous step, so no
//    other worker of this process can be handed the same volume while a bind
//    is in flight; the reservation ends when the first write lands (the
//    volume then has a claimRef and is no longer free) or fails.
//  - Every write is a full-object update carrying the resourceVersion the
//    decision was based on. If anything else (the scheduler, an admin, a
//    second operator) changed the volume since our cache saw it, the apiserver
//    answers 409 and the key is retried from fresher state. A stale cache can
//    therefore delay a bind but never double it.
//  - Each successful write is written back into the informer's store at once,
//    and older copies arriving later from the watch are ignored.
import {
  CoreV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1StorageClass,
} from '@kubernetes/client-node';

import { apiMessage, unlessNotFound } from '../kube/api-errors.ts';
import { readReferencedClaim } from '../kube/claims.ts';
import { type CoreWrites, coreWrites } from '../kube/core-writes.ts';
import { persistentVolumeClaims, persistentVolumes, storageClasses } from '../kube/kinds.ts';
import { type Controller, type ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, type ObjectRef, objectRef } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Log } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import { CoalescingTrigger, type Trigger, watchInformer, watchTrigger } from '../runtime/source.ts';
import { objectKey } from '../runtime/store.ts';
import type { VolumeCounts } from '../runtime/metrics.ts';
import {
  annBetaStorageProvisioner,
  annBindCompleted,
  annStorageProvisioner,
  hasAnnotation,
} from '../kube/annotations.ts';
import {
  claimBoundToVolume,
  claimWithPhase,
  volumeBoundToClaim,
  volumeUnbound,
  volumeWithPhase,
} from './bind-writes.ts';
import { type PlannedEvent, eventNote } from '../kube/planned-event.ts';
import { pendingClaimsWithFit, planClaim } from './claim-sync.ts';
import { delayBindingEvent, unscheduledPodsUsing } from './consumers.ts';
import { namespacedName } from '../kube/refs.ts';
import { storageClassOf } from './objects.ts';
import { VolumeIndex, isFree } from './volume-index.ts';
import { capacityWarning, planVolume } from './volume-sync.ts';

export interface BindingControllerOptions {
  events: EventSink;
  log: Log;
  metrics?: { retroactiveStorageClass(ok: boolean): void };
  /** How often a Pending claim's explanation may be recomputed for the same reason (default 30 s). */
  explainIntervalMs?: number;
  /** Free volumes not to bind now, with the reason (an NFS server that does not answer). */
  blocked?: (volume: V1PersistentVolume) => string | undefined;
  /** Volumes not to bind at all now, pre-bound ones too (a scrub may be running on them). */
  busy?: (volume: V1PersistentVolume) => string | undefined;
  /**
   * Fired with a volume's name when it may be handed out again (its server
   * answers now, its scrub is over): the claim it names, or the Pending
   * claims of its class, look again.
   */
  volumeUnblocked?: Trigger<string>;
}

const claimRefOf = (c: V1PersistentVolumeClaim): ObjectRef => objectRef('PersistentVolumeClaim', 'v1', c);
const volumeRefOf = (v: V1PersistentVolume): ObjectRef => objectRef('PersistentVolume', 'v1', v);

const unboundClass = (c: V1PersistentVolumeClaim): readonly string[] =>
  hasAnnotation(c, annBindCompleted) || c.spec?.volumeName ? [] : [storageClassOf(c)];

const claimOfVolume = (v: V1PersistentVolume): string[] => {
  const ref = v.spec?.claimRef;
  return ref ? [namespacedName(ref.namespace, ref.name)] : [];
};

export class BindingController {
  readonly volumes: Informer<V1PersistentVolume>;
  readonly claims: Informer<V1PersistentVolumeClaim>;
  readonly classes: Informer<V1StorageClass>;
  readonly index = new VolumeIndex();
  readonly claimController: Controller;
  readonly volumeController: Controller;
  private readonly opts: BindingControllerOptions;
  private readonly core: CoreV1Api;
  /**
   * Storage classes that gained a free volume. Its Pending claims are woken at
   * most every 200 ms per class: a storm's volumes woke them once each.
   */
  private readonly classWithFreeVolume = new CoalescingTrigger('free-volume', 200);
  /** The hot writes, as plain JSON. */
  private readonly writes: CoreWrites;
  /**
   * Last pending event per claim uid, so the same explanation is not repeated:
   * kind is the plan's reason (WaitForFirstConsumer also for WaitForPodScheduled).
   */
  private readonly lastPending = new Map<
    string,
    { kind: string; reason: string; note: string; at: number }
  >();
  /** Per volume name, the capacityWarning key last said, so it is said once. */
  private readonly capacityWarned = new Map<string, string>();

  constructor(manager: Manager, opts: BindingControllerOptions) {
    this.opts = opts;
    this.core = manager.api.make(CoreV1Api);
    this.writes = coreWrites(manager.api);
    this.volumes = manager.informer(persistentVolumes);
    this.claims = manager.informer(persistentVolumeClaims, { indexers: { unboundByClass: unboundClass } });
    this.classes = manager.informer(storageClasses);
    // The index and the said-once memories are views of the caches, kept before any key runs.
    this.volumes.on({
      add: (v) => {
        this.index.upsert(v);
      },
      update: (_old, v) => {
        this.index.upsert(v);
      },
      delete: (v) => {
        this.index.remove(v.metadata?.name ?? '');
        this.capacityWarned.delete(v.metadata?.name ?? '');
      },
    });
    this.claims.on({
      delete: (c) => {
        this.lastPending.delete(c.metadata?.uid ?? '');
      },
    });
    const triggers = opts.volumeUnblocked
      ? [
          watchTrigger(opts.volumeUnblocked, (name) => {
            const v = this.volumes.store.get(name);
            return v ? this.claimsWaitingFor(v) : [];
          }),
        ]
      : [];
    this.claimController = manager.controller({
      name: 'persistentvolumeclaim-binder',
      readiness: 'binding',
      reconcile: (key) => this.syncClaim(key),
      watches: [
        watchInformer(this.claims, ({ obj }) => [objectKey(obj)], { types: ['add', 'update', 'resync'] }),
        // A volume that became free may be what a Pending claim of its class waits for.
        watchInformer(
          this.volumes,
          ({ type, obj }) => (type === 'delete' ? claimOfVolume(obj) : this.claimsWaitingFor(obj)),
          { types: ['add', 'update', 'delete'] },
        ),
        watchTrigger(this.classWithFreeVolume, (storageClass) => this.pendingClaims(storageClass)),
        watchInformer(this.classes, () =>
          this.claims.store
            .list()
            .filter((c) => unboundClass(c).length > 0)
            .map(objectKey),
        ),
        ...triggers,
      ],
    });
    this.volumeController = manager.controller({
      name: 'persistentvolume-binder',
      readiness: 'binding',
      reconcile: (key) => this.syncVolume(key),
      watches: [
        watchInformer(this.volumes, ({ obj }) => [obj.metadata?.name ?? ''], {
          types: ['add', 'update', 'resync'],
        }),
        watchInformer(
          this.claims,
          ({ obj: c }) => [
            ...(c.spec?.volumeName ? [c.spec.volumeName] : []),
            ...this.index
              .volumesNamingClaim(c.metadata?.namespace ?? '', c.metadata?.name ?? '')
              .map((v) => v.metadata?.name ?? ''),
          ],
          { types: ['delete'] },
        ),
      ],
    });
  }

  /** The claim a volume names, or the Pending claims of its class if it is free. */
  /** The claim a volume names; and a free volume wakes the Pending claims of its class (coalesced). */
  private claimsWaitingFor(v: V1PersistentVolume): string[] {
    if (isFree(v)) this.classWithFreeVolume.fire(storageClassOf(v));
    return claimOfVolume(v);
  }

  private pendingClaims(storageClass: string): string[] {
    return this.claims.store.byIndex('unboundByClass', storageClass).map(objectKey);
  }

  /**
   * Stores the result of our own write at once. writeBack reports it to the
   * informer's handlers as an update, so the index follows and a volume we
   * made free wakes the Pending claims of its class, as any change would.
   */
  private rememberVolume(v: V1PersistentVolume): V1PersistentVolume {
    this.volumes.writeBack(v);
    return this.volumes.store.get(v.metadata?.name ?? '') ?? v;
  }

  private rememberClaim(c: V1PersistentVolumeClaim): V1PersistentVolumeClaim {
    this.claims.writeBack(c);
    return this.claims.store.get(objectKey(c)) ?? c;
  }

  private event(regarding: ObjectRef, e: PlannedEvent, action: string): void {
    void this.opts.events.record(regarding, e.type, e.reason, action, eventNote(e));
  }

  /**
   * A Pending claim's event, said only when its text changes. A claim is
   * reconciled again whenever a volume of its class frees up, so in a storm the
   * explanation (which walks every volume) would be recomputed, and its
   * wording would change, hundreds of times a second: for the same kind of
   * event it is recomputed (by resolve, which may read the API) at most once
   * per explainIntervalMs. The periodic resync brings any later change.
   */
  private async pendingEvent(
    claim: V1PersistentVolumeClaim,
    kind: string,
    resolve: () => Promise<PlannedEvent>,
  ): Promise<void> {
    const uid = claim.metadata?.uid ?? '';
    const now = Date.now();
    const last = this.lastPending.get(uid);
    if (last?.kind === kind && now - last.at < (this.opts.explainIntervalMs ?? 30_000)) return;
    const e = await resolve();
    const note = eventNote(e);
    if (last?.kind === kind && last.reason === e.reason && last.note === note) {
      last.at = now;
      return;
    }
    this.lastPending.set(uid, { kind, reason: e.reason, note, at: now });
    void this.opts.events.record(claimRefOf(claim), e.type, e.reason, 'Binding', note);
  }

  /**
   * The WaitForFirstConsumer claim's event: WaitForPodScheduled naming the
   * unscheduled pods that use it, if any. Upstream keeps a pod informer for
   * this; one list of the namespace's pods without a node, done at most once
   * per explainIntervalMs per claim (see pendingEvent), costs less than a
   * cache of every pod. The first 500 such pods are looked at.
   */
  private async delayBindingEvent(claim: V1PersistentVolumeClaim): Promise<PlannedEvent> {
    const namespace = claim.metadata?.namespace ?? '';
    try {
      const pods = await this.core.listNamespacedPod({
        namespace,
        fieldSelector: 'spec.nodeName=',
        limit: 500,
      });
      return delayBindingEvent(unscheduledPodsUsing(claim, pods.items));
    } catch (err) {
      // Without the list the claim still gets upstream's other event.
      this.opts.log.warn('could not list pods for a WaitForFirstConsumer claim', {
        claim: objectKey(claim),
        error: apiMessage(err),
      });
      return delayBindingEvent([]);
    }
  }

  // ---- claims ----

  private async syncClaim(key: string): Promise<ReconcileResult> {
    const claim = this.claims.store.get(key);
    if (!claim) return undefined;
    const plan = planClaim(claim, {
      volumes: this.index,
      classes: this.classes.store,
      blocked: this.opts.blocked,
      busy: this.opts.busy,
    });
    switch (plan.action) {
      case 'bind': {
        const name = plan.volume.metadata?.name ?? '';
        if (plan.chosen && !this.index.reserve(name, key)) return { requeueAfterMs: 100 };
        try {
          await this.bind(claim, plan.volume, plan.chosen);
        } finally {
          if (plan.chosen) this.index.release(name);
        }
        this.lastPending.delete(claim.metadata?.uid ?? '');
        return undefined;
      }
      case 'pending': {
        let current = claim;
        if (plan.provisioner && claim.metadata?.annotations?.[annStorageProvisioner] !== plan.provisioner) {
          current = this.rememberClaim(
            await this.writes.replaceNamespacedPersistentVolumeClaim({
              name: claim.metadata?.name ?? '',
              namespace: claim.metadata?.namespace ?? '',
              body: {
                ...claim,
                metadata: {
                  ...claim.metadata,
                  annotations: {
                    ...claim.metadata?.annotations,
                    [annStorageProvisioner]: plan.provisioner,
                    [annBetaStorageProvisioner]: plan.provisioner,
                  },
                },
              },
            }),
          );
        }
        await this.writeClaimStatus(current, 'Pending', undefined);
        const event = plan.event;
        if (event) {
          await this.pendingEvent(claim, event.reason, () =>
            plan.awaitsConsumer ? this.delayBindingEvent(claim) : Promise.resolve(event),
          );
        }
        return undefined;
      }
      case 'assignDefaultClass': {
        try {
          this.rememberClaim(
            await this.writes.replaceNamespacedPersistentVolumeClaim({
              name: claim.metadata?.name ?? '',
              namespace: claim.metadata?.namespace ?? '',
              body: { ...claim, spec: { ...claim.spec, storageClassName: plan.storageClass } },
            }),
          );
          this.opts.metrics?.retroactiveStorageClass(true);
        } catch (err) {
          this.opts.metrics?.retroactiveStorageClass(false);
          throw err;
        }
        // Match again, now with the class (a key added while in flight runs again after).
        this.claimController.enqueue(key);
        return undefined;
      }
      case 'lost': {
        // Written and said once, when the phase changes, as upstream does.
        if (claim.status?.phase === 'Lost') return undefined;
        if (plan.volumeName && (await this.volumeExists(plan.volumeName))) {
          // Our cache has not seen the volume yet; decide again once it has.
          return { requeueAfterMs: 1000 };
        }
        if (await this.writeClaimStatus(claim, 'Lost', undefined)) {
          this.opts.log.warn('claim lost', { claim: key, reason: plan.event.reason, note: plan.event.note });
          this.event(claimRefOf(claim), plan.event, 'Binding');
        }
        return undefined;
      }
    }
  }

  private async volumeExists(name: string): Promise<boolean> {
    return (await unlessNotFound(this.core.readPersistentVolume({ name }))) !== undefined;
  }

  /** The four writes, each only when it changes something, in upstream's order. */
  private async bind(
    claim: V1PersistentVolumeClaim,
    chosen: V1PersistentVolume,
    fromFreePool: boolean,
  ): Promise<void> {
    const { writes } = this;
    const { log } = this.opts;
    let volume = chosen;
    const before = claim.status?.phase;
    const withRef = volumeBoundToClaim(volume, claim);
    if (withRef) {
      volume = this.rememberVolume(
        await writes.replacePersistentVolume({ name: volume.metadata?.name ?? '', body: withRef }),
      );
    }
    const bound = volumeWithPhase(volume, 'Bound', undefined, new Date());
    if (bound) {
      volume = this.rememberVolume(
        await writes.replacePersistentVolumeStatus({ name: volume.metadata?.name ?? '', body: bound }),
      );
    }
    let current = claim;
    const named = claimBoundToVolume(current, volume);
    if (named) {
      current = this.rememberClaim(
        await writes.replaceNamespacedPersistentVolumeClaim({
          name: current.metadata?.name ?? '',
          namespace: current.metadata?.namespace ?? '',
          body: named,
        }),
      );
    }
    await this.writeClaimStatus(current, 'Bound', volume);
    if (before !== 'Bound') {
      log.info('bound claim to volume', {
        claim: objectKey(claim),
        volume: volume.metadata?.name,
        capacity: volume.spec?.capacity?.storage,
        how: fromFreePool ? 'matched' : 'pre-bound',
      });
    }
  }

  /** Returns whether the status changed. */
  private async writeClaimStatus(
    claim: V1PersistentVolumeClaim,
    phase: string,
    volume: V1PersistentVolume | undefined,
  ): Promise<boolean> {
    const updated = claimWithPhase(claim, phase, volume);
    if (!updated) return false;
    this.rememberClaim(
      await this.writes.replaceNamespacedPersistentVolumeClaimStatus({
        name: claim.metadata?.name ?? '',
        namespace: claim.metadata?.namespace ?? '',
        body: updated,
      }),
    );
    return true;
  }

  // ---- volumes ----

  private async syncVolume(name: string): Promise<ReconcileResult> {
    const volume = this.volumes.store.get(name);
    if (!volume) return undefined;
    this.warnCapacity(name, volume);
    const ref = volume.spec?.claimRef;
    let claim = ref ? this.claims.store.get(namespacedName(ref.namespace, ref.name)) : undefined;
    if (ref?.uid && claim?.metadata?.uid !== ref.uid) {
      // Releasing a volume leads to reclaim: confirm the claim is really gone, not just missing from our cache.
      claim = await readReferencedClaim(this.core, ref);
    }
    const plan = planVolume(volume, claim);
    switch (plan.action) {
      case 'phase':
        await this.writeVolumePhase(volume, plan.phase);
        if (plan.syncClaim) this.claimController.enqueue(plan.syncClaim);
        return undefined;
      case 'syncClaim':
        if (plan.volumeEvent) this.event(volumeRefOf(volume), plan.volumeEvent, 'Binding');
        if (plan.claimEvent && claim) this.event(claimRefOf(claim), plan.claimEvent, 'Binding');
        this.claimController.enqueue(plan.claim);
        return undefined;
      case 'unbind': {
        this.opts.log.info('freeing volume: the claim it names is bound elsewhere or gone', {
          volume: name,
          claim: ref ? namespacedName(ref.namespace, ref.name) : undefined,
        });
        const freed = this.rememberVolume(
          await this.writes.replacePersistentVolume({ name, body: volumeUnbound(volume) }),
        );
        await this.writeVolumePhase(freed, 'Available');
        return undefined;
      }
      case 'none':
        return undefined;
    }
  }

  private warnCapacity(name: string, volume: V1PersistentVolume): void {
    const warning = capacityWarning(volume);
    if (!warning) {
      this.capacityWarned.delete(name);
      return;
    }
    if (this.capacityWarned.get(name) === warning.key) return;
    this.capacityWarned.set(name, warning.key);
    this.opts.log.warn('volume not offered: unusable capacity', { volume: name, note: warning.event.note });
    this.event(volumeRefOf(volume), warning.event, 'Binding');
  }

  private async writeVolumePhase(volume: V1PersistentVolume, phase: string): Promise<void> {
    const updated = volumeWithPhase(volume, phase, undefined, new Date());
    if (!updated) return;
    this.opts.log.info('volume phase', {
      volume: volume.metadata?.name,
      from: volume.status?.phase ?? '',
      to: phase,
      claim: volume.spec?.claimRef
        ? namespacedName(volume.spec.claimRef.namespace, volume.spec.claimRef.name)
        : undefined,
    });
    this.rememberVolume(
      await this.writes.replacePersistentVolumeStatus({
        name: volume.metadata?.name ?? '',
        body: updated,
      }),
    );
  }

  /** Volumes and claims by binding state, for the pv_collector_* gauges (read on each scrape). */
  volumeCounts(): VolumeCounts {
    const count = <K extends string>(keys: Iterable<K>): Map<K, number> => {
      const m = new Map<K, number>();
      for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
      return m;
    };
    const volumes = this.volumes.store.list();
    const claims = this.claims.store.list();
    const byClass = (vs: V1PersistentVolume[]) =>
      [...count(vs.map(storageClassOf))].map(([storageClass, n]) => ({ storageClass, count: n }));
    const byNamespaceAndClass = (cs: V1PersistentVolumeClaim[]) =>
      [...count(cs.map((c) => `${c.metadata?.namespace ?? ''}\u0000${storageClassOf(c)}`))].map(
        ([key, n]) => {
          const [namespace = '', storageClass = ''] = key.split('\u0000');
          return { namespace, storageClass, count: n };
        },
      );
    const isBound = (o: { status?: { phase?: string } }) => o.status?.phase === 'Bound';
    return {
      boundVolumes: byClass(volumes.filter(isBound)),
      unboundVolumes: byClass(volumes.filter((v) => !isBound(v))),
      boundClaims: byNamespaceAndClass(claims.filter(isBound)),
      unboundClaims: byNamespaceAndClass(claims.filter((c) => !isBound(c))),
      pendingClaimsWithFit: pendingClaimsWithFit(claims, {
        volumes: this.index,
        classes: this.classes.store,
        blocked: this.opts.blocked,
        busy: this.opts.busy,
      }),
    };
  }
}
