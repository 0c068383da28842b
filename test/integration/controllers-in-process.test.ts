// The controllers in this test's own process, on the manager, against the
// local control plane (as envtest is used): what the process-level suites
// cannot see, the shared caches, a feature on its own, leader gating, and
// stop, is asserted here from the inside.
import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { BindingController } from '../../src/binding/controller.ts';
import { parseControllers } from '../../src/controller-selection.ts';
import { Operator, type OperatorConfig } from '../../src/operator.ts';
import { EventRecorder } from '../../src/runtime/events.ts';
import { silentLog } from '../../src/runtime/log.ts';
import { Manager } from '../../src/runtime/manager.ts';
import { Metrics } from '../../src/runtime/metrics.ts';
import { upstreamBinder } from '../support/binder-under-test.ts';
import { pv, pvc } from '../support/objects.ts';
import { eventually, sleep } from '../support/wait.ts';
import { operatorKubeconfig, testCluster } from './cluster-hooks.ts';

describe('controllers in process, on the manager', function () {
  this.timeout(60_000);
  let core: CoreV1Api;
  let n = 0;
  let ns = '';
  const running: { stop(): Promise<void> }[] = [];

  before(function () {
    // Both binders at once would race for the same claims.
    if (upstreamBinder) this.skip();
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
  });

  beforeEach(async () => {
    ns = `inproc-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
  });

  const cls = () => `class-${ns}`;
  const pair = async (name: string): Promise<void> => {
    const v = pv(`${ns}-${name}`, { storageClass: cls() });
    delete v.status;
    await core.createPersistentVolume({ body: v });
    const c = pvc(name, { storageClass: cls(), namespace: ns });
    delete c.metadata?.uid;
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const readClaim = (name: string): Promise<V1PersistentVolumeClaim> =>
    core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
  const bound = (name: string) =>
    eventually(`${name} Bound`, async () => {
      const c = await readClaim(name);
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });

  /** The operator's ServiceAccount, as in a cluster: a permission config/rbac lacks fails the test. */
  const operatorConfig = (): KubeConfig => {
    const kc = new KubeConfig();
    kc.loadFromFile(operatorKubeconfig());
    return kc;
  };
  const config = (): OperatorConfig => ({
    kubeConfig: operatorConfig(),
    log: silentLog,
    workers: 2,
    resyncPeriodMs: 0,
    metricsBindAddress: undefined,
    namespace: 'pv-lifecycle-system',
    recycleMaxRetries: 3,
    probe: { intervalMs: 0, timeoutMs: 1000, concurrency: 1 },
  });

  it('runs every controller over one cache per kind, binds, and leaves a Retain volume Released', async () => {
    const op = await Operator.create(config());
    running.push(op);
    await op.start();
    expect(op.ready()).to.equal(true);
    expect(Object.keys(op.manager.cacheSizes()).sort()).to.deep.equal([
      'nfsexports',
      'persistentvolumeclaims',
      'persistentvolumes',
      'recycler-jobs',
      'storageclasses',
    ]);
    // The binder, the reclaimer and the export controller read the same volume cache.
    expect(op.binding.volumes.store.size).to.equal(op.manager.cacheSizes().persistentvolumes);
    await pair('c');
    const volumeName = await bound('c');
    expect(volumeName).to.equal(`${ns}-c`);
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    await eventually('volume Released', async () =>
      (await core.readPersistentVolume({ name: `${ns}-c` })).status?.phase === 'Released' ? true : undefined,
    );
    expect(op.reclaim.isScrubbing(`${ns}-c`)).to.equal(false);
  });

  it('runs one feature alone on a manager: the binder needs neither reclaim nor NfsExports', async () => {
    const manager = new Manager({
      kubeConfig: operatorConfig(),
      log: silentLog,
      metrics: new Metrics(),
      workers: 2,
      resyncPeriodMs: 0,
      requestTimeoutMs: 10_000,
    });
    const events = new EventRecorder({
      api: manager.api.make(EventsV1Api),
      log: silentLog,
      reportingController: 'pv-lifecycle-operator',
      reportingInstance: 'in-process-test',
    });
    manager.add({ name: 'events', start: () => undefined, stop: () => events.stop() });
    new BindingController(manager, { events, log: silentLog });
    running.push(manager);
    await manager.start();
    expect(Object.keys(manager.readyChecks())).to.deep.equal(['binding']);
    expect(Object.keys(manager.cacheSizes()).sort()).to.deep.equal([
      'persistentvolumeclaims',
      'persistentvolumes',
      'storageclasses',
    ]);
    await pair('alone');
    expect(await bound('alone')).to.equal(`${ns}-alone`);
  });

  it('with --controllers=*,-binder runs reclaim, NfsExports and the provisioner, and binds nothing', async () => {
    const op = await Operator.create({ ...config(), controllers: parseControllers('*,-binder') });
    running.push(op);
    await op.start();
    expect(op.ready()).to.equal(true);
    expect(Object.keys(op.manager.readyChecks()).sort()).to.deep.equal([
      'nfsexports',
      'provisioner',
      'reclaim',
    ]);
    expect(Object.keys(op.manager.cacheSizes()).sort()).to.deep.equal([
      'nfsexports',
      'persistentvolumeclaims',
      'persistentvolumes',
      'recycler-jobs',
      'storageclasses',
    ]);
    expect(() => op.binding).to.throw('the binder controller is not running (--controllers)');
    await pair('managed');
    // The NfsExport controller does run: it makes the export's volume.
    const custom = testCluster().kubeConfig().makeApiClient(CustomObjectsApi);
    const exportApi = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };
    await custom.createClusterCustomObject({
      ...exportApi,
      body: {
        apiVersion: 'pvlifecycle.io/v1alpha1',
        kind: 'NfsExport',
        metadata: { name: ns },
        spec: { server: '127.0.0.1', path: `/${ns}`, capacity: '1Gi', accessModes: ['ReadWriteOnce'] },
      },
    });
    try {
      await eventually('the export volume', () =>
        core.readPersistentVolume({ name: `nfsx-${ns}` }).then(
          (v) => v,
          () => undefined,
        ),
      );
    } finally {
      await custom.deleteClusterCustomObject({ ...exportApi, name: ns });
    }
    // However long it waits, the operator binds nothing (and the control plane's binder is off here).
    await sleep(1500);
    expect((await readClaim('managed')).status?.phase ?? 'Pending').to.equal('Pending');
    expect((await core.readPersistentVolume({ name: `${ns}-managed` })).spec?.claimRef).to.equal(undefined);
  });

  it('keeps its caches warm but binds nothing until it leads', async () => {
    const op = await Operator.create(config());
    running.push(op);
    let lead: () => void = () => undefined;
    const started = op.start(new Promise<void>((resolve) => (lead = resolve)));
    await eventually('caches synced', () => (op.ready() ? true : undefined));
    await pair('standby');
    await eventually('the claim in the cache', () =>
      op.binding.claims.store.get(`${ns}/standby`) ? true : undefined,
    );
    // However long it waits, a standby writes nothing.
    await sleep(1500);
    expect((await readClaim('standby')).status?.phase ?? 'Pending').to.equal('Pending');
    expect((await core.readPersistentVolume({ name: `${ns}-standby` })).spec?.claimRef).to.equal(undefined);
    lead();
    await started;
    expect(await bound('standby')).to.equal(`${ns}-standby`);
  });

  it('stops: no reconcile runs after stop resolves, and a later claim stays Pending', async () => {
    const op = await Operator.create(config());
    await op.start();
    await pair('before');
    await bound('before');
    await op.stop();
    expect(op.manager.runningKeys()).to.deep.equal([]);
    await pair('after');
    await sleep(1500);
    expect((await readClaim('after')).status?.phase ?? 'Pending').to.equal('Pending');
  });
});
