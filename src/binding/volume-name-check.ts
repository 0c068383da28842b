// Checks for a claim that names its volume (spec.volumeName) when that volume
// is not yet bound: the fit table's rules (fit.ts) in upstream's order, with
// upstream's words, that end up in the claim's VolumeMismatch event.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { claimFacts, firstMisfit, namedVolumeRules, volumeFacts } from './fit.ts';

/** The first named-volume rule the volume fails, and upstream's words for it. */
export function namedVolumeMisfit(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim,
): { rule: string; reason: string } | undefined {
  const c = claimFacts(claim);
  const v = volumeFacts(volume);
  // No context: a named volume is neither left to the scheduler nor held back.
  const rule = firstMisfit(c, v, {}, namedVolumeRules);
  return rule && { rule: rule.name, reason: rule.mismatch(c, v) };
}

/** Why the volume cannot serve the claim, or undefined if it can. */
export function volumeMismatchReason(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim,
): string | undefined {
  return namedVolumeMisfit(volume, claim)?.reason;
}
