// Dynamic provisioning against a real NFS server: the operator (a process)
// makes a directory per claim on nfs-ganesha over its user-space NFSv4
// client, and deletes, archives or keeps exactly that directory when the
// claim goes. The test reads and plants files in the server's backing
// directory, as a pod writing through a mount would. It runs in both modes:
// with the operator's own binder (make test-integration), and beside the
// in-tree binder with --controllers=*,-binder (make test-managed), where
// kube-controller-manager names the provisioner on claims and binds.
import { chmod, lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type EventsV1Event,
  type V1PersistentVolume,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { provisioningClaims } from '../support/provisioning-claims.ts';
import { eventually, sleep } from '../support/wait.ts';

const provisioner = 'pvlifecycle.io/nfs';

describe('dynamic NFS provisioning (operator process, nfs-ganesha)', function () {
  this.timeout(90_000);
  let server: NfsServer | undefined;
  let operator: OperatorProcess | undefined;
  let core: CoreV1Api;
  let storage: StorageV1Api;
  let custom: CustomObjectsApi;
  let eventsApi: EventsV1Api;
  let port = 0;
  const ns = 'provisioning';
  const { claim, boundVolume, volumeGone } = provisioningClaims(() => core, ns);
  const log = join(repoRoot, '.cluster', 'test-logs', 'operator-provisioning.log');
  const startOperator = async () =>
    OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: [
        ...(testCluster().state.inTreeBinder ? ['--controllers=*,-binder'] : []),
        '--nfs-port',
        String(port),
        '--probe-interval',
        '0',
        '--probe-timeout',
        '2s',
      ],
      logFile: log,
    });

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    port = await closedPort();
    server = await startNfsServer(this, 'nfs-provisioning', port);
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    storage = kc.makeApiClient(StorageV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const classes: [string, Record<string, string>, string?][] = [
      ['nfs-delete', { server: '127.0.0.1', path: '/export', mode: '0750', uid: '1234', gid: '5678' }],
      ['nfs-archive', { server: '127.0.0.1', path: '/export', onDelete: 'archive' }],
      ['nfs-keep-dir', { server: '127.0.0.1', path: '/export', onDelete: 'retain' }],
      ['nfs-retain', { server: '127.0.0.1', path: '/export' }, 'Retain'],
      [
        'nfs-pool',
        { nfsExport: 'pool-a', pathPattern: 'pool/${pvc.metadata.namespace}-${pvc.metadata.name}' },
      ],
      [
        'nfs-by-dir',
        {
          server: '127.0.0.1',
          path: '/export',
          pathPattern: 'dirs/${pvc.metadata.annotations.example.com/dir}',
        },
      ],
      [
        'nfs-adopt',
        {
          server: '127.0.0.1',
          path: '/export',
          pathPattern: 'dirs/${pvc.metadata.annotations.example.com/dir}',
          existingDirectory: 'adopt',
        },
      ],
      ['nfs-typo', { server: '127.0.0.1', path: '/export', archiveOnDelete: 'true' }],
      ['nfs-late', { server: '127.0.0.1', path: '/export' }],
    ];
    for (const [name, parameters, reclaimPolicy] of classes) {
      await storage.createStorageClass({
        body: {
          metadata: { name },
          provisioner,
          volumeBindingMode: name === 'nfs-late' ? 'WaitForFirstConsumer' : 'Immediate',
          parameters,
          reclaimPolicy: reclaimPolicy ?? 'Delete',
          mountOptions: ['nfsvers=4.1'],
          allowVolumeExpansion: name === 'nfs-delete',
        },
      });
    }
    await custom.createClusterCustomObject({
      group: 'pvlifecycle.io',
      version: 'v1alpha1',
      plural: 'nfsexports',
      body: {
        apiVersion: 'pvlifecycle.io/v1alpha1',
        kind: 'NfsExport',
        metadata: { name: 'pool-a' },
        spec: {
          server: '127.0.0.1',
          path: '/export',
          capacity: '100Gi',
          accessModes: ['ReadWriteMany'],
          storageClassName: 'pool-a-whole',
        },
      },
    });
    operator = await startOperator();
  });

  after(async function () {
    this.timeout(30_000);
    await operator?.stop();
    await server?.stop();
  });

  const onDisk = (...parts: string[]) => join(server?.exportDir ?? '/nonexistent', ...parts);

  const directoryOf = (pv: V1PersistentVolume): string =>
    pv.metadata?.annotations?.['pvlifecycle.io/nfs-directory'] ?? '(none)';

  async function eventFor(
    name: string,
    reason: string,
    timeoutMs = 30_000,
    note?: RegExp,
  ): Promise<EventsV1Event> {
    return eventually(
      `event ${reason} on ${name}${note ? ` saying ${note.source}` : ''}`,
      async () =>
        (await eventsApi.listEventForAllNamespaces({ fieldSelector: `regarding.name=${name}` })).items.find(
          (e) => e.reason === reason && (!note || note.test(e.note ?? '')),
        ),
      timeoutMs,
    );
  }

  const exists = (path: string) =>
    lstat(path).then(
      () => true,
      () => false,
    );

  async function deleteClaim(name: string): Promise<void> {
    await core.deleteNamespacedPersistentVolumeClaim({ name, namespace: ns });
  }

  it('makes a directory per claim, owned and moded as the class says, pre-bound and then Bound', async () => {
    await claim('plain', 'nfs-delete');
    const pv = await boundVolume('plain');
    const dir = directoryOf(pv);
    expect(dir).to.match(/^provisioning-plain-pvc-[0-9a-f-]{36}$/);
    expect(pv.metadata?.name).to.match(/^pvc-/);
    expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).to.equal(provisioner);
    expect(pv.spec?.nfs).to.deep.equal({ server: '127.0.0.1', path: `/export/${dir}` });
    expect(pv.spec?.mountOptions).to.deep.equal(['nfsvers=4.1']);
    expect(pv.spec?.persistentVolumeReclaimPolicy).to.equal('Delete');
    const st = await stat(onDisk(dir));
    expect(st.isDirectory()).to.equal(true);
    expect(st.mode & 0o7777).to.equal(0o750);
    expect([st.uid, st.gid]).to.deep.equal([1234, 5678]);
    expect((await eventFor('plain', 'ProvisioningSucceeded')).note).to.contain(pv.metadata?.name);
  });

  it('waits for the scheduler under WaitForFirstConsumer, then provisions', async () => {
    await claim('late', 'nfs-late');
    await sleep(2000);
    const waiting = await core.readNamespacedPersistentVolumeClaim({ name: 'late', namespace: ns });
    expect(waiting.status?.phase).to.equal('Pending');
    expect(waiting.spec?.volumeName).to.equal(undefined);
    // What the scheduler writes once it picked a node for the claim's pod.
    await core.patchNamespacedPersistentVolumeClaim(
      {
        name: 'late',
        namespace: ns,
        body: { metadata: { annotations: { 'volume.kubernetes.io/selected-node': 'node-1' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const pv = await boundVolume('late');
    expect(pv.spec?.nodeAffinity).to.equal(undefined);
  });

  it('expands a volume when its claim asks for more and the class allows it', async () => {
    await claim('grow', 'nfs-delete');
    const pv = await boundVolume('grow');
    await core.patchNamespacedPersistentVolumeClaim(
      { name: 'grow', namespace: ns, body: { spec: { resources: { requests: { storage: '3Gi' } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('the claim shows 3Gi', async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: 'grow', namespace: ns });
      return c.status?.capacity?.storage === '3Gi' ? true : undefined;
    });
    expect(
      (await core.readPersistentVolume({ name: pv.metadata?.name ?? '' })).spec?.capacity?.storage,
    ).to.equal('3Gi');
    expect((await eventFor('grow', 'VolumeResizeSuccessful')).note).to.match(/NFS does not enforce the size/);
  });

  it('deletes exactly that directory and what lies beneath, never following a symlink out', async () => {
    await claim('deep', 'nfs-delete');
    const pv = await boundVolume('deep');
    const dir = onDisk(directoryOf(pv));
    await chmod(dir, 0o777);
    await mkdir(join(dir, 'a/b/c'), { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(dir, 'a/b/c', `f${String(i)}`), 'data');
    const outside = onDisk('outside-keep');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'precious'), 'keep me');
    await symlink(outside, join(dir, 'a/link-out'));
    await symlink(join(outside, 'precious'), join(dir, 'file-link'));
    await deleteClaim('deep');
    await volumeGone(pv.metadata?.name ?? '');
    expect(await exists(dir)).to.equal(false);
    expect(await readFile(join(outside, 'precious'), 'utf8')).to.equal('keep me');
    expect((await eventFor(pv.metadata?.name ?? '', 'VolumeDeleted')).note).to.match(
      /deleted .* \(5\d entries\) and let the volume go/,
    );
  });

  it('archives the directory beside itself with onDelete: archive, its files kept', async () => {
    await claim('arch', 'nfs-archive');
    const pv = await boundVolume('arch');
    const leaf = directoryOf(pv);
    await writeFile(join(onDisk(leaf), 'report.txt'), 'q3');
    await deleteClaim('arch');
    await volumeGone(pv.metadata?.name ?? '');
    expect(await exists(onDisk(leaf))).to.equal(false);
    const archived = (await readdir(onDisk())).filter((n) => n.startsWith(`archived-${leaf}-`));
    expect(archived).to.have.length(1);
    expect(await readFile(onDisk(archived[0] ?? '', 'report.txt'), 'utf8')).to.equal('q3');
  });

  it('keeps the directory with onDelete: retain, and keeps volume and directory with reclaimPolicy Retain', async () => {
    await claim('keep-dir', 'nfs-keep-dir');
    await claim('keep-all', 'nfs-retain');
    const kept = await boundVolume('keep-dir');
    const retained = await boundVolume('keep-all');
    await deleteClaim('keep-dir');
    await deleteClaim('keep-all');
    await volumeGone(kept.metadata?.name ?? '');
    expect(await exists(onDisk(directoryOf(kept)))).to.equal(true);
    await eventually('the Retain volume Released', async () => {
      const v = await core.readPersistentVolume({ name: retained.metadata?.name ?? '' });
      return v.status?.phase === 'Released' ? true : undefined;
    });
    await sleep(2000);
    expect((await core.readPersistentVolume({ name: retained.metadata?.name ?? '' })).status?.phase).to.equal(
      'Released',
    );
    expect(await exists(onDisk(directoryOf(retained)))).to.equal(true);
  });

  it('holds a volume deleted by hand until its directory is dealt with by its policy', async () => {
    await claim('by-hand', 'nfs-delete');
    await claim('by-hand-kept', 'nfs-retain');
    const deleted = await boundVolume('by-hand');
    const kept = await boundVolume('by-hand-kept');
    // Bound: kubernetes.io/pv-protection and the provisioner's finalizer hold it.
    await core.deletePersistentVolume({ name: deleted.metadata?.name ?? '' });
    await sleep(1000);
    expect(await exists(onDisk(directoryOf(deleted)))).to.equal(true);
    await deleteClaim('by-hand');
    await volumeGone(deleted.metadata?.name ?? '');
    expect(await exists(onDisk(directoryOf(deleted)))).to.equal(false);
    // Retain: the volume deleted by hand goes, its directory stays.
    await deleteClaim('by-hand-kept');
    await eventually('the Retain volume Released', async () =>
      (await core.readPersistentVolume({ name: kept.metadata?.name ?? '' })).status?.phase === 'Released'
        ? true
        : undefined,
    );
    await core.deletePersistentVolume({ name: kept.metadata?.name ?? '' });
    await volumeGone(kept.metadata?.name ?? '');
    expect(await exists(onDisk(directoryOf(kept)))).to.equal(true);
  });

  it('carves pool volumes from a declared NfsExport and counts them in its status', async () => {
    await claim('pooled', 'nfs-pool');
    const pv = await boundVolume('pooled');
    expect(directoryOf(pv)).to.equal('pool/provisioning-pooled');
    expect(pv.metadata?.annotations?.['pvlifecycle.io/nfs-pool']).to.equal('pool-a');
    await eventually('the pool counts its volume', async () => {
      const e = (await custom.getClusterCustomObject({
        group: 'pvlifecycle.io',
        version: 'v1alpha1',
        plural: 'nfsexports',
        name: 'pool-a',
      })) as { status?: { provisionedVolumes?: number } };
      return e.status?.provisionedVolumes === 1 ? true : undefined;
    });
  });

  it('refuses a second claim whose pattern gives a directory already in use', async () => {
    await claim('first', 'nfs-by-dir', { 'example.com/dir': 'shared' });
    await boundVolume('first');
    await claim('second', 'nfs-by-dir', { 'example.com/dir': 'shared' });
    const e = await eventFor('second', 'ProvisioningFailed');
    expect(e.note).to.match(/dirs\/shared .* overlaps volume pvc-/);
    const c = await core.readNamespacedPersistentVolumeClaim({ name: 'second', namespace: ns });
    expect(c.status?.phase).to.equal('Pending');
  });

  it('refuses a class parameter it does not know and a hostile annotation, naming them', async () => {
    await claim('typo', 'nfs-typo');
    expect((await eventFor('typo', 'ProvisioningFailed')).note).to.match(
      /parameter "archiveOnDelete": unknown/,
    );
    await claim('climb', 'nfs-by-dir', { 'example.com/dir': '../../etc' });
    expect((await eventFor('climb', 'ProvisioningFailed')).note).to.match(
      /parameter pathPattern: .*contains "\/"/,
    );
    expect(await exists(onDisk('..', 'etc'))).to.equal(false);
  });

  it('takes over a directory that holds files only when the class says adopt', async () => {
    await mkdir(onDisk('dirs', 'prepared'), { recursive: true });
    await writeFile(onDisk('dirs', 'prepared', 'seed'), 'x');
    await claim('refused-existing', 'nfs-by-dir', { 'example.com/dir': 'prepared' });
    expect((await eventFor('refused-existing', 'ProvisioningFailed')).note).to.match(
      /already exists and is not empty.*existingDirectory: adopt/,
    );
    await deleteClaim('refused-existing');
    await claim('adopting', 'nfs-adopt', { 'example.com/dir': 'prepared' });
    const pv = await boundVolume('adopting');
    expect(directoryOf(pv)).to.equal('dirs/prepared');
    expect(await readFile(onDisk('dirs', 'prepared', 'seed'), 'utf8')).to.equal('x');
  });

  it('deletes nothing when the directory at the recorded path is no longer the one it made', async () => {
    await claim('swapped', 'nfs-delete');
    const pv = await boundVolume('swapped');
    const dir = onDisk(directoryOf(pv));
    await rm(dir, { recursive: true });
    await mkdir(dir);
    await writeFile(join(dir, 'someone-elses'), 'data');
    await deleteClaim('swapped');
    // The server may first answer for the old directory (NFS4ERR_STALE, retried); the refusal follows.
    const e = await eventFor(
      pv.metadata?.name ?? '',
      'VolumeFailedDelete',
      30_000,
      /no longer the directory/,
    );
    expect(e.note).to.match(/no longer the directory this volume was given .*nothing was deleted/);
    expect(await readFile(join(dir, 'someone-elses'), 'utf8')).to.equal('data');
    expect((await core.readPersistentVolume({ name: pv.metadata?.name ?? '' })).status?.phase).to.equal(
      'Released',
    );
  });

  it('resumes a long delete after a restart, and says how far it got', async function () {
    this.timeout(180_000);
    await claim('big', 'nfs-delete');
    const pv = await boundVolume('big');
    const dir = onDisk(directoryOf(pv));
    await chmod(dir, 0o777);
    // More entries than one reconcile's budget of calls.
    for (let d = 0; d < 10; d++) {
      await mkdir(join(dir, `d${String(d)}`));
      await Promise.all(
        Array.from({ length: 400 }, (_, i) => writeFile(join(dir, `d${String(d)}`, `f${String(i)}`), '')),
      );
    }
    await deleteClaim('big');
    const progress = await eventFor(pv.metadata?.name ?? '', 'DeletingDirectory', 60_000);
    expect(progress.note).to.match(/removed \d+ entries of 127\.0\.0\.1:\/export\/.*; going on/);
    await operator?.stop();
    expect(await exists(dir)).to.equal(true);
    operator = await startOperator();
    await volumeGone(pv.metadata?.name ?? '');
    expect(await exists(dir)).to.equal(false);
  });

  it('reports a server that is gone while provisioning, and provisions once it is back', async function () {
    this.timeout(180_000);
    await server?.pause();
    await claim('outage', 'nfs-delete');
    const e = await eventFor('outage', 'ProvisioningFailed', 60_000);
    expect(e.note).to.match(/could not reach NFS server 127\.0\.0\.1/);
    await server?.resume();
    const pv = await eventually('provisioned after the outage', () => boundVolume('outage'), 120_000);
    expect(await exists(onDisk(directoryOf(pv)))).to.equal(true);
  });

  it('says plainly when the server squashes root and refuses the directory', async function () {
    this.timeout(180_000);
    // The same files, served again with Squash=Root_Squash: /export belongs to root, mode 0755.
    await chmod(onDisk(), 0o755);
    server = await startNfsServer(this, 'nfs-provisioning', port, { squash: 'root' });
    try {
      await claim('squashed', 'nfs-delete');
      const e = await eventFor('squashed', 'ProvisioningFailed', 60_000, /NFS4ERR_ACCESS/);
      expect(e.note).to.match(
        /the server refused to make directory .* \(NFS4ERR_ACCESS in CREATE\): .*root_squash/,
      );
      expect(
        (await core.readNamespacedPersistentVolumeClaim({ name: 'squashed', namespace: ns })).status?.phase,
      ).to.equal('Pending');
    } finally {
      server = await startNfsServer(this, 'nfs-provisioning', port);
    }
    // Put right on the server, the claim is provisioned on a later try.
    await boundVolume('squashed');
  });
});
