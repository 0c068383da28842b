// The operator beside kube-controller-manager's own PV binder, as on a
// managed cluster: --controllers=*,-binder against a control plane started
// with the in-tree binder on (KUBE_INTREE_BINDER=1, make test-managed). The
// in-tree binder binds; the operator's NfsExport volumes say Retain in their
// spec so that its recycler never acts, and the operator's own scrub Job
// recycles them by the policy in pvlifecycle.io/reclaim-policy.
import { join } from 'node:path';

import {
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1PersistentVolume,
  type CoreV1Event,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { annProvisionedBy, annReclaimPolicy, ourProvisioner } from '../../src/kube/annotations.ts';
import { annClaimUid, volumeLabel, volumeLabelValue } from '../../src/reclaim/job.ts';
import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { pvc } from '../support/objects.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

const exportApi = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };
const operatorNamespace = 'pv-lifecycle-system';
/** The in-tree PV controller's event source. */
const inTreeComponent = 'persistentvolume-controller';

describe('beside the in-tree binder (--controllers=*,-binder)', function () {
  this.timeout(120_000);
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let custom: CustomObjectsApi;
  let operator: OperatorProcess | undefined;
  let n = 0;
  let ns = '';

  before(async function () {
    if (!testCluster().state.inTreeBinder) {
      process.stderr.write(
        '  (managed-cluster tests skipped: they need KUBE_INTREE_BINDER=1, make test-managed)\n',
      );
      this.skip();
    }
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: operatorNamespace } } }).catch(() => undefined);
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      // The exports name 127.0.0.1 but no server runs there: no probes.
      args: ['--controllers=*,-binder', '--namespace', operatorNamespace, '--probe-interval', '0'],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-managed.log'),
    });
  });

  after(async () => {
    if (operator) expect((await operator.stop()).code).to.equal(0);
  });

  beforeEach(async () => {
    ns = `managed-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  const cls = () => `nfs-${ns}`;
  const claim = async (name: string) => {
    const c = pvc(name, { namespace: ns, storageClass: cls(), modes: ['ReadWriteMany'] });
    delete c.metadata?.uid;
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const boundTo = (name: string) =>
    eventually(`claim ${name} Bound`, async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });
  const volumeWhere = (name: string, what: string, ok: (v: V1PersistentVolume) => boolean, ms = 30_000) =>
    eventually(
      `volume ${name} ${what}`,
      async () => {
        const v = await core.readPersistentVolume({ name });
        return ok(v) ? v : undefined;
      },
      ms,
      250,
    );
  /** Events on a cluster-scoped volume are written to the default namespace. */
  const eventsOn = async (volumeName: string): Promise<CoreV1Event[]> =>
    (
      await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.kind=PersistentVolume,involvedObject.name=${volumeName}`,
      })
    ).items;
  const from = (e: CoreV1Event) => e.reportingComponent || e.source?.component || '';
  const createExport = (name: string, policy: string) =>
    custom.createClusterCustomObject({
      ...exportApi,
      body: {
        apiVersion: 'pvlifecycle.io/v1alpha1',
        kind: 'NfsExport',
        metadata: { name },
        spec: {
          server: '127.0.0.1',
          path: `/exports/${name}`,
          capacity: '1Gi',
          accessModes: ['ReadWriteMany'],
          storageClassName: cls(),
          persistentVolumeReclaimPolicy: policy,
        },
      },
    });

  it('recycles an NfsExport volume the in-tree binder bound, with its own scrub Job; the in-tree controller does nothing to it', async () => {
    const name = `${ns}-r`;
    const volumeName = `nfsx-${name}`;
    await createExport(name, 'Recycle');
    // The in-tree binder makes it Available; its spec says Retain, the annotation the export's policy.
    const made = await volumeWhere(volumeName, 'Available', (v) => v.status?.phase === 'Available');
    expect(made.spec?.persistentVolumeReclaimPolicy).to.equal('Retain');
    expect(made.metadata?.annotations).to.include({
      [annReclaimPolicy]: 'Recycle',
      [annProvisionedBy]: ourProvisioner,
    });
    await claim('c');
    expect(await boundTo('c')).to.equal(volumeName);
    const bound = await core.readPersistentVolume({ name: volumeName });
    // The in-tree binder's mark: it, not the operator, bound the claim.
    expect(bound.metadata?.annotations).to.include({ 'pv.kubernetes.io/bound-by-controller': 'yes' });
    const claimUid = bound.spec?.claimRef?.uid;

    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    // The operator's scrub Job, for that very release.
    const job = await eventually('the scrub Job', async () => {
      const jobs = await batch.listNamespacedJob({
        namespace: operatorNamespace,
        labelSelector: `${volumeLabel}=${volumeLabelValue(volumeName)}`,
      });
      return jobs.items.find((j) => j.metadata?.annotations?.[annClaimUid] === claimUid);
    });
    expect(job.metadata?.name).to.match(/^recycle-/);
    const back = await volumeWhere(
      volumeName,
      'Available again',
      (v) => v.status?.phase === 'Available' && v.spec?.claimRef === undefined,
      60_000,
    );
    expect(back.metadata?.uid).to.equal(made.metadata?.uid);
    const events = await eventsOn(volumeName);
    expect(events.map((e) => e.reason)).to.include.members(['RecycleStarted', 'VolumeRecycled']);
    expect(events.filter((e) => e.reason === 'VolumeRecycled').map(from)).to.deep.equal([
      'pv-lifecycle-operator',
    ]);
    // Nothing from the in-tree controller: when it recycles it says RecyclerPod and VolumeRecycled
    // here (seen with the spec left at Recycle); its log at --v=1 names no volume either way.
    expect(events.filter((e) => from(e) === inTreeComponent)).to.deep.equal([]);
  });

  it('deletes a Delete export volume after its own scrub, and the export makes it anew; the in-tree controller does nothing', async () => {
    const name = `${ns}-d`;
    const volumeName = `nfsx-${name}`;
    await createExport(name, 'Delete');
    const made = await volumeWhere(volumeName, 'Available', (v) => v.status?.phase === 'Available');
    expect(made.spec?.persistentVolumeReclaimPolicy).to.equal('Retain');
    expect(made.metadata?.annotations?.[annReclaimPolicy]).to.equal('Delete');
    await claim('c');
    expect(await boundTo('c')).to.equal(volumeName);
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    const fresh = await volumeWhere(
      volumeName,
      'made anew and Available',
      (v) => v.metadata?.uid !== made.metadata?.uid && v.status?.phase === 'Available',
      60_000,
    );
    expect(fresh.metadata?.annotations?.[annReclaimPolicy]).to.equal('Delete');
    const events = await eventsOn(volumeName);
    expect(events.filter((e) => from(e) === 'pv-lifecycle-operator').map((e) => e.reason)).to.include(
      'DeleteStarted',
    );
    expect(events.filter((e) => from(e) === inTreeComponent)).to.deep.equal([]);
  });

  it('never acts on a forged or invalid policy annotation: says so on the volume and keeps it Retain', async () => {
    const make = async (suffix: string, annotations: Record<string, string>) => {
      const volumeName = `${ns}-${suffix}`;
      await core.createPersistentVolume({
        body: {
          metadata: { name: volumeName, annotations },
          spec: {
            capacity: { storage: '1Gi' },
            accessModes: ['ReadWriteMany'],
            storageClassName: `${cls()}-${suffix}`,
            persistentVolumeReclaimPolicy: 'Retain',
            nfs: { server: '127.0.0.1', path: `/exports/${volumeName}` },
          },
        },
      });
      const c = pvc(suffix, { namespace: ns, storageClass: `${cls()}-${suffix}`, modes: ['ReadWriteMany'] });
      delete c.metadata?.uid;
      await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
      expect(await boundTo(suffix)).to.equal(volumeName);
      return volumeName;
    };
    // Not made by the operator: an annotation anyone who writes volumes could add.
    const forged = await make('forged', { [annReclaimPolicy]: 'Recycle' });
    // The operator's, with a value that is no policy.
    const invalid = await make('invalid', {
      [annProvisionedBy]: ourProvisioner,
      [annReclaimPolicy]: 'recycle-please',
    });
    for (const suffix of ['forged', 'invalid'])
      await core.deleteNamespacedPersistentVolumeClaim({ name: suffix, namespace: ns });
    const warning = (volumeName: string, text: RegExp) =>
      eventually(`InvalidReclaimPolicy on ${volumeName}`, async () =>
        (await eventsOn(volumeName)).find(
          (e) =>
            e.reason === 'InvalidReclaimPolicy' &&
            e.type === 'Warning' &&
            from(e) === 'pv-lifecycle-operator' &&
            text.test(e.message ?? ''),
        ),
      );
    await warning(forged, /reclaim-policy="Recycle" ignored: only volumes this operator made/);
    await warning(
      invalid,
      /reclaim-policy="recycle-please" is not one of Retain, Recycle, Delete; .*treated as Retain/,
    );
    for (const v of [forged, invalid])
      await volumeWhere(v, 'Released', (x) => x.status?.phase === 'Released');
    // However long it waits, nothing scrubs them.
    await sleep(3000);
    for (const v of [forged, invalid]) {
      const jobs = await batch.listNamespacedJob({
        namespace: operatorNamespace,
        labelSelector: `${volumeLabel}=${volumeLabelValue(v)}`,
      });
      expect(jobs.items.map((j) => j.metadata?.name)).to.deep.equal([]);
      const now = await core.readPersistentVolume({ name: v });
      expect(now.status?.phase).to.equal('Released');
      expect(now.spec?.claimRef?.name).to.equal(v.endsWith('forged') ? 'forged' : 'invalid');
    }
  });
});

