// The objects the four bind writes send, and the unbind write: pure functions
// that return the updated copy, or undefined when nothing would change (so no
// write is made). Callers PUT the result with its resourceVersion as the
// precondition.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import {
  annBindCompleted,
  annBoundByController,
  annPreResizeCapacity,
  hasAnnotation,
} from '../kube/annotations.ts';
import { claimReference } from '../kube/refs.ts';
import { isVolumeBoundToClaim, sizeOf } from './objects.ts';

function withAnnotation<T extends { metadata?: { annotations?: Record<string, string> } }>(
  obj: T,
  key: string,
): T {
  return {
    ...obj,
    metadata: { ...obj.metadata, annotations: { ...obj.metadata?.annotations, [key]: 'yes' } },
  };
}

/**
 * Write 1: the volume's claimRef names the claim with its uid; bound-by-controller
 * is added unless the volume was already pre-bound to this claim.
 */
export function volumeBoundToClaim(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim,
): V1PersistentVolume | undefined {
  const preBound = isVolumeBoundToClaim(volume, claim);
  const ref = volume.spec?.claimRef;
  let updated = volume;
  if (
    ref?.name !== claim.metadata?.name ||
    ref?.namespace !== claim.metadata?.namespace ||
    ref?.uid !== claim.metadata?.uid
  ) {
    updated = {
      ...volume,
      spec: {
        ...volume.spec,
        claimRef: claimReference(claim, true),
      },
    };
  }
  if (!preBound && !hasAnnotation(updated, annBoundByController)) {
    updated = withAnnotation(updated, annBoundByController);
  }
  return updated === volume ? undefined : updated;
}

/** Writes 2 and the phase changes of volume sync: status.phase (and message), stamping the transition time. */
export function volumeWithPhase(
  volume: V1PersistentVolume,
  phase: string,
  message: string | undefined,
  now: Date,
): V1PersistentVolume | undefined {
  if (volume.status?.phase === phase && (volume.status.message ?? '') === (message ?? '')) return undefined;
  const changed = volume.status?.phase !== phase;
  return {
    ...volume,
    status: {
      ...volume.status,
      phase,
      message: message || undefined,
      lastPhaseTransitionTime: changed ? now : volume.status?.lastPhaseTransitionTime,
    },
  };
}

/** Write 3: the claim's volumeName (bound-by-controller when this controller chose it) and bind-completed. */
export function claimBoundToVolume(
  claim: V1PersistentVolumeClaim,
  volume: V1PersistentVolume,
): V1PersistentVolumeClaim | undefined {
  let updated = claim;
  const name = volume.metadata?.name;
  if (claim.spec?.volumeName !== name) {
    updated = { ...updated, spec: { ...updated.spec, volumeName: name } };
    if (!hasAnnotation(updated, annBoundByController))
      updated = withAnnotation(updated, annBoundByController);
  }
  if (!hasAnnotation(updated, annBindCompleted)) updated = withAnnotation(updated, annBindCompleted);
  return updated === claim ? undefined : updated;
}

function sameModes(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((m, i) => m === y[i]);
}

/** Two sizes are equal as quantities ("1Gi" and "1073741824"), or, failing that, as text. */
function sameSize(a: string | undefined, b: string | undefined): boolean {
  const x = sizeOf(a).nano;
  const y = sizeOf(b).nano;
  return x !== undefined && y !== undefined ? x === y : a === b;
}

/**
 * The capacity a claim shows on becoming Bound: the volume's, or the
 * pre-resize capacity an expansion left on the volume (its filesystem is not
 * grown yet), as upstream takes it. A pre-resize value that is no usable size
 * (a quantity, positive, at most an int64 of bytes, 64 characters at most)
 * counts as absent: upstream falls back so for text it cannot parse, and
 * writing one it could parse but the apiserver refuses would fail forever.
 */
function capacityOnBinding(
  claim: V1PersistentVolumeClaim,
  volume: V1PersistentVolume,
): Record<string, string> | undefined | false {
  const capacity = volume.spec?.capacity;
  const pre = volume.metadata?.annotations?.[annPreResizeCapacity];
  if (pre !== undefined) {
    const storage = pre.length <= 64 && sizeOf(pre).nano !== undefined ? pre : capacity?.storage;
    return { ...claim.status?.capacity, ...(storage === undefined ? {} : { storage }) };
  }
  const had = claim.status?.capacity?.storage;
  if (had !== undefined && sameSize(had, capacity?.storage)) return false;
  return capacity ? { ...capacity } : undefined;
}

/**
 * Write 4, and the Pending and Lost writes: status.phase; for Bound the
 * volume's access modes, and on becoming Bound only, its capacity (never
 * rewritten later: a claim's capacity may rightly differ from its volume's
 * while a resize is under way) and, coming from Pending, its attributes
 * class; without a volume (Pending, Lost) none of the three fields a volume
 * gives a claim, as upstream clears them.
 */
export function claimWithPhase(
  claim: V1PersistentVolumeClaim,
  phase: string,
  volume: V1PersistentVolume | undefined,
): V1PersistentVolumeClaim | undefined {
  const was = claim.status?.phase;
  let changed = was !== phase;
  const status = { ...claim.status, phase };
  if (volume) {
    if (!sameModes(claim.status?.accessModes, volume.spec?.accessModes)) {
      status.accessModes = volume.spec?.accessModes;
      changed = true;
    }
    if (was !== phase) {
      const capacity = capacityOnBinding(claim, volume);
      if (capacity !== false) {
        status.capacity = capacity;
        changed = true;
      }
    }
    // Set only while binding: afterwards the field is the resizer's (upstream avoids racing it).
    const vac = volume.spec?.volumeAttributesClassName;
    if (was === 'Pending' && phase === 'Bound' && claim.status?.currentVolumeAttributesClassName !== vac) {
      status.currentVolumeAttributesClassName = vac;
      changed = true;
    }
  } else {
    for (const field of ['accessModes', 'capacity', 'currentVolumeAttributesClassName'] as const) {
      if (status[field] !== undefined) {
        status[field] = undefined;
        changed = true;
      }
    }
  }
  return changed ? { ...claim, status } : undefined;
}

/**
 * Unbind: a volume this controller bound loses its claimRef and the
 * annotation; one a user pre-bound keeps its claimRef without the uid, so it
 * waits for a claim of that name again.
 */
export function volumeUnbound(volume: V1PersistentVolume): V1PersistentVolume {
  if (hasAnnotation(volume, annBoundByController)) {
    const { [annBoundByController]: _removed, ...annotations } = volume.metadata?.annotations ?? {};
    return {
      ...volume,
      metadata: {
        ...volume.metadata,
        annotations: Object.keys(annotations).length ? annotations : undefined,
      },
      spec: { ...volume.spec, claimRef: undefined },
    };
  }
  const ref = volume.spec?.claimRef;
  return { ...volume, spec: { ...volume.spec, claimRef: ref ? { ...ref, uid: undefined } : undefined } };
}
