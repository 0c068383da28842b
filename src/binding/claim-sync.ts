// What a claim needs next (pv-controller.md §2, "Claim sync"): a pure
// decision over the claim and the binder's view of volumes and classes. The
// controller carries the plan out.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { annBindCompleted, annSelectedNode, hasAnnotation } from '../kube/annotations.ts';
import { delayBindingEvent } from './consumers.ts';
import { explainNoMatch } from './explain.ts';
import {
  claimHasNilClass,
  describeSize,
  isVolumeBoundToClaim,
  requestField,
  requestOf,
  storageClassOf,
} from './objects.ts';
import { SelectorError } from './selector.ts';
import {
  type ClassLookup,
  defaultClassName,
  provisioningOf,
  waitsForFirstConsumer,
} from './storage-classes.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import type { VolumeIndex } from './volume-index.ts';
import { volumeMismatchReason } from './volume-name-check.ts';

export type ClaimPlan =
  /** Run the four bind writes; `chosen` when the volume comes from the free pool (not pre-bound). */
  | { action: 'bind'; volume: V1PersistentVolume; chosen: boolean }
  /**
   * Stay Pending. awaitsConsumer: a WaitForFirstConsumer claim; its event is
   * WaitForPodScheduled instead when unscheduled pods use it (delayBindingEvent).
   */
  | { action: 'pending'; event?: PlannedEvent; provisioner?: string; awaitsConsumer?: boolean }
  | { action: 'assignDefaultClass'; storageClass: string }
  | { action: 'lost'; event: PlannedEvent; volumeName?: string };

export interface ClaimWorld {
  volumes: VolumeIndex;
  classes: ClassLookup;
  /** Free volumes held back from matching, with the reason (see MatchOptions.blocked). */
  blocked?: (volume: V1PersistentVolume) => string | undefined;
  /**
   * Volumes that no claim may be bound to now, pre-bound ones included, with
   * the reason: a scrub may still be deleting their data.
   */
  busy?: (volume: V1PersistentVolume) => string | undefined;
}

const lost = (reason: string, note: string, volumeName?: string): ClaimPlan => ({
  action: 'lost',
  event: { type: 'Warning', reason, note },
  volumeName,
});

export function planClaim(claim: V1PersistentVolumeClaim, world: ClaimWorld): ClaimPlan {
  return hasAnnotation(claim, annBindCompleted)
    ? planBoundClaim(claim, world)
    : planUnboundClaim(claim, world);
}

/**
 * Claims not yet Bound for which the binder's own plan is to bind now (a
 * fitting or pre-bound volume, no scrub in the way). A few for a moment is
 * normal; any for minutes means binding has stalled, which is what the
 * PVLifecycleBindingStalled alert watches through a gauge of this count.
 */
export function pendingClaimsWithFit(claims: Iterable<V1PersistentVolumeClaim>, world: ClaimWorld): number {
  let n = 0;
  for (const claim of claims) {
    const phase = claim.status?.phase;
    if (phase === 'Bound' || phase === 'Lost' || claim.metadata?.deletionTimestamp) continue;
    try {
      if (planClaim(claim, world).action === 'bind') n++;
    } catch {
      // A claim the planner cannot read has its own event from the sync; it is not counted.
    }
  }
  return n;
}

function planBoundClaim(claim: V1PersistentVolumeClaim, world: ClaimWorld): ClaimPlan {
  const volumeName = claim.spec?.volumeName;
  if (!volumeName) {
    return lost(
      'ClaimLost',
      'Bound claim has lost reference to PersistentVolume. Data on the volume is lost!',
    );
  }
  const volume = world.volumes.get(volumeName);
  if (!volume) {
    return lost(
      'ClaimLost',
      'Bound claim has lost its PersistentVolume. Data on the volume is lost!',
      volumeName,
    );
  }
  const ref = volume.spec?.claimRef;
  // Binding again a volume whose claimRef was cleared (mid-scrub, say) waits like any other bind.
  const busy = ref ? undefined : world.busy?.(volume);
  if (busy) return waitForScrub(volume, busy);
  if (!ref || ref.uid === claim.metadata?.uid) return { action: 'bind', volume, chosen: false };
  return lost(
    'ClaimMisbound',
    'Two claims are bound to the same volume, this one is bound incorrectly',
    volumeName,
  );
}