describe('with its own binder on beside the in-tree one (the misconfiguration)', function () {
  this.timeout(120_000);
  let core: CoreV1Api;
  let operator: OperatorProcess | undefined;

  before(async function () {
    if (!testCluster().state.inTreeBinder) this.skip();
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
    // The binder alone, so that it leaves the other suite's volumes to the operator there.
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: ['--controllers=binder', '--namespace', operatorNamespace],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-two-binders.log'),
    });
  });

  after(async () => {
    if (operator) expect((await operator.stop()).code).to.equal(0);
  });

  it('notices the in-tree binder by its events: a Warning on the claim, a metric, and /readyz naming the fix', async () => {
    const op = operator;
    if (!op) throw new Error('no operator');
    const ns = 'two-binders';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    // Both binders say ProvisioningFailed about a claim of a class that does not exist.
    const c = pvc('c', { namespace: ns, storageClass: 'no-such-class' });
    delete c.metadata?.uid;
    const created = await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
    const warning = await eventually('OtherBinderDetected on the claim', async () =>
      (
        await core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.uid=${created.metadata?.uid ?? ''},reason=OtherBinderDetected`,
        })
      ).items.find((e) => e.type === 'Warning' && e.reportingComponent === 'pv-lifecycle-operator'),
    );
    expect(warning.message).to.contain('(its ProvisioningFailed): two binders race for the same claims');
    expect(warning.message).to.contain('--controllers=*,-persistentvolume-binder-controller');
    expect(warning.message).to.contain('--controllers=*,-binder');
    expect(await op.metrics()).to.match(
      /^pv_lifecycle_other_binder_events_total\{kind="PersistentVolumeClaim"\} [1-9]/m,
    );
    const ready = await op.get('/readyz');
    expect(ready.status).to.equal(503);
    expect(await ready.text()).to.match(
      /^not ready: other-binder: another PV binder acts on this cluster: persistentvolume-controller recorded ProvisioningFailed on claim two-binders\/c at .*; turn off kube-controller-manager's binder \(--controllers=\*,-persistentvolume-binder-controller\), or run this operator with --controllers=\*,-binder\n$/,
    );
  });
});
