// The reclaimer's writes to the API: thin I/O that sends the bodies of
// writes.ts, scrub-claim.ts and job.ts, and settles the outcomes the API can
// give (gone already, changed meanwhile, name taken).
import type { V1Job, V1PersistentVolume } from '@kubernetes/client-node';

import { apiFailure, apiMessage, deleteUnlessGone, isConflict, unlessNotFound } from '../kube/api-errors.ts';
import type { Log } from '../runtime/log.ts';
import type { FailPlan } from './decide.ts';
import { type ReclaimApi, readScrubClaim, readVolume, scrubClaimOf } from './facts.ts';
import { needsScrubClaim } from './job.ts';
import { scrubClaimPair } from './scrub-claim.ts';
import { isRecordedJob, jobLeftRelease } from './trust.ts';
import { availableStatus, failedStatus, withFailure, withJobRecord, withoutFailures } from './writes.ts';

// No write-back into the shared volume cache: the binder must see these
// changes arrive on the watch (a volume made Available is what Pending claims
// wait for), and every decision here is made from live reads anyway.
export function replaceVolume(api: ReclaimApi, v: V1PersistentVolume): Promise<V1PersistentVolume> {
  return api.core.replacePersistentVolume({ name: v.metadata?.name ?? '', body: v });
}

export function replaceVolumeStatus(api: ReclaimApi, v: V1PersistentVolume): Promise<V1PersistentVolume> {
  return api.core.replacePersistentVolumeStatus({ name: v.metadata?.name ?? '', body: v });
}

/** Deletes this very version of the volume: a change since the decision (a conflict) is decided again. */
export async function deleteVolumeObject(api: ReclaimApi, volume: V1PersistentVolume): Promise<void> {
  await unlessNotFound(
    api.core.deletePersistentVolume({
      name: volume.metadata?.name ?? '',
      body: {
        preconditions: { uid: volume.metadata?.uid, resourceVersion: volume.metadata?.resourceVersion },
      },
    }),
  );
}

/** Deletes this very Job (by UID), unless it is gone already; waits for nothing. */
function deleteJob(
  api: ReclaimApi,
  job: V1Job,
  propagationPolicy: 'Foreground' | 'Background',
): Promise<void> {
  return deleteUnlessGone(
    api.batch.deleteNamespacedJob({
      name: job.metadata?.name ?? '',
      namespace: api.namespace,
      // In the body: the API server ignores query options when a body is sent,
      // and batch/v1's default would orphan the pods, leaving them at work.
      body: { propagationPolicy, preconditions: { uid: job.metadata?.uid } },
    }),
  );
}

/** Deletes this very Job (by UID) at once; its pods go before it does (foreground). */
export function deleteJobNow(api: ReclaimApi, job: V1Job): Promise<void> {
  return deleteJob(api, job, 'Foreground');
}

/** Deletes a finished Job of ours (by UID); its pods go in the background. A failure is only logged. */
export async function deleteFinishedJob(api: ReclaimApi, job: V1Job, log: Log): Promise<void> {
  try {
    await deleteJob(api, job, 'Background');
  } catch (err) {
    log.warn('could not delete scrub Job', { job: job.metadata?.name ?? '', error: apiMessage(err) });
  }
}

/** Creates the scrub Job; undefined when its generated name was taken (another try gets another). */
async function createJob(api: ReclaimApi, body: V1Job): Promise<V1Job | undefined> {
  try {
    return await api.batch.createNamespacedJob({ namespace: api.namespace, body });
  } catch (err) {
    if (apiFailure(err) === 'alreadyExists') return undefined;
    throw err;
  }
}

/**
 * Writes the created Job's UID onto the volume, the only proof later that the
 * Job is ours. If the volume left this release meanwhile, the Job is deleted
 * instead. Returns the volume with the record, or undefined if none was written.
 */
async function recordJob(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  job: V1Job,
): Promise<V1PersistentVolume | undefined> {
  let current = volume;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (jobLeftRelease(current, job, api.besideInTreeBinder) !== undefined) break;
    const recorded = withJobRecord(current, job);
    if (!recorded) return current;
    try {
      return await replaceVolume(api, recorded);
    } catch (err) {
      if (!isConflict(err)) {
        await deleteJobNow(api, job);
        throw err;
      }
      const fresh = await readVolume(api, volume.metadata?.name ?? '');
      if (!fresh) break;
      current = fresh;
    }
  }
  await deleteJobNow(api, job);
  return undefined;
}

