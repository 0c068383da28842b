// Claims of a provisioning class and the volumes they get, for the
// provisioning suites: make a claim, wait for it to be Bound and read its
// volume, wait for a volume to be gone.
import type { CoreV1Api, V1PersistentVolume } from '@kubernetes/client-node';

import { eventually } from './wait.ts';

/** `core` is read at each call (suites make their client in a before hook). */
export function provisioningClaims(core: () => CoreV1Api, namespace: string) {
  return {
    /** A 1Gi ReadWriteMany claim of the class. */
    claim: async (
      name: string,
      className: string,
      annotations: Record<string, string> = {},
    ): Promise<void> => {
      await core().createNamespacedPersistentVolumeClaim({
        namespace,
        body: {
          metadata: { name, annotations },
          spec: {
            storageClassName: className,
            accessModes: ['ReadWriteMany'],
            resources: { requests: { storage: '1Gi' } },
          },
        },
      });
    },

    /** The volume of claim `name`, once the claim is Bound. */
    boundVolume: async (name: string): Promise<V1PersistentVolume> => {
      const volumeName = await eventually(`claim ${name} Bound`, async () => {
        const c = await core().readNamespacedPersistentVolumeClaim({ name, namespace });
        return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
      });
      return core().readPersistentVolume({ name: volumeName });
    },

    volumeGone: async (name: string): Promise<void> => {
      await eventually(`volume ${name} deleted`, async () => {
        try {
          await core().readPersistentVolume({ name });
          return undefined;
        } catch {
          return true;
        }
      });
    },
  };
}
