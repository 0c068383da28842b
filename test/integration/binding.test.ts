// The binding controller as a user runs it: the pv-lifecycle-operator command
// in its own process against the local control plane, observed only through
// the API (objects and events.k8s.io/v1 events) and its HTTP endpoints.
import { join } from 'node:path';

import {
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  StorageV1Api,
  type EventsV1Event,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { type ClaimSpec, type VolumeSpec, pv, pvc } from '../support/objects.ts';
import { operatorOnly, started, startUnlessUpstream } from '../support/binder-under-test.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

describe('binding controller (operator process)', function () {
  this.timeout(60_000);
  let core: CoreV1Api;
  let eventsApi: EventsV1Api;
  let storage: StorageV1Api;
  let operator: OperatorProcess | undefined;
  let n = 0;
  let ns = '';

  const startOperator = (extra: string[] = []) =>
    OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: ['--workers', '4', ...extra],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-binding.log'),
    });

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    storage = kc.makeApiClient(StorageV1Api);
    operator = await startUnlessUpstream(() => startOperator());
  });

  after(async () => {
    if (!operator) return;
    const status = await operator.stop();
    expect(status.code, `operator exit after SIGTERM:\n${operator.tail()}`).to.equal(0);
  });

  beforeEach(async () => {
    ns = `bind-${String(++n)}`;
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
  const readClaim = (name: string) => core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
  const boundVolume = (claimName: string, timeoutMs = 30_000) =>
    eventually(
      `${claimName} Bound`,
      async () => {
        const c = await readClaim(claimName);
        return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
      },
      timeoutMs,
    );
  /** events.k8s.io/v1 events about an object, as `kubectl events` lists them. */
  const eventsAbout = async (name: string, namespace = ns): Promise<EventsV1Event[]> =>
    (await eventsApi.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.name === name);
  const eventAbout = (name: string, reason: string, namespace = ns) =>
    eventually(`${reason} event about ${name}`, async () =>
      (await eventsAbout(name, namespace)).find((e) => e.reason === reason),
    );

  it('serves /readyz, /healthz and /metrics with reconcile, work-queue and pv_collector metrics', async function () {
    operatorOnly(this, 'its own HTTP endpoints and metrics');
    const op = started(operator);
    expect((await op.get('/readyz')).status).to.equal(200);
    expect((await op.get('/healthz')).status).to.equal(200);
    await volume('m');
    await claim('m');
    await boundVolume('m');
    const text = await op.metrics();
    for (const series of [
      'controller_runtime_reconcile_total{controller="persistentvolumeclaim-binder",result="success"}',
      'controller_runtime_reconcile_time_seconds_bucket',
      'workqueue_adds_total{name="persistentvolume-binder"}',
      'workqueue_depth{name="persistentvolumeclaim-binder"}',
      `pv_collector_bound_pv_count{storage_class="${cls()}"} 1`,
      `pv_collector_bound_pvc_count{namespace="${ns}",storage_class="${cls()}"} 1`,
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text, series).to.contain(series);
    }
  });

  it('binds a claim to a volume of exactly its size, with the four writes', async () => {
    await volume('exact', { size: '1Gi' });
    const created = await claim('c', { size: '1Gi' });
    expect(await boundVolume('c')).to.equal(`${ns}-exact`);
    const v = await core.readPersistentVolume({ name: `${ns}-exact` });
    expect(v.spec?.claimRef?.uid).to.equal(created.metadata?.uid);
    expect(v.spec?.claimRef?.resourceVersion).to.be.a('string');
    expect(v.status?.phase).to.equal('Bound');
    expect(v.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal('yes');
    const c = await readClaim('c');
    expect(c.metadata?.annotations?.['pv.kubernetes.io/bind-completed']).to.equal('yes');
    expect(c.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal('yes');
    expect(c.status?.capacity?.storage).to.equal('1Gi');
    expect(c.status?.accessModes).to.deep.equal(['ReadWriteOnce']);
  });

  it('sets the claim capacity once, on binding (the pre-resize capacity if the volume has one), and never after', async () => {
    const v = pv(`${ns}-grown`, { storageClass: cls(), size: '2Gi' });
    delete v.status;
    v.metadata = { ...v.metadata, annotations: { 'volume.alpha.kubernetes.io/pre-resize-capacity': '1Gi' } };
    await core.createPersistentVolume({ body: v });
    await claim('c', { size: '1Gi' });
    expect(await boundVolume('c')).to.equal(`${ns}-grown`);
    expect((await readClaim('c')).status?.capacity?.storage).to.equal('1Gi');
    // The volume grows again; the claim's capacity is the resizer's to change, not the binder's.
    await core.patchPersistentVolume(
      { name: `${ns}-grown`, body: { spec: { capacity: { storage: '5Gi' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await sleep(2000);
    expect((await readClaim('c')).status?.capacity?.storage).to.equal('1Gi');
  });

  it('picks the smallest volume that fits, in the access-mode group with the fewest modes', async () => {
    await volume('big', { size: '10Gi' });
    await volume('fits', { size: '3Gi' });
    await volume('small', { size: '1Gi' });
    await volume('extra-modes', { size: '2Gi', modes: ['ReadWriteOnce', 'ReadOnlyMany'] });
    await claim('c', { size: '2Gi' });
    expect(await boundVolume('c')).to.equal(`${ns}-fits`);
    // The group with the fewest modes wins over a smaller volume with more modes.
    await volume('rwx-rox', { size: '1Gi', modes: ['ReadWriteMany', 'ReadOnlyMany', 'ReadWriteOnce'] });
    await volume('rwx', { size: '5Gi', modes: ['ReadWriteMany'] });
    await eventually('both volumes Available', async () => {
      const all = await Promise.all(
        ['rwx-rox', 'rwx'].map((v) => core.readPersistentVolume({ name: `${ns}-${v}` })),
      );
      return all.every((v) => v.status?.phase === 'Available') ? true : undefined;
    });
    await claim('rwx', { size: '1Gi', modes: ['ReadWriteMany'] });
    expect(await boundVolume('rwx')).to.equal(`${ns}-rwx`);
  });

  it('honours label selectors with matchLabels and matchExpressions', async () => {
    await volume('plain', { size: '1Gi' });
    await volume('gold', { size: '5Gi', labels: { tier: 'gold', zone: 'a' } });
    await volume('gold-b', { size: '2Gi', labels: { tier: 'gold', zone: 'b' } });
    await claim('c', {
      selector: {
        matchLabels: { tier: 'gold' },
        matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['b'] }],
      },
    });
    expect(await boundVolume('c')).to.equal(`${ns}-gold`);
  });

  it('takes the class from the beta annotation, and gives a claim without one the default class', async () => {
    await volume('beta', { storageClass: '', betaClass: cls() });
    await claim('by-annotation', { storageClass: null, betaClass: cls() });
    expect(await boundVolume('by-annotation')).to.equal(`${ns}-beta`);

    const def = `default-${ns}`;
    await storage.createStorageClass({
      body: {
        metadata: { name: def, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
        provisioner: 'kubernetes.io/no-provisioner',
      },
    });
    try {
      // The admission plugin gives new claims the default class; a claim made
      // before any default existed gets it later, from the binder.
      await volume('nil', { storageClass: def });
      await claim('nil-class', { storageClass: null });
      expect(await boundVolume('nil-class')).to.equal(`${ns}-nil`);
      expect((await readClaim('nil-class')).spec?.storageClassName).to.equal(def);
      // An explicit "" asks for a volume without a class and never gets the default.
      await volume('classless', { storageClass: '' });
      await claim('empty-class', { storageClass: '' });
      expect(await boundVolume('empty-class')).to.equal(`${ns}-classless`);
      expect((await readClaim('empty-class')).spec?.storageClassName).to.equal('');
    } finally {
      await storage.deleteStorageClass({ name: def });
    }
  });

  it('binds a claim to the volume it names, and explains a mismatch with VolumeMismatch', async () => {
    await volume('named', { size: '1Gi' });
    await volume('other', { size: '1Gi' });
    await claim('small-enough', { volumeName: `${ns}-named` });
    expect(await boundVolume('small-enough')).to.equal(`${ns}-named`);
    const c = await readClaim('small-enough');
    expect(c.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal(undefined);

    await volume('tiny', { size: '1Mi' });
    await claim('too-big', { volumeName: `${ns}-tiny` });
    const e = await eventAbout('too-big', 'VolumeMismatch');
    expect(e.type).to.equal('Warning');
    expect(e.note).to.equal(`Cannot bind to requested volume "${ns}-tiny": requested PV is too small`);
    expect(e.reportingController).to.equal('pv-lifecycle-operator');
    expect((await readClaim('too-big')).status?.phase).to.equal('Pending');
  });

  it('checks the attributes class of a named volume, and records it on the bound claim', async () => {
    await volume('gold', { attributesClass: 'gold', csi: true });
    await claim('silver', { volumeName: `${ns}-gold`, attributesClass: 'silver' });
    const e = await eventAbout('silver', 'VolumeMismatch');
    expect(e.note).to.equal(
      `Cannot bind to requested volume "${ns}-gold": volumeAttributesClassName does not match`,
    );
    expect((await readClaim('silver')).status?.phase).to.equal('Pending');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'silver', namespace: ns });
    await claim('gold', { volumeName: `${ns}-gold`, attributesClass: 'gold' });
    expect(await boundVolume('gold')).to.equal(`${ns}-gold`);
    expect((await readClaim('gold')).status?.currentVolumeAttributesClassName).to.equal('gold');
  });

  it('binds a volume pre-bound by claimRef to that claim only', async () => {
    await volume('reserved', { claimRef: { namespace: ns, name: 'owner' } });
    await claim('intruder');
    await claim('owner');
    expect(await boundVolume('owner')).to.equal(`${ns}-reserved`);
    expect((await readClaim('intruder')).status?.phase).to.equal('Pending');
    const v = await core.readPersistentVolume({ name: `${ns}-reserved` });
    expect(v.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal(undefined);
  });

  it('prefers a free volume of a narrower access-mode group over one pre-bound in a wider group', async () => {
    await volume('pre-wide', {
      size: '1Gi',
      modes: ['ReadWriteOnce', 'ReadOnlyMany'],
      claimRef: { namespace: ns, name: 'c' },
    });
    await volume('free-narrow', { size: '5Gi', modes: ['ReadWriteOnce'] });
    await eventually('both volumes Available', async () => {
      const all = await Promise.all(
        ['pre-wide', 'free-narrow'].map((v) => core.readPersistentVolume({ name: `${ns}-${v}` })),
      );
      return all.every((v) => v.status?.phase === 'Available') ? true : undefined;
    });
    await claim('c', { modes: ['ReadWriteOnce'] });
    expect(await boundVolume('c')).to.equal(`${ns}-free-narrow`);
    // The pre-bound volume keeps its reservation, as upstream leaves it.
    const v = await core.readPersistentVolume({ name: `${ns}-pre-wide` });
    expect(v.status?.phase).to.equal('Available');
    expect(v.spec?.claimRef?.name).to.equal('c');
    expect(v.spec?.claimRef?.uid).to.equal(undefined);
  });

  it('says ProvisioningFailed for a no-provisioner class with Immediate binding, naming the nearest volumes, once', async () => {
    await storage.createStorageClass({
      body: { metadata: { name: cls() }, provisioner: 'kubernetes.io/no-provisioner' },
    });
    try {
      await volume('small', { size: '1Gi' });
      await volume('rox', { size: '5Gi', modes: ['ReadOnlyMany'] });
      await claim('c', { size: '2Gi' });
      const e = await eventAbout('c', 'ProvisioningFailed');
      expect(e.type).to.equal('Warning');
      expect(e.note, e.note).to.match(
        new RegExp(
          `^no volume plugin matched name: kubernetes\\.io/no-provisioner; no volume fits: ${ns}-small: too small \\(1Gi < 2Gi\\); ${ns}-rox: lacks ReadWriteOnce`,
        ),
      );
      expect(e.note?.length).to.be.at.most(500);
      // The same reasons are not said again.
      await sleep(2000);
      const failed = (await eventsAbout('c')).filter((x) => x.reason === 'ProvisioningFailed');
      expect(failed).to.have.length(1);
      expect(failed[0]?.series).to.equal(undefined);
      expect((await eventsAbout('c')).map((x) => x.reason)).to.not.include('FailedBinding');
    } finally {
      await storage.deleteStorageClass({ name: cls() });
    }
  });

  it('waits for the CSI driver of an in-tree provisioner name that was migrated', async () => {
    await storage.createStorageClass({
      body: { metadata: { name: cls() }, provisioner: 'kubernetes.io/aws-ebs' },
    });
    try {
      await claim('c');
      const e = await eventAbout('c', 'ExternalProvisioning');
      expect(e.note).to.match(
        /^Waiting for a volume to be created either by the external provisioner 'ebs\.csi\.aws\.com' /,
      );
      const annotations = (await readClaim('c')).metadata?.annotations ?? {};
      expect(annotations['volume.kubernetes.io/storage-provisioner']).to.equal('ebs.csi.aws.com');
      expect(annotations['volume.beta.kubernetes.io/storage-provisioner']).to.equal('ebs.csi.aws.com');
    } finally {
      await storage.deleteStorageClass({ name: cls() });
    }
  });

  it('says ProvisioningFailed for a class that does not exist, still naming the nearest volumes', async () => {
    await volume('near', { size: '1Gi' });
    await claim('c', { size: '2Gi' });
    const e = await eventAbout('c', 'ProvisioningFailed');
    expect(e.type).to.equal('Warning');
    expect(e.note).to.match(
      new RegExp(
        `^storageclass\\.storage\\.k8s\\.io "${cls()}" not found; no volume fits: ${ns}-near: too small \\(1Gi < 2Gi\\)`,
      ),
    );
  });

  it('leaves WaitForFirstConsumer claims to the scheduler and finishes the binds it starts', async () => {
    await storage.createStorageClass({
      body: {
        metadata: { name: cls() },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'WaitForFirstConsumer',
      },
    });
    try {
      await volume('local');
      const c = await claim('c');
      await eventAbout('c', 'WaitForFirstConsumer');
      const v = await core.readPersistentVolume({ name: `${ns}-local` });
      expect(v.spec?.claimRef).to.equal(undefined);
      // What the scheduler's volume binder writes: claimRef with bound-by-controller.
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
    } finally {
      await storage.deleteStorageClass({ name: cls() });
    }
  });

  it('names the unscheduled pods a WaitForFirstConsumer claim waits for (WaitForPodScheduled)', async () => {
    await storage.createStorageClass({
      body: {
        metadata: { name: cls() },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'WaitForFirstConsumer',
      },
    });
    try {
      // No volume fits, so the scheduler cannot place them: they stay without a node.
      for (const name of ['pod-b', 'pod-a']) {
        await core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: { name },
            spec: {
              containers: [{ name: 'c', image: 'busybox' }],
              volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'c' } }],
            },
          },
        });
      }
      await claim('c');
      const e = await eventAbout('c', 'WaitForPodScheduled');
      expect(e.type).to.equal('Normal');
      expect(e.note).to.equal('waiting for pods pod-a,pod-b to be scheduled');
      // A claim no pod uses yet still gets upstream's other event.
      await claim('unused');
      expect((await eventAbout('unused', 'WaitForFirstConsumer')).note).to.equal(
        'waiting for first consumer to be created before binding',
      );
      expect((await eventsAbout('c')).map((x) => x.reason)).to.not.include('WaitForFirstConsumer');
    } finally {
      await storage.deleteStorageClass({ name: cls() });
    }
  });

  it('marks a volume Released when its claim is deleted, and leaves it so', async () => {
    await volume('v', { reclaimPolicy: 'Retain' });
    const c = await claim('c');
    await boundVolume('c');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    await eventually('Released', async () => {
      const v = await core.readPersistentVolume({ name: `${ns}-v` });
      return v.status?.phase === 'Released' ? v : undefined;
    });
    // A new claim of the same name is a different claim: the volume stays with the old UID.
    await claim('c');
    await sleep(1500);
    const v = await core.readPersistentVolume({ name: `${ns}-v` });
    expect(v.status?.phase).to.equal('Released');
    expect(v.spec?.claimRef?.uid).to.equal(c.metadata?.uid);
    expect((await readClaim('c')).status?.phase).to.equal('Pending');
  });

  it('marks a claim Lost when its bound volume is deleted', async () => {
    await volume('gone');
    await claim('c');
    await boundVolume('c');
    await core.deletePersistentVolume({ name: `${ns}-gone` });
    // kubernetes.io/pv-protection holds the volume while the claim exists; remove it as a careless admin would.
    await core.patchPersistentVolume(
      { name: `${ns}-gone`, body: { metadata: { finalizers: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('Lost', async () =>
      (await readClaim('c')).status?.phase === 'Lost' ? true : undefined,
    );
    const e = await eventAbout('c', 'ClaimLost');
    expect(e.type).to.equal('Warning');
    // Nothing of the lost volume is left in the claim's status, as upstream clears it.
    const lost = await readClaim('c');
    expect(lost.status?.capacity).to.equal(undefined);
    expect(lost.status?.accessModes).to.equal(undefined);
  });

  it('leaves a Failed volume Failed when its claim went to another volume', async () => {
    await volume('winner');
    const c = await claim('c');
    expect(await boundVolume('c')).to.equal(`${ns}-winner`);
    // A volume an external provisioner made for c too late, whose deletion failed.
    const loser = pv(`${ns}-loser`, {
      storageClass: cls(),
      reclaimPolicy: 'Delete',
      claimRef: { namespace: ns, name: 'c', uid: c.metadata?.uid },
    });
    delete loser.status;
    loser.metadata = {
      ...loser.metadata,
      annotations: { 'pv.kubernetes.io/provisioned-by': 'example.com/ext' },
    };
    await core.createPersistentVolume({ body: loser });
    const released = await eventually('loser Released', async () => {
      const v = await core.readPersistentVolume({ name: `${ns}-loser` });
      return v.status?.phase === 'Released' ? v : undefined;
    });
    await core.replacePersistentVolumeStatus({
      name: `${ns}-loser`,
      body: { ...released, status: { ...released.status, phase: 'Failed', message: 'delete failed' } },
    });
    await sleep(2000);
    const v = await core.readPersistentVolume({ name: `${ns}-loser` });
    expect(v.status?.phase).to.equal('Failed');
    expect(v.status?.message).to.equal('delete failed');
  });
});
