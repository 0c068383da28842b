// Does this volume fit this claim: one ordered table of rules, read by the
// matcher (volume-index.ts), the explanation of a Pending claim (explain.ts)
// and the check of a claim that names its volume (volume-name-check.ts), so
// that what a user is told cannot drift from what the binder decides.
//
// The order is the explanation's: the coarse rules first, the near misses
// last, and a rule's position ranks its misses (a volume that fails a later
// rule came nearer to fitting). Upstream (findMatchingVolume) checks a volume
// pre-bound to the claim for size, volume mode, attributes class, access modes
// and deletion only; the rules marked `free` concern volumes nobody claims.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { beyondInt64Nano, formatBytes } from '../kube/quantity.ts';
import { namespacedName } from '../kube/refs.ts';
import {
  type Size,
  capacityField,
  capacityOf,
  describeSize,
  isBeingDeleted,
  isVolumeBoundToClaim,
  requestOf,
  storageClassOf,
  volumeAttributesClassOf,
  volumeModeOf,
} from './objects.ts';
import { type Labels, SelectorError, compileSelector } from './selector.ts';

/** What a match depends on besides the two objects. */
export interface FitContext {
  /** The claim's class binds on first consumer: free volumes are the scheduler's to pick. */
  delayBinding?: boolean;
  /**
   * Free volumes not to hand out now, with the reason (an NFS server that does
   * not answer, say). Volumes pre-bound to the claim are never held back.
   */
  blocked?: (volume: V1PersistentVolume) => string | undefined;
}

/** The claim as the rules read it, worked out once per claim. */
export interface ClaimFacts {
  claim: V1PersistentVolumeClaim;
  modes: readonly string[];
  /** undefined: unusable; planClaim says so before anything is matched. */
  request: bigint | undefined;
  storageClass: string;
  volumeMode: string;
  attributesClass: string;
  selector: { selects: (labels: Labels) => boolean } | { error: SelectorError };
}

/** The volume as the rules read it (the index keeps one per volume). */
export interface VolumeFacts {
  volume: V1PersistentVolume;
  name: string;
  size: Size;
  modes: ReadonlySet<string>;
  storageClass: string;
  volumeMode: string;
  attributesClass: string;
}

export function claimFacts(claim: V1PersistentVolumeClaim): ClaimFacts {
  let selector: ClaimFacts['selector'];
  try {
    selector = { selects: compileSelector(claim.spec?.selector) };
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    selector = { error: err };
  }
  return {
    claim,
    modes: claim.spec?.accessModes ?? [],
    request: requestOf(claim).nano,
    storageClass: storageClassOf(claim),
    volumeMode: volumeModeOf(claim),
    attributesClass: volumeAttributesClassOf(claim),
    selector,
  };
}

export function volumeFacts(volume: V1PersistentVolume): VolumeFacts {
  return {
    volume,
    name: volume.metadata?.name ?? '',
    size: capacityOf(volume),
    modes: new Set(volume.spec?.accessModes ?? []),
    storageClass: storageClassOf(volume),
    volumeMode: volumeModeOf(volume),
    attributesClass: volumeAttributesClassOf(volume),
  };
}

export interface FitRule {
  name: string;
  /** every: all volumes; free: volumes without a claimRef (pre-bound ones skip the rule). */
  scope: 'every' | 'free';
  fits(c: ClaimFacts, v: VolumeFacts, ctx: FitContext): boolean;
  /** Why it does not fit, in the explanation's words. */
  says(c: ClaimFacts, v: VolumeFacts, ctx: FitContext): string;
  /** Ranks misses of this rule among themselves: smaller is nearer. */
  gap?(c: ClaimFacts, v: VolumeFacts): bigint;
}

/** A rule the named-volume check applies, with upstream's VolumeMismatch words. */
export interface NamedRule extends FitRule {
  mismatch(c: ClaimFacts, v: VolumeFacts): string;
}

const claimRef: FitRule = {
  name: 'claimRef',
  scope: 'every',
  fits: (c, v) => !v.volume.spec?.claimRef || isVolumeBoundToClaim(v.volume, c.claim),
  says: (_c, v) => {
    const ref = v.volume.spec?.claimRef;
    return `bound to ${namespacedName(ref?.namespace, ref?.name)}`;
  },
};

const deleting: NamedRule = {
  name: 'deleting',
  scope: 'every',
  fits: (_c, v) => !isBeingDeleted(v.volume),
  says: () => 'being deleted',
  mismatch: (_c, v) => `the volume is marked for deletion "${v.name}"`,
};

const storageClass: NamedRule = {
  name: 'storageClass',
  scope: 'free',
  fits: (c, v) => v.storageClass === c.storageClass,
  says: (_c, v) => (v.storageClass === '' ? 'no storage class' : `storage class "${v.storageClass}"`),
  mismatch: () => 'storageClassName does not match',
};

