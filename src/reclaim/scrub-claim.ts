// Scrubbing an NFS volume with its mount options. A pod's inline nfs volume
// has no mount options: only a PersistentVolume carries them to the kubelet.
// So for an NFS volume with mount options, the scrub pod mounts a claim in
// the operator's namespace, pre-bound to a second, short-lived volume with
// the same server, path and options (Retain, never offered to other claims).
// The pair lives as long as its Job: the claim is owned by the Job, the
// volume by the volume it scrubs; the garbage collector removes the claim
// with its Job, and the reclaimer deletes the volume once it is Released.
// Everything here is pure.
import type { V1Job, V1PersistentVolume, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';

import {
  annBetaMountOptions,
  annClaimUid,
  annVolumeName,
  managedByLabel,
  recyclerJobName,
  scrubClaimName,
  volumeLabel,
  volumeLabelValue,
} from './job.ts';
import { scrubContainerName } from './template.ts';

/**
 * On the scrub claim and its volume: the name of the release they serve
 * (recyclerJobName, which they are named after; the Job itself has a
 * generated name and owns the claim by UID).
 */
export const scrubForJobLabel = 'pvlifecycle.io/scrub-for-job';

/**
 * Whether the volume is a scrub claim's volume, by its whole shape and not by
 * a label alone (labels are copied from NfsExports): named scrub-<job> after
 * its label, Retain, pre-bound to the claim of its own name in the operator's
 * namespace. If ownedBy is given, also owned by that volume's UID.
 */
export function isScrubClaimVolume(v: V1PersistentVolume, namespace: string, ownedBy?: string): boolean {
  const job = v.metadata?.labels?.[scrubForJobLabel];
  const name = v.metadata?.name;
  if (job === undefined || name !== scrubClaimName(job)) return false;
  const ref = v.spec?.claimRef;
  if (ref?.namespace !== namespace || ref.name !== name) return false;
  if (v.spec?.persistentVolumeReclaimPolicy !== 'Retain') return false;
  return ownedBy === undefined || (v.metadata?.ownerReferences ?? []).some((o) => o.uid === ownedBy);
}

/**
 * Whether a scrub claim's volume is spent: once its claim is gone (the
 * garbage collector removes it with its Job) the binder marks it Released,
 * and it is deleted. Its export's data is not touched: it is Retain and
 * nothing scrubs it.
 */
export function scrubClaimVolumeSpent(v: V1PersistentVolume): boolean {
  return v.status?.phase === 'Released' && !v.metadata?.deletionTimestamp;
}

/**
 * The claim and volume a scrub Job of this volume mounts. job is the created
 * Job (its UID owns the claim); namespace is the operator's. The volume is
 * made after the claim, with the claim's UID in its claimRef: should the
 * claim go before they are bound, the volume is Released and swept.
 */
export function scrubClaimPair(
  volume: V1PersistentVolume,
  job: V1Job,
  namespace: string,
  claimUid?: string,
): { claim: V1PersistentVolumeClaim; volume: V1PersistentVolume } {
  const jobName = job.metadata?.name ?? '';
  const volumeName = volume.metadata?.name ?? '';
  const release = recyclerJobName(
    volumeName,
    job.metadata?.annotations?.[annClaimUid] ?? volume.spec?.claimRef?.uid ?? '',
  );
  const name = scrubClaimName(release);
  const labels = {
    [managedByLabel.key]: managedByLabel.value,
    [volumeLabel]: volumeLabelValue(volumeName),
    [scrubForJobLabel]: release,
  };
  const spec = volume.spec ?? {};
  const modes = spec.accessModes?.length ? [...spec.accessModes] : ['ReadWriteOnce'];
  const betaOptions = volume.metadata?.annotations?.[annBetaMountOptions];
  return {
    claim: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name,
        namespace,
        labels,
        annotations: { [annVolumeName]: volumeName },
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: jobName,
            uid: job.metadata?.uid ?? '',
            controller: true,
          },
        ],
      },
      spec: {
        accessModes: modes,
        storageClassName: '',
        volumeMode: 'Filesystem',
        volumeName: name,
        resources: { requests: { storage: spec.capacity?.storage ?? '1' } },
      },
    },
    volume: {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: {
        name,
        labels,
        annotations: {
          [annVolumeName]: volumeName,
          ...(betaOptions !== undefined ? { [annBetaMountOptions]: betaOptions } : {}),
        },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'PersistentVolume', name: volumeName, uid: volume.metadata?.uid ?? '' },
        ],
      },
      spec: {
        capacity: { storage: spec.capacity?.storage ?? '1' },
        accessModes: modes,
        nfs: { server: spec.nfs?.server ?? '', path: spec.nfs?.path ?? '', readOnly: false },
        mountOptions: spec.mountOptions?.length ? [...spec.mountOptions] : undefined,
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: '',
        volumeMode: 'Filesystem',
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name, uid: claimUid },
      },
    },
  };
}

/**
 * Why the claim the scrub pod mounted may not have been this volume, or
 * undefined if it was: the claim was there before the scrub started, and it is bound to
 * a volume (bound to it by UID) with the server and path of the one scrubbed.
 */
export function scrubClaimProblem(
  volume: V1PersistentVolume,
  claim: V1PersistentVolumeClaim | undefined,
  shadow: V1PersistentVolume | undefined,
  pod: V1Pod,
): string | undefined {
  if (!claim) return 'its scrub claim is gone';
  if (!shadow || claim.spec?.volumeName !== shadow.metadata?.name)
    return 'its scrub claim is not bound to its volume';
  if (shadow.spec?.claimRef?.uid !== claim.metadata?.uid)
    return "its scrub claim's volume names another claim";
  const want = volume.spec?.nfs;
  const have = shadow.spec?.nfs;
  if (!want || have?.server !== want.server || have.path !== want.path) {
    return "its scrub claim's volume has another NFS server or path";
  }
  // The container starts only once its volumes are mounted: a claim made later is not the one it mounted.
  const started = pod.status?.containerStatuses?.find((c) => c.name === scrubContainerName)?.state?.terminated
    ?.startedAt;
  const claimAt = new Date(claim.metadata?.creationTimestamp ?? 0).getTime();
  if (!started || !(claimAt <= new Date(started).getTime()))
    return 'its scrub claim was made after the scrub started';
  return undefined;
}
