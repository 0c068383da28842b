// The binding controller against the real apiserver, in this process. The
// operator-as-a-process tests exercise the same controller through the CLI.
import {
  CoreV1Api,
  StorageV1Api,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { BindingController } from '../../src/binding/controller.ts';
import type { EventSink, ObjectRef } from '../../src/runtime/events.ts';
import { silentLog } from '../../src/runtime/log.ts';
import { testCluster } from './cluster-hooks.ts';
import { pv, pvc, type ClaimSpec, type VolumeSpec } from '../support/objects.ts';
import { eventually } from '../support/wait.ts';

interface Recorded {
  regarding: ObjectRef;
  type: string;
  reason: string;
  note: string;
}

class MemoryEvents implements EventSink {
  readonly all: Recorded[] = [];
  record(regarding: ObjectRef, type: string, reason: string, _action: string, note: string): void {
    this.all.push({ regarding, type, reason, note });
  }
  about(name: string): Recorded[] {
    return this.all.filter((e) => e.regarding.name === name);
  }
}

describe('binding controller', function () {
  this.timeout(60_000);
  let core: CoreV1Api;
  let controller: BindingController;
  let events: MemoryEvents;
  let n = 0;
  let ns = '';

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    events = new MemoryEvents();
    controller = new BindingController({
      kubeConfig: kc,
      core,
      storage: kc.makeApiClient(StorageV1Api),
      events,
      log: silentLog,
      workers: 4,
      resyncPeriodMs: 30_000,
      baseDelayMs: 20,
    });
    await controller.start();
  });

  after(async () => {
    await controller.stop();
  });

  beforeEach(async () => {
    ns = `bind-${++n}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  // Each test gets its own storage class name, so volumes of other tests never match.
  const cls = () => `class-${ns}`;
  const volume = (name: string, s: VolumeSpec = {}): Promise<V1PersistentVolume> => {
    const v = pv(`${ns}-${name}`, { storageClass: cls(), ...s });
    delete v.status;
    return core.createPersistentVolume({ body: v });
  };
  const claim = (name: string, s: ClaimSpec = {}): Promise<V1PersistentVolumeClaim> => {
    const c = pvc(name, { storageClass: cls(), namespace: ns, ...s });
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const boundVolume = (claimName: string) =>
    eventually(`${claimName} Bound`, async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });

  it('binds a claim to a volume of exactly its size, with the four writes', async () => {
    await volume('exact', { size: '1Gi' });
    const created = await claim('c', { size: '1Gi' });
    expect(await boundVolume('c')).to.equal(`${ns}-exact`);
    const v = await core.readPersistentVolume({ name: `${ns}-exact` });
    expect(v.spec?.claimRef?.uid).to.equal(created.metadata?.uid);
    expect(v.status?.phase).to.equal('Bound');
    expect(v.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal('yes');
    const c = await core.readNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    expect(c.metadata?.annotations?.['pv.kubernetes.io/bind-completed']).to.equal('yes');
    expect(c.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal('yes');
    expect(c.status?.capacity?.storage).to.equal('1Gi');
    expect(c.status?.accessModes).to.deep.equal(['ReadWriteOnce']);
  });

  it('picks the smallest volume that fits, in the access-mode group with the fewest modes', async () => {
    await volume('big', { size: '10Gi' });
    await volume('fits', { size: '3Gi' });
    await volume('small', { size: '1Gi' });
    await volume('extra-modes', { size: '2Gi', modes: ['ReadWriteOnce', 'ReadOnlyMany'] });
    await claim('c', { size: '2Gi' });
    expect(await boundVolume('c')).to.equal(`${ns}-fits`);
  });

  it('honours label selectors', async () => {
    await volume('plain', { size: '1Gi' });
    await volume('gold', { size: '5Gi', labels: { tier: 'gold' } });
    await claim('c', { selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] } });
    expect(await boundVolume('c')).to.equal(`${ns}-gold`);
  });

  it('binds a claim to the volume it names, and explains a mismatch with VolumeMismatch', async () => {
    await volume('named', { size: '1Gi' });
    await volume('other', { size: '1Gi' });
    await claim('small-enough', { volumeName: `${ns}-named` });
    expect(await boundVolume('small-enough')).to.equal(`${ns}-named`);
    const c = await core.readNamespacedPersistentVolumeClaim({ name: 'small-enough', namespace: ns });
    expect(c.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.be.undefined;

    await volume('tiny', { size: '1Mi' });
    await claim('too-big', { volumeName: `${ns}-tiny` });
    const e = await eventually('VolumeMismatch', () =>
      events.about('too-big').find((x) => x.reason === 'VolumeMismatch'),
    );
    expect(e.note).to.equal(`Cannot bind to requested volume "${ns}-tiny": requested PV is too small`);
  });

  it('binds a volume pre-bound by claimRef to that claim only', async () => {
    await volume('reserved', { claimRef: { namespace: ns, name: 'owner' } });
    await claim('intruder');
    await claim('owner');
    expect(await boundVolume('owner')).to.equal(`${ns}-reserved`);
    const intruder = await core.readNamespacedPersistentVolumeClaim({ name: 'intruder', namespace: ns });
    expect(intruder.status?.phase).to.equal('Pending');
    const v = await core.readPersistentVolume({ name: `${ns}-reserved` });
    expect(v.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.be.undefined;
  });

  it('says why a claim is Pending, naming the nearest volumes', async () => {
    await volume('small', { size: '1Gi' });
    await volume('rox', { size: '5Gi', modes: ['ReadOnlyMany'] });
    await claim('c', { size: '2Gi' });
    const e = await eventually('FailedBinding', () =>
      events.about('c').find((x) => x.reason.endsWith('Failed') || x.reason === 'FailedBinding'),
    );
    expect(e.note).to.contain(`${ns}-small: too small (1Gi < 2Gi)`);
    expect(e.note).to.contain(`${ns}-rox: lacks ReadWriteOnce`);
  });

  it('leaves WaitForFirstConsumer claims to the scheduler and finishes the binds it starts', async () => {
    const storage = testCluster().kubeConfig().makeApiClient(StorageV1Api);
    await storage.createStorageClass({
      body: {
        metadata: { name: cls() },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'WaitForFirstConsumer',
      },
    });
    await volume('local');
    const c = await claim('c');
    await eventually('WaitForFirstConsumer event', () =>
      events.about('c').find((x) => x.reason === 'WaitForFirstConsumer'),
    );
    expect((await core.readPersistentVolume({ name: `${ns}-local` })).spec?.claimRef).to.be.undefined;
    // What the scheduler's volume binder writes: claimRef with bound-by-controller.
    const v = await core.readPersistentVolume({ name: `${ns}-local` });
    await core.replacePersistentVolume({
      name: `${ns}-local`,
      body: {
        ...v,
        metadata: { ...v.metadata, annotations: { 'pv.kubernetes.io/bound-by-controller': 'yes' } },
        spec: {
          ...v.spec,
          claimRef: {
            kind: 'PersistentVolumeClaim',
            apiVersion: 'v1',
            namespace: ns,
            name: 'c',
            uid: c.metadata?.uid,
          },
        },
      },
    });
    expect(await boundVolume('c')).to.equal(`${ns}-local`);
    await storage.deleteStorageClass({ name: cls() });
  });

  it('marks a volume Released when its claim is deleted', async () => {
    await volume('v', { reclaimPolicy: 'Retain' });
    await claim('c');
    await boundVolume('c');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    await eventually('Released', async () => {
      const v = await core.readPersistentVolume({ name: `${ns}-v` });
      return v.status?.phase === 'Released' ? v : undefined;
    });
  });

  it('binds 300 claims to 300 volumes created at once, each to a distinct volume', async function () {
    this.timeout(180_000);
    const count = 300;
    await Promise.all(Array.from({ length: count }, (_, i) => volume(`s${i}`, { size: `${1 + (i % 7)}Gi` })));
    await Promise.all(Array.from({ length: count }, (_, i) => claim(`s${i}`, { size: `${1 + (i % 7)}Gi` })));
    let progress = '';
    await eventually(
      'every claim Bound',
      async () => {
        const list = await core.listNamespacedPersistentVolumeClaim({ namespace: ns });
        const bound = list.items.filter((c) => c.status?.phase === 'Bound').length;
        if (String(bound) !== progress) {
          progress = String(bound);
          process.stderr.write(`      ${bound}/${count} bound\n`);
        }
        return bound === count ? true : undefined;
      },
      150_000,
      1000,
    );
    const claims = (await core.listNamespacedPersistentVolumeClaim({ namespace: ns })).items;
    const volumes = (await core.listPersistentVolume()).items.filter(
      (v) => v.spec?.storageClassName === cls(),
    );
    const names = claims.map((c) => c.spec?.volumeName);
    expect(new Set(names).size).to.equal(count);
    const byName = new Map(volumes.map((v) => [v.metadata?.name, v]));
    for (const c of claims) {
      const v = byName.get(c.spec?.volumeName);
      expect(v?.spec?.claimRef?.uid, c.metadata?.name ?? '').to.equal(c.metadata?.uid);
      expect(v?.status?.phase).to.equal('Bound');
    }
    const claimRefUids = volumes.flatMap((v) => (v.spec?.claimRef?.uid ? [v.spec.claimRef.uid] : []));
    expect(new Set(claimRefUids).size).to.equal(claimRefUids.length);
  });
});
