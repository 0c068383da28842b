// The NFS provisioner: for each claim whose class names pvlifecycle.io/nfs,
// a directory of its own on the export and a volume pre-bound to it (the
// binder, ours or the in-tree one, then completes the bind); once the claim
// is gone and the policy is Delete, the directory is deleted, archived or
// kept as the class said, and the volume object removed.
//
// Keys are "claim/<namespace>/<name>" and "volume/<name>".
import { CoreV1Api, type V1PersistentVolume, type V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { apiFailure, apiMessage, deleteUnlessGone, unlessNotFound } from '../kube/api-errors.ts';
import { claimHoldsVolume, readReferencedClaim } from '../kube/claims.ts';
import { persistentVolumeClaims, persistentVolumes, storageClasses } from '../kube/kinds.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import { namespacedName } from '../kube/refs.ts';
import { normalServer, pathsOverlap } from '../nfs/conflict.ts';
import type { Controller, ReconcileResult } from '../runtime/controller.ts';
import { type EventSink, objectRef } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import type { Log } from '../runtime/log.ts';
import type { Manager } from '../runtime/manager.ts';
import { type Syncable, watchInformer } from '../runtime/source.ts';
import { type ServerOptions, makeDirectory, reclaimDirectory } from './directories.ts';
import {
  type PoolLookup,
  type ProvisionPlan,
  directoryFinalizer,
  madeByProvisioner,
  planExpansion,
  planProvision,
  planVolume,
  provisionedVolume,
  volumeNameFor,
  waitsForUs,
} from './plan.ts';

export const provisionerControllerName = 'provisioner';

/** Calls one reconcile may make to delete a tree before it yields, and how long it may take. */
export const deleteBudget = { maxOps: 2_000, ms: 10_000 };

export interface ProvisionerMetrics {
  provisioningOperation(operation: string, ok: boolean, seconds: number): void;
}

export interface ProvisionerOptions {
  events: EventSink;
  log: Log;
  metrics?: ProvisionerMetrics;
  /** The NfsExport a class names as its pool. */
  pool: PoolLookup;
  /** The caches pool reads: synced before the first reconcile. */
  reads?: readonly Syncable[];
  server: ServerOptions;
}

/** A claim or volume key whose last attempt failed for a reason said in an event: thrown to back off. */
class AttemptFailed extends Error {}

const claimKey = (ns: string | undefined, name: string | undefined) => `claim/${namespacedName(ns, name)}`;
const volumeKey = (name: string | undefined) => `volume/${name ?? ''}`;

const byClass = 'provisionerWaitingByClass';
const byServer = 'provisionerNfsServer';

export class ProvisionerController {
  readonly controller: Controller;
  private readonly opts: ProvisionerOptions;
  private readonly core: CoreV1Api;
  private readonly claims: Informer<V1PersistentVolumeClaim>;
  private readonly volumes: Informer<V1PersistentVolume>;
  private readonly classes;
  /** Directories being made, by "server|path", until their volume is in the cache: no two claims race for one. */
  private readonly making = new Map<string, string>();
  /** Volumes made whose creation the cache has not shown yet: a claim's next sync must not make its directory again. */
  private readonly madeNotSeen = new Set<string>();

  constructor(manager: Manager, options: ProvisionerOptions) {
    this.opts = options;
    this.core = manager.api.make(CoreV1Api);
    this.claims = manager.informer(persistentVolumeClaims, {
      indexers: { [byClass]: (c) => (waitsForUs(c) ? [c.spec?.storageClassName ?? ''] : []) },
    });
    this.volumes = manager.informer(persistentVolumes, {
      indexers: { [byServer]: (v) => (v.spec?.nfs?.server ? [normalServer(v.spec.nfs.server)] : []) },
    });
    this.classes = manager.informer(storageClasses);
    this.volumes.on({
      add: (v) => {
        this.forgetMaking(v.metadata?.name);
      },
    });
    this.controller = manager.controller({
      name: provisionerControllerName,
      reconcile: (key) => this.sync(key),
      reads: options.reads,
      watches: [
        watchInformer(this.claims, ({ obj: c }) =>
          waitsForUs(c) || this.mayExpand(c) ? [claimKey(c.metadata?.namespace, c.metadata?.name)] : [],
        ),
        watchInformer(
          this.classes,
          ({ obj: sc }) =>
            this.claims.store
              .byIndex(byClass, sc.metadata?.name ?? '')
              .map((c) => claimKey(c.metadata?.namespace, c.metadata?.name)),
          { types: ['add', 'update'] },
        ),
        watchInformer(
          this.volumes,
          ({ obj: v }) => (madeByProvisioner(v) ? [volumeKey(v.metadata?.name)] : []),
          {
            types: ['add', 'update', 'resync'],
          },
        ),
      ],
    });
  }

  private forgetMaking(volumeName: string | undefined): void {
    for (const [path, name] of this.making) if (name === volumeName) this.making.delete(path);
    if (volumeName) this.madeNotSeen.delete(volumeName);
  }

  private sync(key: string): Promise<ReconcileResult> {
    if (key.startsWith('claim/')) return this.syncClaim(key.slice('claim/'.length));
    return this.syncVolume(key.slice('volume/'.length));
  }

  // ---- claims -------------------------------------------------------------

  /** A Bound claim on a volume of ours: it may ask for more. */
  private mayExpand(c: V1PersistentVolumeClaim): boolean {
    const volume = c.spec?.volumeName ? this.volumes.store.get(c.spec.volumeName) : undefined;
    return c.status?.phase === 'Bound' && volume !== undefined && madeByProvisioner(volume);
  }

  private async syncClaim(name: string): Promise<ReconcileResult> {
    const claim = this.claims.store.get(name);
    if (!claim) return undefined;
    if (claim.status?.phase === 'Bound') return this.expand(claim);
    const uid = claim.metadata?.uid ?? '';
    const plan = planProvision({
      claim,
      storageClass: this.classes.store.get(claim.spec?.storageClassName ?? ''),
      volumeExists:
        this.volumes.store.get(volumeNameFor(uid)) !== undefined || this.madeNotSeen.has(volumeNameFor(uid)),
      pool: this.opts.pool,
    });
    switch (plan.action) {
      case 'none':
        return undefined;
      case 'fail':
        this.claimEvent(claim, plan.event);
        return undefined; // a change of the claim or its class brings it back
      case 'provision':
        return this.provision(claim, plan);
    }
  }

  private async provision(
    claim: V1PersistentVolumeClaim,
    plan: Extract<ProvisionPlan, { action: 'provision' }>,
  ): Promise<ReconcileResult> {
    const { target, volumeName } = plan;
    const fullPath = `${target.path}/${plan.components.join('/')}`;
    const taken = this.overlapping(target.server, target.path, fullPath, volumeName);
    if (taken) {
      this.claimEvent(claim, {
        type: 'Warning',
        reason: 'ProvisioningFailed',
        note: `the directory ${fullPath} on ${target.server} overlaps ${taken}; change the StorageClass's pathPattern so each claim gets a directory of its own`,
      });
      return undefined;
    }
    const slot = `${normalServer(target.server)}|${fullPath}`;
    this.making.set(slot, volumeName);
    const started = performance.now();
    const failed: (note: string) => never = (note) => {
      this.making.delete(slot);
      this.measure('provision', false, started);
      this.failProvisioning(claim, note);
    };
    this.claimEvent(claim, {
      type: 'Normal',
      reason: 'Provisioning',
      note: `External provisioner is provisioning volume for claim "${namespacedName(claim.metadata?.namespace, claim.metadata?.name)}"`,
    });
    let made;
    try {
      made = await makeDirectory(target, plan.components, plan.config, this.opts.server);
    } catch (err) {
      failed(`could not reach NFS server ${target.server}: ${(err as Error).message}`);
    }
    if (!made.ok) failed(made.problem);
    const body = provisionedVolume(plan, claim, made.handle, made.version);
    try {
      await this.core.createPersistentVolume({ body });
    } catch (err) {
      // The directory stays, empty: the next attempt takes it over.
      if (apiFailure(err) !== 'alreadyExists')
        failed(`could not create volume ${volumeName}: ${apiMessage(err)}`);
    }
    this.measure('provision', true, started);
    if (this.volumes.store.get(volumeName)) this.forgetMaking(volumeName);
    else this.madeNotSeen.add(volumeName);
    this.claimEvent(claim, {
      type: 'Normal',
      reason: 'ProvisioningSucceeded',
      note: `Successfully provisioned volume ${volumeName}${made.adopted ? ` (directory ${fullPath} taken over: ${made.adopted})` : ''}`,
    });
    return undefined;
  }

  /** Grows a volume of ours to what its claim asks for, then the claim's capacity. */
  private async expand(claim: V1PersistentVolumeClaim): Promise<ReconcileResult> {
    const volume = this.volumes.store.get(claim.spec?.volumeName ?? '');
    const plan = planExpansion(claim, volume, this.classes.store.get(claim.spec?.storageClassName ?? ''));
    if (plan.action === 'none') return undefined;
    const started = performance.now();
    if (plan.action === 'expand') {
      const name = plan.volume.metadata?.name ?? '';
      this.claimEvent(claim, {
        type: 'Normal',
        reason: 'Resizing',
        note: `External resizer is resizing volume ${name}`,
      });
      // A conflict (the volume changed since the cache saw it) is retried from fresh state.
      await this.core.replacePersistentVolume({ name, body: plan.volume });
    }
    const body: V1PersistentVolumeClaim = {
      ...claim,
      status: { ...claim.status, capacity: { ...claim.status?.capacity, storage: plan.size } },
    };
    await this.core.replaceNamespacedPersistentVolumeClaimStatus({
      name: claim.metadata?.name ?? '',
      namespace: claim.metadata?.namespace ?? '',
      body,
    });
    this.measure('expand', true, started);
    this.claimEvent(claim, {
      type: 'Normal',
      reason: 'VolumeResizeSuccessful',
      note: `volume ${claim.spec?.volumeName ?? ''} now records ${plan.size}; NFS does not enforce the size`,
    });
    return undefined;
  }

  /** A volume (or a directory being made) whose files overlap fullPath, other than ones holding the whole export. */
  private overlapping(
    server: string,
    exportPath: string,
    fullPath: string,
    self: string,
  ): string | undefined {
    for (const v of this.volumes.store.byIndex(byServer, normalServer(server))) {
      const path = v.spec?.nfs?.path ?? '';
      const name = v.metadata?.name ?? '';
      // The pool's own volume (or a wider export) holds every directory below it, by design.
      if (name === self || (pathsOverlap(path, exportPath) && !pathIsBelow(path, exportPath))) continue;
      if (pathsOverlap(path, fullPath)) return `volume ${name}'s ${path}`;
    }
    for (const [slot, name] of this.making) {
      const [s, path] = slot.split('|', 2);
      if (name !== self && s === normalServer(server) && pathsOverlap(path ?? '', fullPath)) {
        return `the directory ${path ?? ''} being made for volume ${name}`;
      }
    }
    return undefined;
  }

  private measure(operation: string, ok: boolean, started: number): void {
    this.opts.metrics?.provisioningOperation(operation, ok, (performance.now() - started) / 1000);
  }

  private failProvisioning(claim: V1PersistentVolumeClaim, note: string): never {
    this.claimEvent(claim, { type: 'Warning', reason: 'ProvisioningFailed', note });
    throw new AttemptFailed(note);
  }

  private claimEvent(claim: V1PersistentVolumeClaim, e: PlannedEvent): void {
    this.opts.events.record(
      objectRef('PersistentVolumeClaim', 'v1', claim),
      e.type,
      e.reason,
      'Provision',
      e.note,
    );
  }

  // ---- volumes ------------------------------------------------------------

  private async syncVolume(name: string): Promise<ReconcileResult> {
    const volume = this.volumes.store.get(name);
    if (!volume) return undefined;
    if (planVolume(volume, false).action === 'none') return undefined;
    // Only a live read may say the claim is gone.
    const claim = await readReferencedClaim(this.core, volume.spec?.claimRef);
    const plan = planVolume(volume, claimHoldsVolume(volume, claim));
    switch (plan.action) {
      case 'none':
      case 'wait':
        return undefined;
      case 'refuse':
        this.volumeEvent(volume, plan.event);
        return undefined;
      case 'removeFinalizer':
        await this.releaseFinalizer(name, volume.metadata?.uid);
        return undefined;
      case 'reclaim':
        break;
    }
    const { directory, deleting } = plan;
    const where = `${directory.server}:${directory.exportPath}/${directory.components.join('/')}`;
    const started = performance.now();
    const failed: (note: string) => never = (note) => {
      this.measure(directory.onDelete, false, started);
      this.failDelete(volume, note);
    };
    let outcome;
    try {
      outcome = await reclaimDirectory(
        directory,
        this.opts.server,
        { maxOps: deleteBudget.maxOps, deadline: Date.now() + deleteBudget.ms },
        new Date(),
      );
    } catch (err) {
      failed(`could not reach NFS server ${directory.server}: ${(err as Error).message}`);
    }
    switch (outcome.state) {
      case 'refused':
        this.measure(directory.onDelete, false, started);
        this.volumeEvent(volume, {
          type: 'Warning',
          reason: 'VolumeFailedDelete',
          note:
            `${outcome.problem}; nothing was deleted. Delete the directory yourself if it should go, then the volume` +
            (deleting ? ` and its finalizer ${directoryFinalizer}` : ''),
        });
        return undefined;
      case 'failed':
        return failed(outcome.problem);
      case 'partial':
        this.volumeEvent(volume, {
          type: 'Normal',
          reason: 'DeletingDirectory',
          note: `removed ${String(outcome.removed)} entries of ${where}; going on`,
        });
        return { requeueAfterMs: 1 };
      case 'done':
        break;
    }
    const uid = volume.metadata?.uid;
    if (!deleting) {
      await deleteUnlessGone(this.core.deletePersistentVolume({ name, body: { preconditions: { uid } } }));
    }
    this.measure(directory.onDelete, true, started);
    const object = deleting ? 'the volume, deleted by hand,' : 'the volume';
    // Said before the finalizer goes: a retry after a failed removal finds the directory gone and says nothing.
    if (!(deleting && outcome.gone)) {
      this.volumeEvent(volume, {
        type: 'Normal',
        reason: 'VolumeDeleted',
        note:
          directory.onDelete === 'retain'
            ? `let ${object} go; its directory ${where} was kept (onDelete: retain)`
            : outcome.archivedAs
              ? `archived ${where} as ${outcome.archivedAs} and let ${object} go`
              : outcome.gone
                ? `the directory ${where} was already gone; let ${object} go`
                : `deleted ${where} (${String(outcome.removed)} entries) and let ${object} go`,
      });
    }
    // Its directory is dealt with: the volume may go (a failure here is retried by the next sync).
    await this.releaseFinalizer(name, uid);
    return undefined;
  }

  /** Removes this provisioner's finalizer from the volume as the API has it now (this very one, by uid). */
  private async releaseFinalizer(name: string, uid: string | undefined): Promise<void> {
    const current = await unlessNotFound(this.core.readPersistentVolume({ name }));
    const finalizers = current?.metadata?.finalizers ?? [];
    if (!current || current.metadata?.uid !== uid || !finalizers.includes(directoryFinalizer)) return;
    // The resourceVersion read makes a concurrent change a conflict, retried from fresh state.
    await this.core.replacePersistentVolume({
      name,
      body: {
        ...current,
        metadata: { ...current.metadata, finalizers: finalizers.filter((f) => f !== directoryFinalizer) },
      },
    });
  }

  private failDelete(volume: V1PersistentVolume, note: string): never {
    this.volumeEvent(volume, { type: 'Warning', reason: 'VolumeFailedDelete', note });
    throw new AttemptFailed(note);
  }

  private volumeEvent(volume: V1PersistentVolume, e: PlannedEvent): void {
    this.opts.events.record(objectRef('PersistentVolume', 'v1', volume), e.type, e.reason, 'Delete', e.note);
  }
}

/** inner lies strictly below outer. */
function pathIsBelow(inner: string, outer: string): boolean {
  return inner.startsWith(`${outer}/`);
}
