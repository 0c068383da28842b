// The reclaim policy a volume is to be reclaimed under: its spec's, or, on a
// volume this operator made to run beside the in-tree binder, the one in
// annReclaimPolicy (whose spec then says Retain, so that the in-tree
// controller leaves the volume alone). Every place that acts on a policy
// reads it here.
import type { V1PersistentVolume } from '@kubernetes/client-node';

import { annProvisionedBy, annReclaimPolicy, ourProvisioner } from './annotations.ts';

export const reclaimPolicies = ['Retain', 'Recycle', 'Delete'] as const;

export interface EffectivePolicy {
  /** The spec's text as written (the reclaimer refuses one it does not know), or a valid annotation's. */
  policy: string;
  from: 'spec' | 'annotation';
  /** Why the annotation was not taken as written: said in a Warning event on the volume. */
  problem?: string;
}

/**
 * Whether this operator made the volume (its provisioned-by annotation):
 * what the reclaimer already trusts before it deletes a volume, since only
 * those who may write PersistentVolumes can set it.
 */
export function madeByUs(volume: V1PersistentVolume): boolean {
  return volume.metadata?.annotations?.[annProvisionedBy] === ourProvisioner;
}

/** The spec's policy, absent read as Retain (the API server's default). */
export function specPolicy(volume: V1PersistentVolume): string {
  return volume.spec?.persistentVolumeReclaimPolicy ?? 'Retain';
}

const shown = (value: string): string =>
  `${JSON.stringify(value.slice(0, 64))}${value.length > 64 ? ' (cut short)' : ''}`;

/**
 * The policy to act on. The annotation counts only on a volume whose spec
 * says Retain (on any other the spec is what the in-tree controller acts on)
 * and that this operator made: anywhere else it could turn someone's Retain
 * volume into one that is scrubbed. A value it cannot honour leaves the
 * volume Retain, and says why.
 */
export function effectiveReclaimPolicy(volume: V1PersistentVolume): EffectivePolicy {
  const spec = specPolicy(volume);
  const value = volume.metadata?.annotations?.[annReclaimPolicy];
  if (value === undefined || spec !== 'Retain') return { policy: spec, from: 'spec' };
  if (!madeByUs(volume)) {
    return {
      policy: spec,
      from: 'spec',
      problem:
        `annotation ${annReclaimPolicy}=${shown(value)} ignored: only volumes this operator made ` +
        `(${annProvisionedBy}: ${ourProvisioner}) take their reclaim policy from it; the volume stays Retain`,
    };
  }
  if (!(reclaimPolicies as readonly string[]).includes(value)) {
    return {
      policy: 'Retain',
      from: 'annotation',
      problem:
        `annotation ${annReclaimPolicy}=${shown(value)} is not one of ${reclaimPolicies.join(', ')}; ` +
        'the volume is treated as Retain: nothing scrubs or deletes it',
    };
  }
  return { policy: value, from: 'annotation' };
}
