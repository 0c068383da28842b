import type { V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { podsThatMayUse } from '../../../src/reclaim/users.ts';
import { pv, pvc } from '../../support/objects.ts';

const volume = pv('v', {
  phase: 'Released',
  reclaimPolicy: 'Recycle',
  claimRef: { namespace: 'ns', name: 'c', uid: 'old' },
});

function claim(uid: string, opts: { volumeName?: string; created?: string } = {}): V1PersistentVolumeClaim {
  const c = pvc('c', { uid, volumeName: opts.volumeName });
  c.metadata = { ...c.metadata, creationTimestamp: opts.created ? new Date(opts.created) : undefined };
  return c;
}

function pod(
  name: string,
  opts: { claim?: string; node?: string; phase?: string; created?: string; namespace?: string } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: opts.namespace ?? 'ns',
      creationTimestamp: opts.created ? new Date(opts.created) : undefined,
    },
    spec: {
      nodeName: opts.node,
      containers: [{ name: 'app', image: 'app' }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: opts.claim ?? 'c' } }],
    },
    status: { phase: opts.phase ?? 'Pending' },
  };
}

describe('who may use a Released volume', () => {
  describe('pods naming the claim', () => {
    const pods = [
      pod('running', { node: 'n1', phase: 'Running', created: '2026-01-01T10:00:00Z' }),
      pod('waiting', { created: '2026-01-01T10:00:00Z' }),
      pod('done', { node: 'n1', phase: 'Succeeded' }),
      pod('failed', { node: 'n1', phase: 'Failed' }),
      pod('other-claim', { claim: 'd', node: 'n1', phase: 'Running' }),
      pod('other-namespace', { namespace: 'elsewhere', node: 'n1', phase: 'Running' }),
    ];

    it('all unfinished ones count while no claim of that name exists', () => {
      expect(podsThatMayUse(volume, pods, undefined)).to.deep.equal(['ns/running', 'ns/waiting']);
    });

    it('count while the released claim itself still names no other volume', () => {
      expect(podsThatMayUse(volume, pods, claim('old'))).to.deep.equal(['ns/running', 'ns/waiting']);
    });

    it('do not count when the released claim is bound to another volume', () => {
      expect(podsThatMayUse(volume, pods, claim('old', { volumeName: 'other' }))).to.deep.equal([]);
    });

    it('a re-created claim, still Pending, takes over the pods that name it: nothing stalls', () => {
      const again = claim('new', { created: '2026-01-01T11:00:00Z' });
      const later = [
        pod('app-0', { created: '2026-01-01T11:00:05Z' }),
        pod('app-1', { node: 'n1', phase: 'Running', created: '2026-01-01T11:00:07Z' }),
      ];
      expect(podsThatMayUse(volume, later, again)).to.deep.equal([]);
    });

    it('except a pod already on a node before the new claim was made: it may have the old volume mounted', () => {
      const again = claim('new', { created: '2026-01-01T11:00:00Z' });
      expect(podsThatMayUse(volume, pods, again)).to.deep.equal(['ns/running']);
      // Made in the same second as the claim: it may predate it.
      const same = [pod('same', { node: 'n1', phase: 'Running', created: '2026-01-01T11:00:00Z' })];
      expect(podsThatMayUse(volume, same, again)).to.deep.equal(['ns/same']);
      // Without timestamps nothing says the pod is newer.
      expect(podsThatMayUse(volume, [pod('x', { node: 'n1' })], claim('new'))).to.deep.equal(['ns/x']);
    });

    it('none for a claimRef without a name or namespace', () => {
      const odd = pv('odd', { phase: 'Released', claimRef: { namespace: '', name: 'c', uid: 'old' } });
      expect(podsThatMayUse(odd, pods, undefined)).to.deep.equal([]);
    });
  });
});
