// What the NFS probe tests do with exports and claims: make an export of
// /export on a server, wait for its ServerReachable reason, and claim it.
import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';

import type { NfsExport } from '../../src/nfs/export.ts';
import { pvc } from './objects.ts';
import { eventually } from './wait.ts';

export const exportsApi = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };

/** The clients and namespace are read at each call: tests make them in their before hooks. */
export function exportProbes(world: () => { custom: CustomObjectsApi; core: CoreV1Api; namespace: string }) {
  const custom = () => world().custom;
  const core = () => world().core;
  const namespace = () => world().namespace;
  return {
    /** An export of server:/export, 1Gi ReadWriteMany, of storage class cls (default: its name). */
    createExport: (name: string, server: string, cls = name) =>
      custom().createClusterCustomObject({
        ...exportsApi,
        body: {
          apiVersion: 'pvlifecycle.io/v1alpha1',
          kind: 'NfsExport',
          metadata: { name },
          spec: {
            server,
            path: '/export',
            capacity: '1Gi',
            accessModes: ['ReadWriteMany'],
            storageClassName: cls,
          },
        },
      }),
    /** The export's ServerReachable condition, once its reason is this one. */
    reachability: (name: string, reason: string) =>
      eventually(`${name} ServerReachable ${reason}`, async () => {
        const e = (await custom().getClusterCustomObject({ ...exportsApi, name })) as NfsExport;
        const c = e.status?.conditions?.find((x) => x.type === 'ServerReachable');
        return c?.reason === reason ? c : undefined;
      }),
    claim: (name: string, cls: string) => {
      const c = pvc(name, { namespace: namespace(), storageClass: cls, modes: ['ReadWriteMany'] });
      delete c.metadata?.uid;
      return core().createNamespacedPersistentVolumeClaim({ namespace: namespace(), body: c });
    },
    phaseOf: async (name: string) =>
      (await core().readNamespacedPersistentVolumeClaim({ name, namespace: namespace() })).status?.phase,
  };
}
