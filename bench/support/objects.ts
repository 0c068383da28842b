// The volumes and claims the benches create: hostPath volumes of 1 to 7 GiB and
// claims of 256 MiB to 1 GiB in one storage class, so any claim fits any volume.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

import { pv, pvc } from '../../test/support/objects.ts';

export function benchVolume(i: number, storageClass: string): V1PersistentVolume {
  const v = pv(`v${String(i)}`, { storageClass, size: `${String(1 + (i % 7))}Gi` });
  delete v.status;
  return v;
}

export function benchClaim(i: number, storageClass: string, namespace: string): V1PersistentVolumeClaim {
  const c = pvc(`c${String(i)}`, { storageClass, namespace, size: `${String(256 * (1 + (i % 4)))}Mi` });
  delete c.metadata?.uid;
  return c;
}
