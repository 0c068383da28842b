// Delete of a hostPath volume that no provisioner of ours made (pv-controller.md
// §3). Upstream's hostPath deleter runs inside kube-controller-manager: it
// removes the path from the controller's own file system when the path
// matches /tmp/.+ (anywhere in it: the pattern is not anchored), and fails
// with its message otherwise; then the PersistentVolume is deleted. Where the
// controller runs in a container, as it does almost everywhere, the node's
// files are never touched. A scrub Job here would run on the node and delete
// real data that upstream keeps, so this operator deletes only the
// PersistentVolume object, for the same paths, and says the data was kept.
import type { V1PersistentVolume } from '@kubernetes/client-node';

import { type JobState, type ReclaimPlan, undeletable } from './decide.ts';

/** The name kube-controller-manager's own hostPath provisioner writes into pv.kubernetes.io/provisioned-by. */
export const inTreeHostPathPlugin = 'kubernetes.io/host-path';

/** Upstream's test, unanchored as it is there: "/var/tmp/x" passes too. */
export function upstreamDeletesHostPath(path: string): boolean {
  return /\/tmp\/.+/.test(path);
}

/** Paths are the administrator's to write and can be long: events show a bounded part. */
function shown(path: string): string {
  return path.length > 256 ? `${path.slice(0, 256)}…` : path;
}

/** Whether the hostPath rules below, not a provisioner, decide this Delete volume's fate. */
export function isUpstreamHostPathDelete(
  volume: V1PersistentVolume,
  provisioner: string | undefined,
): boolean {
  return (
    volume.spec?.hostPath !== undefined && (provisioner === undefined || provisioner === inTreeHostPathPlugin)
  );
}

export function planHostPathDelete(
  volume: V1PersistentVolume,
  job: JobState,
  recheckMs: number,
): ReclaimPlan {
  const path = volume.spec?.hostPath?.path ?? '';
  if (!upstreamDeletesHostPath(path)) {
    if (volume.status?.phase === 'Failed') return { action: 'none' };
    const message = `host_path deleter only supports /tmp/.+ but received provided ${shown(path)}`;
    return undeletable(
      message,
      "Nothing deletes this volume's data on its node: delete the data and the " +
        'PersistentVolume yourself, or set persistentVolumeReclaimPolicy to Retain or Recycle',
    );
  }
  // A scrub Job of an earlier plan (the policy was Recycle) stops first: it is deleted as a stray.
  if (job.state !== 'absent') {
    return { action: 'wait', why: 'a scrub Job of this volume is still there', requeueAfterMs: recheckMs };
  }
  return {
    action: 'deleteObject',
    event: {
      type: 'Normal',
      reason: 'VolumeDeleted',
      note:
        `deleting the PersistentVolume; the data at hostPath ${shown(path)} was kept on its node: like ` +
        "upstream, which removes such paths only inside kube-controller-manager's own file system, this " +
        'operator never deletes node files for a volume no provisioner made',
    },
  };
}