function planUnboundClaim(claim: V1PersistentVolumeClaim, world: ClaimWorld): ClaimPlan {
  // Said instead of the explanation walk: no volume can fit, and the text says why.
  const request = requestOf(claim);
  if (request.problem !== undefined) {
    return pending('Warning', 'FailedBinding', describeSize(requestField, request));
  }
  const volumeName = claim.spec?.volumeName;
  if (volumeName) return planNamedVolume(claim, volumeName, world);

  const className = storageClassOf(claim);
  const delayBinding = waitsForFirstConsumer(className, world.classes);
  // The matcher and the explanation read the same context, so they agree (fit.ts).
  const fit = { delayBinding, blocked: world.blocked };
  let volume: V1PersistentVolume | undefined;
  try {
    volume = world.volumes.findBestMatch(claim, fit);
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    return pending('Warning', 'FailedBinding', `invalid label selector: ${err.message}`);
  }
  if (volume) {
    const chosen = !volume.spec?.claimRef;
    const busy = chosen ? undefined : world.busy?.(volume);
    if (busy) return waitForScrub(volume, busy);
    return { action: 'bind', volume, chosen };
  }

  if (claimHasNilClass(claim)) {
    const def = defaultClassName(world.classes.list());
    if (def !== undefined) return { action: 'assignDefaultClass', storageClass: def };
  }
  if (delayBinding && !hasAnnotation(claim, annSelectedNode)) {
    return { action: 'pending', event: delayBindingEvent([]), awaitsConsumer: true };
  }
  const why = () => explainNoMatch(claim, world.volumes.all(), 3, 400, fit);
  if (className !== '') {
    const sc = world.classes.get(className);
    if (!sc) {
      return pending(
        'Warning',
        'ProvisioningFailed',
        `storageclass.storage.k8s.io "${className}" not found; no volume fits`,
        why,
      );
    }
    const provisioning = provisioningOf(sc.provisioner);
    if ('external' in provisioning) {
      const name = provisioning.external;
      return {
        action: 'pending',
        provisioner: name,
        event: {
          type: 'Normal',
          reason: 'ExternalProvisioning',
          note:
            `Waiting for a volume to be created either by the external provisioner '${name}' ` +
            'or manually by the system administrator. If volume creation is delayed, please verify that ' +
            'the provisioner is running and correctly registered.',
        },
      };
    }
    // Upstream's words first, then (our addition) why no existing volume fits.
    return {
      action: 'pending',
      provisioner: provisioning.annotate,
      event: {
        type: 'Warning',
        reason: 'ProvisioningFailed',
        note: `${provisioning.failed}; no volume fits`,
        explain: why,
      },
    };
  }
  return pending(
    'Normal',
    'FailedBinding',
    'no persistent volumes available for this claim and no storage class is set',
    why,
  );
}

function planNamedVolume(claim: V1PersistentVolumeClaim, volumeName: string, world: ClaimWorld): ClaimPlan {
  const volume = world.volumes.get(volumeName);
  if (!volume) return { action: 'pending' };
  const busy = world.busy?.(volume);
  if (busy) return waitForScrub(volume, busy);
  if (!volume.spec?.claimRef) {
    const reason = volumeMismatchReason(volume, claim);
    if (reason)
      return pending(
        'Warning',
        'VolumeMismatch',
        `Cannot bind to requested volume "${volumeName}": ${reason}`,
      );
    return { action: 'bind', volume, chosen: false };
  }
  if (isVolumeBoundToClaim(volume, claim)) return { action: 'bind', volume, chosen: false };
  return pending('Warning', 'FailedBinding', `volume "${volumeName}" already bound to a different claim.`);
}

function waitForScrub(volume: V1PersistentVolume, why: string): ClaimPlan {
  return pending(
    'Normal',
    'WaitForScrub',
    `volume "${volume.metadata?.name ?? ''}" ${why}; it is bound once nothing scrubs it any more`,
  );
}

function pending(
  type: PlannedEvent['type'],
  reason: string,
  note: string,
  explain?: () => string,
): ClaimPlan {
  return { action: 'pending', event: { type, reason, note, explain } };
}