const volumeMode: NamedRule = {
  name: 'volumeMode',
  scope: 'every',
  fits: (c, v) => v.volumeMode === c.volumeMode,
  says: (_c, v) => `volume mode ${v.volumeMode}`,
  mismatch: () => 'incompatible volumeMode',
};

const attributesClass: NamedRule = {
  name: 'attributesClass',
  scope: 'every',
  fits: (c, v) => v.attributesClass === c.attributesClass,
  says: (_c, v) =>
    v.attributesClass === ''
      ? 'no volume attributes class'
      : `volume attributes class "${v.attributesClass}"`,
  mismatch: () => 'volumeAttributesClassName does not match',
};

const lacking = (c: ClaimFacts, v: VolumeFacts) => c.modes.filter((m) => !v.modes.has(m));

const accessModes: NamedRule = {
  name: 'accessModes',
  scope: 'every',
  fits: (c, v) => c.modes.every((m) => v.modes.has(m)),
  says: (c, v) => `lacks ${lacking(c, v).join(', ')}`,
  mismatch: () => 'incompatible accessMode',
};

/** The capacity is one the binder can compare (see capacityOf): never matched otherwise. */
const capacity: NamedRule = {
  name: 'capacity',
  scope: 'every',
  fits: (_c, v) => v.size.nano !== undefined,
  says: (_c, v) => describeSize('capacity', v.size),
  mismatch: (_c, v) => `the volume's ${describeSize(capacityField, v.size)}`,
};

// An unusable request is compared as the first size beyond any volume.
const request = (c: ClaimFacts) => c.request ?? beyondInt64Nano;
const capacityNano = (v: VolumeFacts) => v.size.nano ?? 0n;

const size: NamedRule = {
  name: 'size',
  scope: 'every',
  fits: (c, v) => c.request !== undefined && capacityNano(v) >= c.request,
  says: (c, v) => `too small (${formatBytes(capacityNano(v))} < ${formatBytes(request(c))})`,
  gap: (c, v) => request(c) - capacityNano(v),
  mismatch: () => 'requested PV is too small',
};

const selector: FitRule = {
  name: 'selector',
  scope: 'free',
  fits: (c, v) => 'selects' in c.selector && c.selector.selects(v.volume.metadata?.labels),
  says: (c) => ('error' in c.selector ? 'the claim selector is invalid' : 'labels do not match the selector'),
};

// Late in the table: a new volume is Pending only until the binder marks it
// Available, so for one that fits in every other way this is the whole story.
const phase: FitRule = {
  name: 'phase',
  scope: 'free',
  fits: (_c, v) => v.volume.status?.phase === 'Available',
  says: (_c, v) => `phase ${v.volume.status?.phase ?? 'unset'}`,
};

const delayBinding: FitRule = {
  name: 'delayBinding',
  scope: 'free',
  fits: (_c, _v, ctx) => !ctx.delayBinding,
  says: () => 'left to the scheduler (WaitForFirstConsumer)',
};

// It would fit: held back, the nearest miss of all.
const heldBack: FitRule = {
  name: 'heldBack',
  scope: 'free',
  fits: (_c, v, ctx) => !ctx.blocked?.(v.volume),
  says: (_c, v, ctx) => ctx.blocked?.(v.volume) ?? '',
};

/** The table, in the explanation's order. */
export const fitRules: readonly FitRule[] = [
  claimRef,
  deleting,
  storageClass,
  volumeMode,
  attributesClass,
  accessModes,
  capacity,
  size,
  selector,
  phase,
  delayBinding,
  heldBack,
];

/**
 * The named-volume check's rules in upstream's order (checkVolumeSatisfyClaim):
 * size before class, unlike the explanation. A claimRef is dealt with before
 * it runs; phase and selector upstream does not check.
 */
export const namedVolumeRules: readonly NamedRule[] = [
  deleting,
  capacity,
  size,
  storageClass,
  attributesClass,
  volumeMode,
  accessModes,
];

/** Whether the rule concerns this volume: pre-bound volumes skip the free-only rules. */
export const concerns = (rule: FitRule, v: VolumeFacts): boolean =>
  rule.scope === 'every' || !v.volume.spec?.claimRef;

/** The first rule in `rules` the volume fails, or undefined if it fits them all. */
export function firstMisfit<R extends FitRule>(
  c: ClaimFacts,
  v: VolumeFacts,
  ctx: FitContext,
  rules: readonly R[],
): R | undefined {
  for (const rule of rules) if (concerns(rule, v) && !rule.fits(c, v, ctx)) return rule;
  return undefined;
}

export function fits(c: ClaimFacts, v: VolumeFacts, ctx: FitContext): boolean {
  return firstMisfit(c, v, ctx, fitRules) === undefined;
}
