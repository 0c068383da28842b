// How the binder reads volumes and claims: the defaults and precedences of
// the PersistentVolume API that matching depends on.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import {
  QuantityError,
  beyondInt64Nano,
  int64BytesText,
  parseQuantity,
  shortText,
} from '../kube/quantity.ts';

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

export const capacityField = 'spec.capacity.storage';
export const requestField = 'spec.resources.requests.storage';

/**
 * A size the binder can compare, or why it cannot: problem is a phrase to
 * follow the field (see describeSize), text the user's own spelling.
 */
export type Size =
  { nano: bigint; problem?: undefined; text?: string } | { nano?: undefined; problem: string; text?: string };

function parseSize(text: string): bigint | undefined {
  try {
    return parseQuantity(text);
  } catch (err) {
    if (err instanceof QuantityError) return undefined;
    throw err;
  }
}

/** A volume's capacity: it must be set, a quantity, positive and at most an int64 of bytes. */
export function capacityOf(volume: V1PersistentVolume): Size {
  return sizeOf(volume.spec?.capacity?.storage);
}

/** A size by the rules of a volume's capacity (see capacityOf). */
export function sizeOf(text: string | undefined): Size {
  if (text === undefined) return { problem: 'is not set' };
  const nano = parseSize(text);
  if (nano === undefined) return { problem: 'is not a quantity', text };
  if (nano >= beyondInt64Nano) return { problem: `is beyond ${int64BytesText}`, text };
  if (nano <= 0n) return { problem: 'is not positive', text };
  return { nano, text };
}

/** A claim's request: a missing one counts as zero (the apiserver requires it anyway). */
export function requestOf(claim: V1PersistentVolumeClaim): Size {
  const text = claim.spec?.resources?.requests?.storage;
  if (text === undefined) return { nano: 0n };
  const nano = parseSize(text);
  if (nano === undefined) return { problem: 'is not a quantity', text };
  if (nano >= beyondInt64Nano) {
    return { problem: `is more than any volume can hold (the limit is ${int64BytesText})`, text };
  }
  if (nano < 0n) return { problem: 'is negative', text };
  return { nano, text };
}

/** 'spec.capacity.storage "1e10000000" is beyond …', the user's text shortened. */
export function describeSize(field: string, size: Size): string {
  const shown = size.text === undefined ? '' : ` ${JSON.stringify(shortText(size.text))}`;
  return `${field}${shown} ${size.problem ?? 'is valid'}`;
}

/** Access modes as a canonical key: sorted, de-duplicated, comma-joined. */
export function accessModesKey(modes: readonly string[] | undefined): string {
  return [...new Set(modes ?? [])].sort().join(',');
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
