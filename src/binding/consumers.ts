// Who waits for a WaitForFirstConsumer claim: the pods that use it and are not
// scheduled yet. Upstream names them in a WaitForPodScheduled event instead of
// WaitForFirstConsumer; these are the pure parts of that decision.
import type { V1ContainerStatus, V1Pod, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import type { PlannedEvent } from '../kube/planned-event.ts';

/** The longest note events.k8s.io/v1 keeps; a longer list of pods is cut here. */
const maxNote = 1024;

/** The claims a pod's volumes name: persistentVolumeClaim ones, and the `<pod>-<volume>` of ephemeral ones. */
export function claimNamesOfPod(pod: V1Pod): string[] {
  const podName = pod.metadata?.name ?? '';
  return (pod.spec?.volumes ?? []).flatMap((v) => {
    if (v.persistentVolumeClaim) return [v.persistentVolumeClaim.claimName];
    if (v.ephemeral) return [`${podName}-${v.name}`];
    return [];
  });
}

const notRunning = (statuses: V1ContainerStatus[] | undefined) =>
  (statuses ?? []).every((s) => s.state?.terminated !== undefined || s.state?.waiting !== undefined);

/** Finished, or deleted with nothing left running (upstream's IsPodTerminated). */
export function isPodTerminated(pod: V1Pod): boolean {
  const status = pod.status;
  if (status?.phase === 'Succeeded' || status?.phase === 'Failed') return true;
  return (
    pod.metadata?.deletionTimestamp !== undefined &&
    notRunning(status?.initContainerStatuses) &&
    notRunning(status?.containerStatuses) &&
    notRunning(status?.ephemeralContainerStatuses)
  );
}

/** Names of the live pods in the claim's namespace that use it and have no node yet, sorted. */
export function unscheduledPodsUsing(claim: V1PersistentVolumeClaim, pods: readonly V1Pod[]): string[] {
  const { namespace, name } = claim.metadata ?? {};
  return pods
    .filter(
      (p) =>
        p.metadata?.namespace === namespace &&
        !p.spec?.nodeName &&
        !isPodTerminated(p) &&
        claimNamesOfPod(p).includes(name ?? ''),
    )
    .map((p) => p.metadata?.name ?? '')
    .sort();
}

/**
 * The event for an unbound claim of a WaitForFirstConsumer class: which pods
 * it waits for, or that none uses it yet. Upstream lists the pods in its
 * index's order; here they are sorted, so the text only changes when they do.
 */
export function delayBindingEvent(podNames: readonly string[]): PlannedEvent {
  if (podNames.length === 0) {
    return {
      type: 'Normal',
      reason: 'WaitForFirstConsumer',
      note: 'waiting for first consumer to be created before binding',
    };
  }
  const note =
    podNames.length === 1
      ? `waiting for pod ${podNames[0] ?? ''} to be scheduled`
      : `waiting for pods ${podNames.join(',')} to be scheduled`;
  return { type: 'Normal', reason: 'WaitForPodScheduled', note: note.slice(0, maxNote) };
}
