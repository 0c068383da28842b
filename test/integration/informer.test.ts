// The runtime's informer against the real apiserver: sync, events, typed
// objects, indexes, recovery from errors, the watchdog, resync and stop.
import { join } from 'node:path';

import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  type V1PersistentVolume,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { withoutManagedFields } from '../../src/runtime/store.ts';
import { Informer, type ListPage } from '../../src/runtime/informer.ts';
import { repoRoot, testCluster } from './cluster-hooks.ts';
import { kubectl } from '../support/kubectl.ts';
import { apiServerOf, FreezableProxy } from '../support/tcp-proxy.ts';
import { eventually, sleep } from '../support/wait.ts';

function volume(name: string, labels: Record<string, string> = {}): V1PersistentVolume {
  return {
    metadata: { name, labels: { 'informer-test': 'yes', ...labels } },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      hostPath: { path: `/tmp/${name}` },
      storageClassName: 'informer-test',
    },
  };
}

describe('informer', () => {
  const informers: { stop(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  function volumeInformer(
    extra: {
      watchdogMs?: number;
      resyncPeriodMs?: number;
      pageSize?: number;
      transform?: (v: V1PersistentVolume) => V1PersistentVolume;
    } = {},
    kc = testCluster().kubeConfig(),
  ) {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = new Informer<V1PersistentVolume>({
      name: 'persistentvolumes',
      kubeConfig: kc,
      path: '/api/v1/persistentvolumes',
      list: (page) => core.listPersistentVolume(page),
      model: 'V1PersistentVolume',
      indexers: {
        tier: (v) => (v.metadata?.labels?.['informer-tier'] ? [v.metadata.labels['informer-tier']] : []),
      },
      ...extra,
    });
    informers.push(informer);
    return { informer, core };
  }

  it('does not bring back, by a write-back, an object the watch has deleted', async () => {
    const { informer, core } = volumeInformer();
    informer.start();
    await informer.waitForSync();
    const written = await core.createPersistentVolume({ body: volume('inf-ghost') });
    await eventually('inf-ghost seen', () => (informer.store.get('inf-ghost') ? true : undefined));
    await core.deletePersistentVolume({ name: 'inf-ghost' });
    await eventually('inf-ghost gone', () => (informer.store.get('inf-ghost') ? undefined : true));
    // A controller's write that landed just before the deletion, written back just after it.
    informer.writeBack({ ...written, metadata: { ...written.metadata, resourceVersion: '999999999' } });
    expect(informer.store.get('inf-ghost')).to.equal(undefined);
  });

  it('syncs what exists, then delivers typed add, update and delete events, and keeps indexes', async () => {
    const { informer, core } = volumeInformer();
    await core.createPersistentVolume({ body: volume('inf-a', { 'informer-tier': 'gold' }) });
    const seen: string[] = [];
    informer.on({
      add: (v) => seen.push(`add ${v.metadata?.name ?? ''}`),
      update: (old, v) =>
        seen.push(
          `update ${v.metadata?.name ?? ''} ${old.metadata?.labels?.['informer-tier'] ?? ''}->${v.metadata?.labels?.['informer-tier'] ?? ''}`,
        ),
      delete: (v) => seen.push(`delete ${v.metadata?.name ?? ''}`),
    });
    expect(informer.hasSynced()).to.be.false;
    informer.start();
    await informer.waitForSync();
    expect(informer.hasSynced()).to.be.true;
    expect(informer.store.get('inf-a')?.metadata?.creationTimestamp).to.be.instanceOf(Date);
    expect(informer.store.byIndex('tier', 'gold').map((v) => v.metadata?.name)).to.deep.equal(['inf-a']);

    await core.createPersistentVolume({ body: volume('inf-b') });
    await eventually('add of inf-b', () => (informer.store.get('inf-b') ? true : undefined));
    // Objects from the watch are typed like listed ones.
    expect(informer.store.get('inf-b')?.metadata?.creationTimestamp).to.be.instanceOf(Date);

    await core.patchPersistentVolume(
      { name: 'inf-a', body: { metadata: { labels: { 'informer-tier': 'silver' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.deletePersistentVolume({ name: 'inf-b' });
    await eventually('delete of inf-b', () => (seen.includes('delete inf-b') ? true : undefined));
    expect(seen).to.include.members(['add inf-a', 'add inf-b', 'update inf-a gold->silver', 'delete inf-b']);
    expect(informer.store.byIndex('tier', 'gold')).to.deep.equal([]);
    expect(informer.store.byIndex('tier', 'silver').map((v) => v.metadata?.name)).to.deep.equal(['inf-a']);
    await core.deletePersistentVolume({ name: 'inf-a' });
  });

  it('lists in pages of pageSize, following the continue token, into one consistent store', async () => {
    const names = ['inf-page-0', 'inf-page-1', 'inf-page-2', 'inf-page-3', 'inf-page-4'];
    const kc = testCluster().kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of names)
      await core.createPersistentVolume({ body: volume(name, { 'informer-page': 'yes' }) });
    const asked: ListPage[] = [];
    const informer = new Informer<V1PersistentVolume>({
      name: 'paged',
      kubeConfig: kc,
      path: '/api/v1/persistentvolumes',
      labelSelector: 'informer-page=yes',
      pageSize: 2,
      list: (page) => {
        asked.push(page);
        return core.listPersistentVolume({ ...page, labelSelector: 'informer-page=yes' });
      },
      model: 'V1PersistentVolume',
    });
    informers.push(informer);
    informer.start();
    await informer.waitForSync();
    expect(informer.store.keys().sort()).to.deep.equal(names);
    expect(asked.map((p) => p.limit)).to.deep.equal([2, 2, 2]);
    expect(asked[0]?._continue).to.equal(undefined);
    expect(asked[1]?._continue).to.be.a('string').and.not.equal('');
    // The watch starts where the list's snapshot ended: a later change arrives.
    await core.patchPersistentVolume(
      { name: 'inf-page-3', body: { metadata: { labels: { 'informer-tier': 'gold' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await eventually('the change after the paged list', () =>
      informer.store.get('inf-page-3')?.metadata?.labels?.['informer-tier'] === 'gold' ? true : undefined,
    );
    for (const name of names) await core.deletePersistentVolume({ name });
  });

  it('stores what the transform returns, for listed, watched and written-back objects', async () => {
    const { informer, core } = volumeInformer({ transform: withoutManagedFields });
    const listed = await core.createPersistentVolume({ body: volume('inf-tf-listed') });
    expect(listed.metadata?.managedFields).to.have.length.above(0);
    informer.start();
    await informer.waitForSync();
    expect(informer.store.get('inf-tf-listed')?.metadata?.managedFields).to.equal(undefined);
    expect(informer.store.get('inf-tf-listed')?.metadata?.creationTimestamp).to.be.instanceOf(Date);
    await core.createPersistentVolume({ body: volume('inf-tf-watched') });
    await eventually('inf-tf-watched seen', () => (informer.store.get('inf-tf-watched') ? true : undefined));
    expect(informer.store.get('inf-tf-watched')?.metadata?.managedFields).to.equal(undefined);
    const cached = informer.store.get('inf-tf-listed');
    if (!cached) throw new Error('inf-tf-listed is not cached');
    const written = await core.replacePersistentVolume({
      name: 'inf-tf-listed',
      body: { ...cached, metadata: { ...cached.metadata, labels: { ...cached.metadata?.labels, w: 'yes' } } },
    });
    expect(written.metadata?.managedFields).to.have.length.above(0);
    informer.writeBack(written);
    expect(informer.store.get('inf-tf-listed')?.metadata?.labels?.w).to.equal('yes');
    expect(informer.store.get('inf-tf-listed')?.metadata?.managedFields).to.equal(undefined);
    await core.deletePersistentVolume({ name: 'inf-tf-listed' });
    await core.deletePersistentVolume({ name: 'inf-tf-watched' });
  });

  it('a PUT of a copy without managedFields leaves the server with the managedFields a PUT of the full copy does', async () => {
    // The controllers update the objects they cached (without managedFields)
    // with PUT, spec and status. Two twins, written by the same managers the
    // same way; one updated from its full copy, one from its copy without.
    const kc = testCluster().kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const entries = async (name: string) =>
      ((await core.readPersistentVolume({ name })).metadata?.managedFields ?? [])
        .map((f) => ({
          manager: f.manager,
          operation: f.operation,
          subresource: f.subresource,
          fieldsV1: f.fieldsV1 as unknown,
        }))
        // The same entries, whatever their order (which differs between the two).
        .sort((a, b) =>
          `${a.manager ?? ''}/${a.subresource ?? ''}`.localeCompare(
            `${b.manager ?? ''}/${b.subresource ?? ''}`,
          ),
        );
    const results: Record<string, unknown> = {};
    for (const [name, strip] of [
      ['inf-mf-full', false],
      ['inf-mf-stripped', true],
    ] as const) {
      const created = await core.createPersistentVolume({ body: volume(name), fieldManager: 'creator' });
      await core.replacePersistentVolumeStatus({
        name,
        body: { ...created, status: { phase: 'Available' } },
        fieldManager: 'status-writer',
      });
      const read = await core.readPersistentVolume({ name });
      expect((await entries(name)).map((e) => e.manager)).to.deep.equal(['creator', 'status-writer']);
      const copy = strip ? withoutManagedFields(read) : read;
      expect(copy.metadata?.managedFields === undefined).to.equal(strip);
      const updated = await core.replacePersistentVolume({
        name,
        body: {
          ...copy,
          metadata: { ...copy.metadata, annotations: { 'informer-test/bound': 'yes' } },
          spec: { ...copy.spec, persistentVolumeReclaimPolicy: 'Delete' },
        },
        fieldManager: 'controller',
      });
      const again = strip ? withoutManagedFields(updated) : updated;
      await core.replacePersistentVolumeStatus({
        name,
        body: { ...again, status: { phase: 'Released' } },
        fieldManager: 'controller',
      });
      results[name] = await entries(name);
    }
    const full = results['inf-mf-full'] as { manager?: string }[];
    // status-writer's one field, status.phase, is the controller's now.
    expect(full.map((e) => e.manager)).to.deep.equal(['controller', 'controller', 'creator']);
    expect(results['inf-mf-stripped']).to.deep.equal(full);
    await core.deletePersistentVolume({ name: 'inf-mf-full' });
    await core.deletePersistentVolume({ name: 'inf-mf-stripped' });
  });

  it('keeps retrying with backoff while the resource does not exist, and syncs once it does', async function () {
    this.timeout(60_000);
    const c = testCluster();
    const kc = c.kubeConfig();
    const custom = kc.makeApiClient(CustomObjectsApi);
    const group = 'informer-test.pvlifecycle.io';
    const informer = new Informer<{ metadata?: { name?: string } }>({
      name: 'widgets',
      kubeConfig: kc,
      path: `/apis/${group}/v1/widgets`,
      list: () => custom.listClusterCustomObject({ group, version: 'v1', plural: 'widgets' }) as never,
      initialBackoffMs: 100,
      maxBackoffMs: 400,
    });
    informers.push(informer);
    informer.start();
    await eventually('a few failed attempts', () => (informer.restarts >= 3 ? true : undefined), 10_000);
    expect(informer.hasSynced()).to.be.false;

    await kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({
      body: {
        metadata: { name: `widgets.${group}` },
        spec: {
          group,
          scope: 'Cluster',
          names: { kind: 'Widget', plural: 'widgets', singular: 'widget' },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
            },
          ],
        },
      },
    });
    await kubectl(c.kubectl, c.kubeconfig, ['wait', '--for=condition=Established', `crd/widgets.${group}`]);
    await informer.waitForSync();
    await kubectl(
      c.kubectl,
      c.kubeconfig,
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w1' } }),
    );
    await eventually('the widget to arrive', () => (informer.store.get('w1') ? true : undefined));
  });

  it('restarts a silent watch and keeps delivering events', async function () {
    this.timeout(30_000);
    const { informer, core } = volumeInformer({ watchdogMs: 700 });
    informer.start();
    await informer.waitForSync();
    await eventually(
      'the watchdog to restart the watch',
      () => (informer.restarts >= 1 ? true : undefined),
      10_000,
    );
    await core.createPersistentVolume({ body: volume('inf-after-watchdog') });
    await eventually('the add after restarts', () =>
      informer.store.get('inf-after-watchdog') ? true : undefined,
    );
    await core.deletePersistentVolume({ name: 'inf-after-watchdog' });
  });

  it('re-delivers every stored object on resync, and nothing after stop', async () => {
    const { informer, core } = volumeInformer({ resyncPeriodMs: 200 });
    await core.createPersistentVolume({ body: volume('inf-resync') });
    const resynced = new Set<string>();
    let eventsAfterStop = 0;
    let stopped = false;
    informer.on({
      resync: (v) => resynced.add(v.metadata?.name ?? ''),
      add: () => {
        if (stopped) eventsAfterStop++;
      },
    });
    informer.start();
    await informer.waitForSync();
    await eventually('a resync', () => (resynced.has('inf-resync') ? true : undefined), 5_000);
    await informer.stop();
    stopped = true;
    await core.createPersistentVolume({ body: volume('inf-after-stop') });
    await sleep(500);
    expect(eventsAfterStop).to.equal(0);
    expect(informer.store.get('inf-after-stop')).to.be.undefined;
    await core.deletePersistentVolume({ name: 'inf-resync' });
    await core.deletePersistentVolume({ name: 'inf-after-stop' });
  });

  it('stops at once while its watch is still connecting through a network that swallows everything', async function () {
    this.timeout(30_000);
    const proxy = await FreezableProxy.start(apiServerOf(testCluster().kubeConfig()));
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(
        proxy.kubeconfigVia(
          testCluster().kubeconfig,
          join(repoRoot, '.cluster', 'test-logs', `informer-${String(process.pid)}.kubeconfig`),
        ),
      );
      const { informer } = volumeInformer({}, kc);
      informer.start();
      await informer.waitForSync();
      // The watch starts right after the list: cut the network before it can
      // connect, so it hangs in the connection.
      proxy.freeze();
      await sleep(500);
      const start = Date.now();
      await informer.stop();
      const ms = Date.now() - start;
      process.stderr.write(`      stopped in ${String(ms)} ms while connecting\n`);
      // client-node's watch gives up a connection only after 30 s of silence.
      expect(ms, 'stop() waited for the connecting watch').to.be.below(5_000);
    } finally {
      proxy.thaw();
      await proxy.close();
    }
  });
});
