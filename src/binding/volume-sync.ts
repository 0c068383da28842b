// What a volume needs next (pv-controller.md §2, "Volume sync"): a pure
// decision over the volume and the claim its claimRef names. Reclaim of a
// Released volume is the reclaim controller's business, not this one's.
import { createHash } from 'node:crypto';

import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { annProvisionedBy, hasAnnotation } from '../kube/annotations.ts';
import { effectiveReclaimPolicy } from '../kube/reclaim-policy.ts';
import type { PlannedEvent } from '../kube/planned-event.ts';
import { namespacedName } from '../kube/refs.ts';
import { capacityField, capacityOf, describeSize, volumeModeOf } from './objects.ts';

export type VolumePlan =
  | { action: 'phase'; phase: 'Available' | 'Bound' | 'Released'; syncClaim?: string }
  /** The claim side must finish (or repair) the bind; events when it cannot. */
  | { action: 'syncClaim'; claim: string; volumeEvent?: PlannedEvent; claimEvent?: PlannedEvent }
  | { action: 'unbind' }
  | { action: 'none' };

/**
 * claim is the claim named by claimRef as last seen, or undefined when it
 * does not exist. Callers confirm a missing claim with a live read before
 * acting on it, since a Released volume is one step from reclaim.
 */
export function planVolume(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim | undefined,
): VolumePlan {
  const ref = volume.spec?.claimRef;
  if (!ref) return { action: 'phase', phase: 'Available' };
  if (!ref.uid) {
    // Pre-bound by a user and waiting for its claim.
    return { action: 'phase', phase: 'Available', syncClaim: namespacedName(ref.namespace, ref.name) };
  }
  const sameClaim = claim !== undefined && claim.metadata?.uid === ref.uid ? claim : undefined;
  if (!sameClaim) {
    const phase = volume.status?.phase;
    return phase === 'Released' || phase === 'Failed'
      ? { action: 'none' }
      : { action: 'phase', phase: 'Released' };
  }
  const key = namespacedName(sameClaim.metadata?.namespace, sameClaim.metadata?.name);
  const volumeName = sameClaim.spec?.volumeName;
  if (!volumeName) {
    if (volumeModeOf(volume) !== volumeModeOf(sameClaim)) {
      return {
        action: 'syncClaim',
        claim: key,
        volumeEvent: {
          type: 'Warning',
          reason: 'VolumeMismatch',
          note: `Cannot bind PersistentVolume to requested PersistentVolumeClaim "${sameClaim.metadata?.name ?? ''}" due to incompatible volumeMode.`,
        },
        claimEvent: {
          type: 'Warning',
          reason: 'VolumeMismatch',
          note: `Cannot bind PersistentVolume "${volume.metadata?.name ?? ''}" to requested PersistentVolumeClaim due to incompatible volumeMode.`,
        },
      };
    }
    return { action: 'syncClaim', claim: key };
  }
  if (volumeName === volume.metadata?.name) return { action: 'phase', phase: 'Bound' };
  // The claim is bound to another volume: this one was a loser of a race or a stale binding.
  if (hasAnnotation(volume, annProvisionedBy) && effectiveReclaimPolicy(volume).policy === 'Delete') {
    // A Failed volume stays Failed, so that what went wrong stays visible (upstream keeps it too).
    const phase = volume.status?.phase;
    return phase === 'Released' || phase === 'Failed'
      ? { action: 'none' }
      : { action: 'phase', phase: 'Released' };
  }
  return { action: 'unbind' };
}

/**
 * The Warning for a volume the binder will not offer because of its capacity
 * (see capacityOf), or undefined when its capacity is usable or it is bound
 * already. `key` names what was said (volume uid and a digest of the text,
 * which may be megabytes): the controller says it once, not on every
 * resync, and again only if the text changes.
 */
export function capacityWarning(
  volume: V1PersistentVolume,
): { key: string; event: PlannedEvent } | undefined {
  if (volume.spec?.claimRef?.uid) return undefined;
  const size = capacityOf(volume);
  if (size.problem === undefined) return undefined;
  return {
    key: `${volume.metadata?.uid ?? ''} ${size.text === undefined ? 'unset' : createHash('sha256').update(size.text).digest('hex')}`,
    event: {
      type: 'Warning',
      reason: 'InvalidCapacity',
      note: `${describeSize(capacityField, size)}; the volume is not offered to any claim`,
    },
  };
}