/**
 * Starts the release's scrub: the failure count reset when asked, the Job
 * (built from the volume as it is then) created and recorded, and the claim
 * it mounts made. Returns the Job and the volume with its record, or
 * undefined when the Job's generated name was taken or it could not be
 * recorded (then it was deleted).
 */
export async function startScrub(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  resetFailures: boolean,
  build: (volume: V1PersistentVolume) => V1Job,
): Promise<{ job: V1Job; volume: V1PersistentVolume } | undefined> {
  const reset = resetFailures ? withoutFailures(volume) : undefined;
  const current = reset ? await replaceVolume(api, reset) : volume;
  const created = await createJob(api, build(current));
  const recorded = created && (await recordJob(api, current, created));
  if (!created || !recorded) return undefined;
  if (needsScrubClaim(recorded)) await ensureScrubClaim(api, recorded, created);
  return { job: created, volume: recorded };
}

/** Records a failed reclaim on the volume and sets it Failed (each write only if it changes something). */
export async function markFailed(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  plan: FailPlan,
): Promise<V1PersistentVolume> {
  const annotated = withFailure(volume, plan, Date.now());
  const current = annotated ? await replaceVolume(api, annotated) : volume;
  const failed = failedStatus(current, plan.message, new Date());
  return failed ? replaceVolumeStatus(api, failed) : current;
}

/**
 * Writes freed (the volume with its claimRef cleared; the data stays as it
 * is now) and makes the volume Available. Clearing claimRef is the decisive
 * write; the binder may set the phase at the same moment (it reacts to that
 * very change), so a conflict on the status write is settled by reading the
 * volume again.
 */
export async function unbind(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  freed: V1PersistentVolume | undefined,
): Promise<V1PersistentVolume> {
  let current = freed ? await replaceVolume(api, freed) : volume;
  for (let attempt = 0; attempt < 5; attempt++) {
    const available = availableStatus(current, new Date());
    if (!available) return current;
    try {
      return await replaceVolumeStatus(api, available);
    } catch (err) {
      if (!isConflict(err)) throw err;
      current = await api.core.readPersistentVolume({ name: volume.metadata?.name ?? '' });
    }
  }
  return current;
}

/**
 * Creates the claim and volume the scrub Job of this release mounts, if
 * missing: the claim owned by the Job, the volume pre-bound to the claim.
 */
export async function ensureScrubClaim(
  api: ReclaimApi,
  volume: V1PersistentVolume,
  job: V1Job | undefined,
): Promise<void> {
  if (!job || !isRecordedJob(volume, job) || job.metadata?.deletionTimestamp) return;
  const { namespace } = api;
  const name = scrubClaimOf(volume);
  let claim = await readScrubClaim(api, name);
  if (
    claim &&
    !claim.metadata?.ownerReferences?.some((o) => o.controller === true && o.uid === job.metadata?.uid)
  ) {
    // A claim of that name the Job does not own is not ours to mount: deleted, made anew next time.
    await deleteUnlessGone(
      api.core.deleteNamespacedPersistentVolumeClaim({
        name,
        namespace,
        body: { preconditions: { uid: claim.metadata?.uid } },
      }),
    );
    return;
  }
  claim ??= await api.core.createNamespacedPersistentVolumeClaim({
    namespace,
    body: scrubClaimPair(volume, job, namespace).claim,
  });
  try {
    await api.core.createPersistentVolume({
      body: scrubClaimPair(volume, job, namespace, claim.metadata?.uid).volume,
    });
  } catch (err) {
    // There already: checked at the end, when the scrub's claim must prove it was bound to this export.
    if (apiFailure(err) !== 'alreadyExists') throw err;
  }
}

/** Deletes a Released scrub claim volume (by UID); its export's data is not touched. */
export async function deleteScrubClaimVolume(api: ReclaimApi, volume: V1PersistentVolume): Promise<void> {
  await deleteUnlessGone(
    api.core.deletePersistentVolume({
      name: volume.metadata?.name ?? '',
      body: { preconditions: { uid: volume.metadata?.uid } },
    }),
  );
}
