import type { V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  claimNamesOfPod,
  delayBindingEvent,
  isPodTerminated,
  unscheduledPodsUsing,
} from '../../../src/binding/consumers.ts';
import { pvc } from '../../support/objects.ts';

interface PodSpec {
  claims?: string[];
  ephemeral?: string[];
  node?: string;
  phase?: string;
  deleting?: boolean;
  running?: boolean;
  namespace?: string;
}

function pod(name: string, s: PodSpec = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: s.namespace ?? 'ns',
      deletionTimestamp: s.deleting ? new Date() : undefined,
    },
    spec: {
      nodeName: s.node,
      containers: [{ name: 'c' }],
      volumes: [
        ...(s.claims ?? []).map((c, i) => ({
          name: `v${String(i)}`,
          persistentVolumeClaim: { claimName: c },
        })),
        ...(s.ephemeral ?? []).map((v) => ({ name: v, ephemeral: { volumeClaimTemplate: { spec: {} } } })),
        { name: 'scratch', emptyDir: {} },
      ],
    },
    status: {
      phase: s.phase ?? 'Pending',
      containerStatuses: s.running
        ? [{ name: 'c', image: 'i', imageID: '', ready: true, restartCount: 0, state: { running: {} } }]
        : undefined,
    },
  };
}

describe('consumers of a WaitForFirstConsumer claim', () => {
  it('a pod names the claims of its persistentVolumeClaim and ephemeral volumes', () => {
    expect(claimNamesOfPod(pod('web', { claims: ['data'], ephemeral: ['cache'] }))).to.deep.equal([
      'data',
      'web-cache',
    ]);
  });

  it('a pod is terminated when finished, or deleted with nothing running', () => {
    expect(isPodTerminated(pod('a', { phase: 'Succeeded' }))).to.be.true;
    expect(isPodTerminated(pod('a', { phase: 'Failed' }))).to.be.true;
    expect(isPodTerminated(pod('a', { deleting: true }))).to.be.true;
    expect(isPodTerminated(pod('a', { deleting: true, running: true }))).to.be.false;
    expect(isPodTerminated(pod('a'))).to.be.false;
  });

  it('finds the live unscheduled pods that use the claim, sorted', () => {
    const pods = [
      pod('b', { claims: ['c'] }),
      pod('a', { claims: ['other', 'c'] }),
      pod('scheduled', { claims: ['c'], node: 'n1' }),
      pod('done', { claims: ['c'], phase: 'Succeeded' }),
      pod('elsewhere', { claims: ['c'], namespace: 'other' }),
      pod('unrelated', { claims: ['d'] }),
      pod('c', { ephemeral: ['x'] }),
    ];
    expect(unscheduledPodsUsing(pvc('c'), pods)).to.deep.equal(['a', 'b']);
    expect(unscheduledPodsUsing(pvc('c-x'), pods)).to.deep.equal(['c']);
  });

  it('says WaitForPodScheduled naming one pod or several, else WaitForFirstConsumer', () => {
    expect(delayBindingEvent([])).to.deep.equal({
      type: 'Normal',
      reason: 'WaitForFirstConsumer',
      note: 'waiting for first consumer to be created before binding',
    });
    expect(delayBindingEvent(['web-0'])).to.deep.equal({
      type: 'Normal',
      reason: 'WaitForPodScheduled',
      note: 'waiting for pod web-0 to be scheduled',
    });
    expect(delayBindingEvent(['a', 'b']).note).to.equal('waiting for pods a,b to be scheduled');
  });

  it('cuts the list of many long pod names to what an event keeps', () => {
    const names = Array.from({ length: 500 }, (_, i) => `${'p'.repeat(250)}${String(i)}`);
    const e = delayBindingEvent(names);
    expect(e.reason).to.equal('WaitForPodScheduled');
    expect(e.note.length).to.equal(1024);
    expect(e.note.startsWith(`waiting for pods ${names[0] ?? ''},`)).to.be.true;
  });
});
