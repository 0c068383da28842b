// Checks for a claim that names its volume (spec.volumeName) when that volume
// is not yet bound: the reasons, in upstream's order and words, that end up in
// the claim's VolumeMismatch event.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import {
  capacityField,
  capacityOf,
  describeSize,
  isBeingDeleted,
  requestOf,
  storageClassOf,
  volumeAttributesClassOf,
  volumeModeOf,
} from './objects.ts';

/** Why the volume cannot serve the claim, or undefined if it can. */
export function volumeMismatchReason(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim,
): string | undefined {
  if (isBeingDeleted(volume)) {
    return `the volume is marked for deletion "${volume.metadata?.name ?? ''}"`;
  }
  const capacity = capacityOf(volume);
  if (capacity.nano === undefined) return `the volume's ${describeSize(capacityField, capacity)}`;
  // An unusable request is reported by planClaim before this runs.
  const request = requestOf(claim).nano;
  if (request === undefined || capacity.nano < request) return 'requested PV is too small';
  if (storageClassOf(volume) !== storageClassOf(claim)) {
    return 'storageClassName does not match';
  }
  if (volumeAttributesClassOf(volume) !== volumeAttributesClassOf(claim)) {
    return 'volumeAttributesClassName does not match';
  }
  if (volumeModeOf(volume) !== volumeModeOf(claim)) {
    return 'incompatible volumeMode';
  }
  const offered = new Set(volume.spec?.accessModes ?? []);
  if (!(claim.spec?.accessModes ?? []).every((m) => offered.has(m))) {
    return 'incompatible accessMode';
  }
  return undefined;
}
