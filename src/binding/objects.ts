// How the binder reads volumes and claims: the defaults and precedences of
// the PersistentVolume API that matching depends on.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { quantityOrZero } from './quantity.ts';

export const betaStorageClassAnnotation = 'volume.beta.kubernetes.io/storage-class';

type Stored = V1PersistentVolume | V1PersistentVolumeClaim;

/** The beta annotation wins over spec.storageClassName; missing means "". */
export function storageClassOf(obj: Stored): string {
  const annotated = obj.metadata?.annotations?.[betaStorageClassAnnotation];
  if (annotated !== undefined) return annotated;
  return obj.spec?.storageClassName ?? '';
}

/** A claim with neither the annotation nor the field: eligible for the default class. */
export function claimHasNilClass(claim: V1PersistentVolumeClaim): boolean {
  return (
    claim.metadata?.annotations?.[betaStorageClassAnnotation] === undefined &&
    claim.spec?.storageClassName === undefined
  );
}

export function volumeModeOf(obj: Stored): string {
  return obj.spec?.volumeMode ?? 'Filesystem';
}

export function volumeAttributesClassOf(obj: Stored): string {
  return obj.spec?.volumeAttributesClassName ?? '';
}

export function volumeCapacity(volume: V1PersistentVolume): bigint {
  return quantityOrZero(volume.spec?.capacity?.storage);
}

export function claimRequest(claim: V1PersistentVolumeClaim): bigint {
  return quantityOrZero(claim.spec?.resources?.requests?.storage);
}

/** Access modes as a canonical key: sorted, de-duplicated, comma-joined. */
export function accessModesKey(modes: readonly string[] | undefined): string {
  return [...new Set(modes ?? [])].sort().join(',');
}

export function claimKey(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export function isBeingDeleted(obj: Stored): boolean {
  return obj.metadata?.deletionTimestamp !== undefined;
}

/**
 * The volume's claimRef names this claim: same namespace and name, and no uid
 * (a user's pre-binding) or the claim's uid.
 */
export function isVolumeBoundToClaim(volume: V1PersistentVolume, claim: V1PersistentVolumeClaim): boolean {
  const ref = volume.spec?.claimRef;
  if (!ref) return false;
  if (ref.namespace !== claim.metadata?.namespace || ref.name !== claim.metadata?.name) return false;
  return !ref.uid || ref.uid === claim.metadata?.uid;
}
