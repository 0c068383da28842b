// NfsExport lifecycle with the operator process: export → volume; claims
// bind; reclaim by policy (scrub Jobs run by kwok, 8 s each here so the
// Recycling phase can be seen); deletion held while bound; drift put back;
// a moved export's volume made anew; a foreign volume of its name never adopted.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  type V1PersistentVolume,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import type { NfsExport } from '../../src/nfs/export.ts';
import { kubectl } from '../support/kubectl.ts';
import { pvc } from '../support/objects.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';

const api = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };

describe('NfsExport lifecycle (operator process)', function () {
  this.timeout(90_000);
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let events: EventsV1Api;
  let operator: OperatorProcess;
  let n = 0;
  let ns = '';

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    events = kc.makeApiClient(EventsV1Api);
    await core
      .createNamespace({ body: { metadata: { name: 'pv-lifecycle-system' } } })
      .catch(() => undefined);
    const template = join(repoRoot, '.cluster', 'test-logs', 'recycler-template-nfsexport.yaml');
    // Run alone in a fresh checkout, nothing has made the log folder yet.
    mkdirSync(dirname(template), { recursive: true });
    writeFileSync(template, 'metadata:\n  labels:\n    kwokoutcome: slow\n');
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      // These exports name servers that do not exist: no probes, so nothing is held back.
      args: [
        '--namespace',
        'pv-lifecycle-system',
        '--recycler-pod-template',
        template,
        '--probe-interval',
        '0',
      ],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-nfsexport.log'),
    });
  });

  after(async () => {
    expect((await operator.stop()).code).to.equal(0);
  });

  beforeEach(async () => {
    ns = `nfsx-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  const exportName = (name: string) => `${ns}-${name}`;
  const volumeName = (name: string) => `nfsx-${exportName(name)}`;
  const createExport = (
    name: string,
    spec: Partial<NfsExport['spec']> = {},
    labels?: Record<string, string>,
  ) =>
    custom.createClusterCustomObject({
      ...api,
      body: {
        apiVersion: 'pvlifecycle.io/v1alpha1',
        kind: 'NfsExport',
        metadata: { name: exportName(name), labels },
        spec: {
          server: '10.0.0.5',
          path: `/exports/${name}`,
          capacity: '1Gi',
          accessModes: ['ReadWriteMany'],
          storageClassName: `nfs-${ns}`,
          ...spec,
        },
      },
    });
  const readExport = async (name: string) =>
    (await custom.getClusterCustomObject({ ...api, name: exportName(name) })) as NfsExport;
  const exportWhere = (name: string, what: string, ok: (e: NfsExport) => boolean, timeoutMs = 30_000) =>
    eventually(
      `export ${exportName(name)} ${what}`,
      async () => {
        const e = await readExport(name);
        return ok(e) ? e : undefined;
      },
      timeoutMs,
      250,
    );
  const readVolume = (name: string) => core.readPersistentVolume({ name: volumeName(name) });
  const claim = (name: string) => {
    const c = pvc(name, { namespace: ns, storageClass: `nfs-${ns}`, modes: ['ReadWriteMany'] });
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const boundTo = (claimName: string) =>
    eventually(`${claimName} Bound`, async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });
  const condition = (e: NfsExport, type: string) => e.status?.conditions?.find((c) => c.type === type);
  /** Waits until read fails: the object is gone. */
  const gone = (what: string, read: () => Promise<unknown>) =>
    eventually(`${what} gone`, async () =>
      (await read().then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    );
  // Events of a cluster-scoped object are written to the default namespace.
  const eventOf = (name: string, reason: string) =>
    eventually(`event ${reason} on ${exportName(name)}`, async () =>
      (await events.listNamespacedEvent({ namespace: 'default' })).items.find(
        (x) => x.regarding?.name === exportName(name) && x.reason === reason,
      ),
    );

  it('makes one Available volume per export, as declared, and shows it in kubectl get', async () => {
    const created = (await createExport(
      'a',
      { mountOptions: ['nfsvers=4.1', 'hard'] },
      { tier: 'gold' },
    )) as NfsExport;
    const e = await exportWhere('a', 'Available', (x) => x.status?.phase === 'Available');
    expect(e.status).to.deep.include({
      volumeName: volumeName('a'),
      accessModes: 'RWX',
      observedGeneration: 1,
    });
    expect(condition(e, 'Ready')).to.include({ status: 'True', reason: 'VolumeReady' });
    expect(e.metadata?.finalizers).to.include('pvlifecycle.io/volume-protection');
    const v = await readVolume('a');
    expect(v.spec?.nfs).to.deep.include({ server: '10.0.0.5', path: '/exports/a' });
    expect(v.spec?.nfs?.readOnly ?? false).to.equal(false);
    expect(v.spec?.mountOptions).to.deep.equal(['nfsvers=4.1', 'hard']);
    expect(v.spec?.capacity?.storage).to.equal('1Gi');
    expect(v.metadata?.labels).to.include({ tier: 'gold', 'pvlifecycle.io/nfs-export': exportName('a') });
    expect(v.metadata?.ownerReferences?.[0]).to.include({ kind: 'NfsExport', uid: created.metadata?.uid });
    const table = await kubectl(testCluster().kubectl, testCluster().kubeconfig, [
      'get',
      'nfsx',
      exportName('a'),
    ]);
    expect(table.split('\n')[1]).to.match(
      new RegExp(
        `^${exportName('a')}\\s+10\\.0\\.0\\.5\\s+/exports/a\\s+1Gi\\s+RWX\\s+Retain\\s+Available\\s+\\d+s`,
      ),
    );
  });

  it('shows the claim once bound; Recycle goes Released → Recycling → Available on the same volume', async () => {
    await createExport('r', { persistentVolumeReclaimPolicy: 'Recycle' });
    await exportWhere('r', 'Available', (x) => x.status?.phase === 'Available');
    const uid = (await readVolume('r')).metadata?.uid;
    await claim('c');
    expect(await boundTo('c')).to.equal(volumeName('r'));
    await exportWhere(
      'r',
      'Bound with the claim',
      (x) => x.status?.phase === 'Bound' && x.status.claim === `${ns}/c`,
    );
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    await exportWhere('r', 'Recycling', (x) => x.status?.phase === 'Recycling');
    const back = await exportWhere('r', 'Available again', (x) => x.status?.phase === 'Available');
    expect(back.status?.claim).to.equal(undefined);
    expect((await readVolume('r')).metadata?.uid).to.equal(uid);
  });

  it('Delete scrubs, deletes the volume and makes a fresh one, Available', async () => {
    await createExport('d', { persistentVolumeReclaimPolicy: 'Delete' });
    await exportWhere('d', 'Available', (x) => x.status?.phase === 'Available');
    const uid = (await readVolume('d')).metadata?.uid;
    await claim('c');
    await boundTo('c');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    const fresh = await eventually(
      'a fresh volume',
      async () => {
        const v = await readVolume('d').catch(() => undefined);
        return v && v.metadata?.uid !== uid && v.status?.phase === 'Available' ? v : undefined;
      },
      40_000,
    );
    expect(fresh.spec?.claimRef).to.equal(undefined);
    await exportWhere('d', 'Available', (x) => x.status?.phase === 'Available');
  });

  it('holds the deletion of an export while its volume is bound, then removes the volume (never the data)', async () => {
    await createExport('held');
    await exportWhere('held', 'Available', (x) => x.status?.phase === 'Available');
    await claim('c');
    await boundTo('c');
    await custom.deleteClusterCustomObject({ ...api, name: exportName('held') });
    const blocked = await exportWhere(
      'held',
      'blocked',
      (x) => condition(x, 'Ready')?.reason === 'DeletionBlocked',
    );
    expect(condition(blocked, 'Ready')?.message).to.contain(`claim ${ns}/c`);
    expect((await readVolume('held')).status?.phase).to.equal('Bound');
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    await gone('the export', () => readExport('held'));
    await gone('the volume', () => readVolume('held'));
  });

  it('puts back a hand edit of the volume, and takes safe spec changes', async () => {
    await createExport('drift', { mountOptions: ['hard'] });
    await exportWhere('drift', 'Available', (x) => x.status?.phase === 'Available');
    await core.patchPersistentVolume(
      {
        name: volumeName('drift'),
        body: { spec: { capacity: { storage: '50Gi' }, mountOptions: ['soft'] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('drift put back', async () => {
      const v = await readVolume('drift');
      return v.spec?.capacity?.storage === '1Gi' && v.spec.mountOptions?.[0] === 'hard' ? v : undefined;
    });
    await custom.patchClusterCustomObject(
      { ...api, name: exportName('drift'), body: { spec: { capacity: '2Gi' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('capacity follows the spec', async () =>
      (await readVolume('drift')).spec?.capacity?.storage === '2Gi' ? true : undefined,
    );
  });

  it('refuses an unsafe change while bound with a condition, and leaves the volume as it is', async () => {
    await createExport('unsafe');
    await exportWhere('unsafe', 'Available', (x) => x.status?.phase === 'Available');
    await claim('c');
    await boundTo('c');
    await custom.patchClusterCustomObject(
      { ...api, name: exportName('unsafe'), body: { spec: { accessModes: ['ReadWriteOnce'] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const e = await exportWhere(
      'unsafe',
      'refusing',
      (x) => condition(x, 'Ready')?.reason === 'UnsafeChangeRefused',
    );
    expect(condition(e, 'Ready')?.message).to.contain('accessModes cannot change while claim');
    const v: V1PersistentVolume = await readVolume('unsafe');
    expect(v.spec?.accessModes).to.deep.equal(['ReadWriteMany']);
  });

  it('makes a free volume anew when the export moves to another path', async () => {
    await createExport('moved');
    await exportWhere('moved', 'Available', (x) => x.status?.phase === 'Available');
    const before = await readVolume('moved');
    await custom.patchClusterCustomObject(
      { ...api, name: exportName('moved'), body: { spec: { path: '/exports/moved-on' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const after = await eventually('the volume made anew', async () => {
      const v = await readVolume('moved').catch(() => undefined);
      return v && v.metadata?.uid !== before.metadata?.uid ? v : undefined;
    });
    expect(after.spec?.nfs).to.deep.include({ server: '10.0.0.5', path: '/exports/moved-on' });
    expect((await eventOf('moved', 'VolumeReplaced')).type).to.equal('Normal');
    await exportWhere('moved', 'Available again', (x) => x.status?.phase === 'Available');
  });

  it('never adopts a volume of its name that is not its own', async () => {
    const foreign = await core.createPersistentVolume({
      body: {
        metadata: { name: volumeName('taken') },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteMany'],
          nfs: { server: '10.0.0.9', path: '/elsewhere' },
          storageClassName: `other-${ns}`,
        },
      },
    });
    try {
      await createExport('taken');
      const e = await exportWhere(
        'taken',
        'reporting the name taken',
        (x) => condition(x, 'Ready')?.reason === 'VolumeNameTaken',
      );
      expect(condition(e, 'Ready')?.message).to.contain(`${volumeName('taken')} exists and does not belong`);
      expect(e.status?.phase).to.equal('Pending');
      const v = await readVolume('taken');
      expect(v.metadata?.uid).to.equal(foreign.metadata?.uid);
      expect(v.metadata?.ownerReferences).to.equal(undefined);
      expect(v.spec?.nfs?.path).to.equal('/elsewhere');
      // It never held the export: deleting the export leaves the volume alone.
      await custom.deleteClusterCustomObject({ ...api, name: exportName('taken') });
      await gone('the export', () => readExport('taken'));
      expect((await readVolume('taken')).metadata?.uid).to.equal(foreign.metadata?.uid);
    } finally {
      await core.deletePersistentVolume({ name: volumeName('taken') });
    }
  });
});
