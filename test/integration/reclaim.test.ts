// Reclaim, as a user sees it: the operator process, the API and its events.
// kwok runs the scrub Jobs' pods: they succeed at once, or, steered by the
// kwokoutcome label from a recycler pod template, succeed late or fail.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import {
  BatchV1Api,
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  type V1Job,
  type V1PersistentVolume,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { recyclerJobName, scrubClaimName } from '../../src/reclaim/job.ts';
import { type VolumeSpec, pv, pvc } from '../support/objects.ts';
import { operatorOnly, started, startUnlessUpstream } from '../support/binder-under-test.ts';
import { grantOperatorNamespace } from '../support/operator-identity.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { type ScrubOutcome, startReclaimOperator } from '../support/reclaim-operator.ts';
import { Timeline } from '../support/timeline.ts';
import { eventually, sleep } from '../support/wait.ts';

const operatorNamespace = 'pv-lifecycle-system';

describe('reclaim (operator process)', function () {
  this.timeout(90_000);
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let eventsApi: EventsV1Api;
  let n = 0;
  let ns = '';

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: operatorNamespace } } }).catch(() => undefined);
  });

  beforeEach(async () => {
    ns = `reclaim-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  /** An operator whose recycler pods carry kwokoutcome=<outcome> (ok: succeed at once). */
  const operatorFor = (outcome: ScrubOutcome) => ({ start: () => startReclaimOperator('reclaim', outcome) });

  const volumeName = (name: string) => `${ns}-${name}`;
  const volume = (name: string, s: VolumeSpec = {}): Promise<V1PersistentVolume> => {
    const v = pv(volumeName(name), { storageClass: `class-${ns}`, ...s });
    delete v.status;
    return core.createPersistentVolume({ body: v });
  };
  const claim = async (name: string) => {
    const c = pvc(name, { storageClass: `class-${ns}`, namespace: ns });
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const readVolume = (name: string) => core.readPersistentVolume({ name: volumeName(name) });
  const phaseOf = async (name: string) => (await readVolume(name)).status?.phase;
  const waitPhase = (name: string, phase: string, timeoutMs = 30_000) =>
    eventually(
      `${volumeName(name)} ${phase}`,
      async () => {
        const v = await readVolume(name);
        return v.status?.phase === phase ? v : undefined;
      },
      timeoutMs,
    );
  const boundTo = (claimName: string) =>
    eventually(`${claimName} Bound`, async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });
  const volumeEvent = (name: string, reason: string) =>
    eventually(`${reason} event about ${volumeName(name)}`, async () =>
      (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.find(
        (e) => e.regarding?.name === volumeName(name) && e.reason === reason,
      ),
    );
  const jobsFor = async (name: string) =>
    (await batch.listNamespacedJob({ namespace: operatorNamespace })).items.filter(
      (j) => j.metadata?.annotations?.['pvlifecycle.io/volume-name'] === volumeName(name),
    );
  /** Binds a claim to the volume, then deletes the claim: the volume becomes Released. */
  async function release(name: string, claimName = 'c'): Promise<string> {
    const c = await claim(claimName);
    expect(await boundTo(claimName)).to.equal(volumeName(name));
    await core.deleteNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
    return c.metadata?.uid ?? '';
  }
  const annotate = (name: string, annotations: Record<string, string | null>) =>
    core.patchPersistentVolume(
      { name: volumeName(name), body: { metadata: { annotations } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );

  describe('with scrubs that succeed', () => {
    let operator: OperatorProcess | undefined;
    before(async () => {
      operator = await startUnlessUpstream(operatorFor('ok').start);
    });
    after(async () => {
      if (operator) expect((await operator.stop()).code).to.equal(0);
    });

    it('Recycle: scrubs with a Job of this release, clears claimRef, and a new claim binds', async function () {
      operatorOnly(this, 'its scrub Job');
      const v = await volume('v', { reclaimPolicy: 'Recycle' });
      const uid = await release('v');
      const job = await eventually('the scrub Job', async () => (await jobsFor('v'))[0]);
      expect(job.metadata?.name?.length).to.be.at.most(63);
      expect(job.metadata?.annotations?.['pvlifecycle.io/volume-uid']).to.equal(v.metadata?.uid);
      expect(job.metadata?.annotations?.['pvlifecycle.io/claim-uid']).to.equal(uid);
      expect(job.metadata?.ownerReferences?.[0]).to.include({
        kind: 'PersistentVolume',
        uid: v.metadata?.uid,
      });
      expect(job.spec?.template.spec?.volumes?.[0]?.hostPath?.path).to.equal(`/data/${volumeName('v')}`);
      const available = await waitPhase('v', 'Available');
      expect(available.spec?.claimRef).to.equal(undefined);
      const e = await volumeEvent('v', 'VolumeRecycled');
      expect(e.note).to.equal('Volume recycled');
      await eventually('the Job deleted', async () => ((await jobsFor('v')).length === 0 ? true : undefined));
      await claim('next');
      expect(await boundTo('next')).to.equal(volumeName('v'));
    });

    it('Recycle keeps an administrator pre-binding: Available for a claim of that name only', async () => {
      await volume('reserved', { reclaimPolicy: 'Recycle', claimRef: { namespace: ns, name: 'c' } });
      const uid = await release('reserved');
      await volumeEvent('reserved', 'VolumeRecycled');
      const v = await waitPhase('reserved', 'Available');
      expect(v.spec?.claimRef).to.include({ namespace: ns, name: 'c' });
      expect(v.spec?.claimRef?.uid ?? '').to.equal('');
      expect(v.metadata?.annotations?.['pv.kubernetes.io/bound-by-controller']).to.equal(undefined);
      // Still reserved: a claim of another name is not given it, a new claim of the name is.
      await claim('other');
      await sleep(2000);
      expect(
        (await core.readNamespacedPersistentVolumeClaim({ name: 'other', namespace: ns })).status?.phase,
      ).to.equal('Pending');
      const again = await claim('c');
      expect(again.metadata?.uid).not.to.equal(uid);
      expect(await boundTo('c')).to.equal(volumeName('reserved'));
    });

    it('a claim re-created with the released name does not stall the recycle on the pods that name it', async function () {
      operatorOnly(this, 'its ReclaimWaiting event');
      await volume('named', { reclaimPolicy: 'Recycle' });
      await claim('c');
      expect(await boundTo('c')).to.equal(volumeName('named'));
      // A pod naming the claim that no node takes: it never mounts anything, so
      // nothing holds the claim's deletion back, yet it names the claim.
      await eventually('a pod naming the claim', () =>
        core
          .createNamespacedPod({
            namespace: ns,
            body: {
              metadata: { name: 'app' },
              spec: {
                nodeSelector: { 'pvlifecycle.io/test-no-such-node': 'none' },
                containers: [{ name: 'app', image: 'busybox:1.37' }],
                volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'c' } }],
              },
            },
          })
          .catch(() => undefined),
      );
      await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
      // No claim of that name: the pod may yet start with the released volume, so the scrub waits.
      const waiting = await volumeEvent('named', 'ReclaimWaiting');
      expect(waiting.note).to.contain(`${ns}/app`);
      expect(await phaseOf('named')).to.equal('Released');
      // A new claim of the name: the pod names it now, the scrub runs, the new claim gets the clean volume.
      await claim('c');
      expect(await boundTo('c')).to.equal(volumeName('named'));
      await volumeEvent('named', 'VolumeRecycled');
    });

    it('Retain: stays Released with its claimRef and no Job', async () => {
      await volume('kept', { reclaimPolicy: 'Retain' });
      const uid = await release('kept');
      await waitPhase('kept', 'Released');
      await sleep(3000);
      const v = await readVolume('kept');
      expect(v.status?.phase).to.equal('Released');
      expect(v.spec?.claimRef?.uid).to.equal(uid);
      expect(await jobsFor('kept')).to.have.length(0);
    });

    it('Delete of a volume that is not ours: Failed, with a message saying what to do', async () => {
      const base = pv(volumeName('static'), { storageClass: `class-${ns}`, reclaimPolicy: 'Delete' });
      delete base.status;
      // No plugin deletes NFS volumes; nothing mounts this one, so the name is never looked up.
      const nfs = { server: `${ns}.example.com`, path: '/exports/static' };
      await core.createPersistentVolume({
        body: { ...base, spec: { ...base.spec, hostPath: undefined, nfs } },
      });
      await release('static');
      const failed = await waitPhase('static', 'Failed');
      expect(failed.status?.message).to.equal(
        `error getting deleter volume plugin for volume "${volumeName('static')}": no deletable volume plugin matched`,
      );
      const e = await volumeEvent('static', 'VolumeFailedDelete');
      expect(e.type).to.equal('Warning');
      expect(e.note).to.contain('delete the data and the PersistentVolume yourself');
      expect(await jobsFor('static')).to.have.length(0);
    });

    it('Delete of a CSI volume no provisioner made: left Released to its driver, without a word', async () => {
      await volume('driver', { reclaimPolicy: 'Delete', csi: true });
      const uid = await release('driver');
      await waitPhase('driver', 'Released');
      await sleep(3000);
      const v = await readVolume('driver');
      expect(v.status?.phase).to.equal('Released');
      expect(v.spec?.claimRef?.uid).to.equal(uid);
      const said = (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.filter(
        (e) => e.regarding?.name === volumeName('driver'),
      );
      expect(said.map((e) => e.reason)).to.deep.equal([]);
      expect(await jobsFor('driver')).to.have.length(0);
    });

    it("Delete of a hostPath volume outside /tmp/: Failed with upstream's message, data untouched", async () => {
      await volume('host', { reclaimPolicy: 'Delete' });
      await release('host');
      const failed = await waitPhase('host', 'Failed');
      expect(failed.status?.message).to.equal(
        `host_path deleter only supports /tmp/.+ but received provided /data/${volumeName('host')}`,
      );
      const e = await volumeEvent('host', 'VolumeFailedDelete');
      expect(e.type).to.equal('Warning');
      expect(e.note).to.contain('delete the data and the PersistentVolume yourself');
      expect(await jobsFor('host')).to.have.length(0);
    });

    it('Delete of a hostPath volume under /tmp/: the PersistentVolume goes, no Job touches the node', async () => {
      const v = pv(volumeName('tmp'), { storageClass: `class-${ns}`, reclaimPolicy: 'Delete' });
      delete v.status;
      v.spec = { ...v.spec, hostPath: { path: `/tmp/${volumeName('tmp')}` } };
      await core.createPersistentVolume({ body: v });
      await release('tmp');
      await eventually('the volume deleted', async () => {
        try {
          await readVolume('tmp');
          return undefined;
        } catch {
          return true;
        }
      });
      const e = await volumeEvent('tmp', 'VolumeDeleted');
      expect(e.type).to.equal('Normal');
      expect(e.note).to.contain(`/tmp/${volumeName('tmp')} was kept on its node`);
      expect(await jobsFor('tmp')).to.have.length(0);
      const started = (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.filter(
        (x) => x.regarding?.name === volumeName('tmp') && x.reason === 'DeleteStarted',
      );
      expect(started).to.have.length(0);
    });

    it('on request "release": Available again with its data, no scrub', async function () {
      operatorOnly(this, 'the pvlifecycle.io/reclaim request');
      await volume('reuse', { reclaimPolicy: 'Retain' });
      await release('reuse');
      await waitPhase('reuse', 'Released');
      await annotate('reuse', { 'pvlifecycle.io/reclaim': 'release' });
      const v = await waitPhase('reuse', 'Available');
      expect(v.spec?.claimRef).to.equal(undefined);
      expect(v.metadata?.annotations?.['pvlifecycle.io/reclaim']).to.equal(undefined);
      expect(await jobsFor('reuse')).to.have.length(0);
      await volumeEvent('reuse', 'VolumeReleasedByRequest');
    });

    it('on request "recycle": a Retain volume is scrubbed and reused', async function () {
      operatorOnly(this, 'the pvlifecycle.io/reclaim request');
      await volume('scrub-me', { reclaimPolicy: 'Retain' });
      await release('scrub-me');
      await waitPhase('scrub-me', 'Released');
      await annotate('scrub-me', { 'pvlifecycle.io/reclaim': 'recycle' });
      await volumeEvent('scrub-me', 'VolumeRecycled');
      const v = await waitPhase('scrub-me', 'Available');
      expect(v.metadata?.annotations?.['pvlifecycle.io/reclaim']).to.equal(undefined);
    });

    it('a request on a volume that is not Released is refused and removed', async function () {
      operatorOnly(this, 'the pvlifecycle.io/reclaim request');
      await volume('busy', { reclaimPolicy: 'Retain' });
      await claim('c');
      await boundTo('c');
      await annotate('busy', { 'pvlifecycle.io/reclaim': 'recycle' });
      const e = await volumeEvent('busy', 'ReclaimRequestIgnored');
      expect(e.note).to.contain('applies only to a Released volume');
      await eventually('annotation removed', async () =>
        (await readVolume('busy')).metadata?.annotations?.['pvlifecycle.io/reclaim'] === undefined
          ? true
          : undefined,
      );
      expect(await phaseOf('busy')).to.equal('Bound');
    });

    it('Delete of a volume this operator made: scrubbed, then the PersistentVolume is deleted', async function () {
      operatorOnly(this, 'its own provisioner name, scrub Job and metrics');
      const v = pv(volumeName('ours'), { storageClass: `class-${ns}`, reclaimPolicy: 'Delete' });
      delete v.status;
      v.metadata = {
        ...v.metadata,
        annotations: { 'pv.kubernetes.io/provisioned-by': 'pvlifecycle.io/nfs-export' },
      };
      await core.createPersistentVolume({ body: v });
      await release('ours');
      await eventually('the volume deleted', async () => {
        try {
          await readVolume('ours');
          return undefined;
        } catch {
          return true;
        }
      });
      await eventually('the Job deleted', async () =>
        (await jobsFor('ours')).length === 0 ? true : undefined,
      );
      const metrics = await started(operator).metrics();
      expect(metrics).to.match(
        /pv_lifecycle_reclaim_operations_total\{operation="delete",policy="Delete",result="succeeded"\} [1-9]/,
      );
      expect(metrics).to.match(
        /volume_operation_total_seconds_count\{plugin_name="pvlifecycle.io\/recycler",operation_name="volume_delete"\} [1-9]/,
      );
    });

    it('Delete of a volume this operator made whose claim is bound to another volume: deleted at once', async function () {
      operatorOnly(this, 'its own provisioner name');
      await volume('winner', { reclaimPolicy: 'Retain' });
      const c = await claim('c');
      expect(await boundTo('c')).to.equal(volumeName('winner'));
      // A provisioned volume that lost the race for the claim: it names the claim, uid and all.
      const v = pv(volumeName('loser'), {
        storageClass: `class-${ns}`,
        reclaimPolicy: 'Delete',
        claimRef: { namespace: ns, name: 'c', uid: c.metadata?.uid ?? '' },
      });
      delete v.status;
      v.metadata = {
        ...v.metadata,
        annotations: { 'pv.kubernetes.io/provisioned-by': 'pvlifecycle.io/nfs-export' },
      };
      await core.createPersistentVolume({ body: v });
      await eventually('the losing volume deleted', async () => {
        try {
          await readVolume('loser');
          return undefined;
        } catch {
          return true;
        }
      });
      await volumeEvent('loser', 'DeleteStarted');
      // The claim and its volume are untouched.
      const kept = await core.readNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
      expect(kept.metadata?.uid).to.equal(c.metadata?.uid);
      expect(kept.status?.phase).to.equal('Bound');
      expect(kept.spec?.volumeName).to.equal(volumeName('winner'));
      expect(await phaseOf('winner')).to.equal('Bound');
    });

    it('an NFS volume with mount options is scrubbed through a claim whose volume carries them; both go after', async function () {
      operatorOnly(this, 'its scrub Job and claim');
      const base = pv(volumeName('opts'), { storageClass: `class-${ns}`, reclaimPolicy: 'Recycle' });
      delete base.status;
      await core.createPersistentVolume({
        body: {
          ...base,
          spec: {
            ...base.spec,
            hostPath: undefined,
            // A server of its own: another suite's volume of the same export would block the scrub (rightly).
            nfs: { server: `${ns}.example.com`, path: '/exports/opts' },
            mountOptions: ['nfsvers=4.1', 'hard'],
          },
        },
      });
      const releasedUid = await release('opts');
      const job = await eventually('the scrub Job', async () => (await jobsFor('opts'))[0]);
      const claimName = job.spec?.template.spec?.volumes?.[0]?.persistentVolumeClaim?.claimName ?? '';
      // Named per release (the Job's own name is generated after its template names the claim).
      expect(claimName).to.equal(scrubClaimName(recyclerJobName(volumeName('opts'), releasedUid)));
      const scrubClaim = await eventually('the scrub claim Bound', async () => {
        const c = await core.readNamespacedPersistentVolumeClaim({
          name: claimName,
          namespace: operatorNamespace,
        });
        return c.status?.phase === 'Bound' ? c : undefined;
      });
      expect(scrubClaim.metadata?.ownerReferences?.[0]?.uid).to.equal(job.metadata?.uid);
      const carrier = await core.readPersistentVolume({ name: scrubClaim.spec?.volumeName ?? '' });
      expect(carrier.spec?.mountOptions).to.deep.equal(['nfsvers=4.1', 'hard']);
      expect(carrier.spec?.nfs).to.deep.include({ server: `${ns}.example.com`, path: '/exports/opts' });
      expect(carrier.spec?.persistentVolumeReclaimPolicy).to.equal('Retain');
      await volumeEvent('opts', 'VolumeRecycled');
      expect((await readVolume('opts')).status?.phase).to.equal('Available');
      await eventually(
        'the scrub claim and its volume gone',
        async () => {
          const left = await Promise.all([
            core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: operatorNamespace }).then(
              () => 1,
              () => 0,
            ),
            core.readPersistentVolume({ name: claimName }).then(
              () => 1,
              () => 0,
            ),
          ]);
          return left[0] + left[1] === 0 ? true : undefined;
        },
        40_000,
      );
    });

    it('a volume that cannot be scrubbed ends Failed with VolumeFailedRecycle', async function () {
      operatorOnly(this, 'the pvlifecycle.io/reclaim request');
      await volume('csi', { reclaimPolicy: 'Retain', csi: true });
      await release('csi');
      await waitPhase('csi', 'Released');
      await annotate('csi', { 'pvlifecycle.io/reclaim': 'recycle' });
      const e = await volumeEvent('csi', 'VolumeFailedRecycle');
      expect(e.note).to.match(/csi/);
      await waitPhase('csi', 'Failed');
    });
  });

  it('refuses to start with a recycler template it cannot use, naming the field', async function () {
    operatorOnly(this, 'its own command line');
    const file = join(repoRoot, '.cluster', 'test-logs', 'recycler-template-bad.yaml');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, 'spec:\n  containers:\n    - name: scrub\n      command: ["rm", "-rf", "/"]\n');
    let failure = '';
    try {
      const p = await OperatorProcess.start({
        kubeconfig: operatorKubeconfig(),
        args: ['--namespace', operatorNamespace, '--recycler-pod-template', file],
        readyTimeoutMs: 20_000,
      });
      await p.stop();
    } catch (err) {
      failure = (err as Error).message;
    }
    expect(failure).to.contain('operator exited during start-up');
    expect(failure).to.contain('"code":1');
    expect(failure).to.contain('command');
  });

  describe('with scrub pods refused by Pod Security', () => {
    const restricted = 'reclaim-restricted';
    let operator: OperatorProcess | undefined;
    before(async () => {
      await core.createNamespace({
        body: {
          metadata: { name: restricted, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } },
        },
      });
      await grantOperatorNamespace(testCluster(), restricted);
      operator = await startUnlessUpstream(() =>
        OperatorProcess.start({
          kubeconfig: operatorKubeconfig(),
          args: ['--namespace', restricted],
          logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-reclaim-restricted.log'),
        }),
      );
    });
    after(async () => {
      await operator?.stop();
    });

    it('says why the scrub Job has no pod, and finishes once the namespace admits it', async function () {
      operatorOnly(this, 'its scrub Job and RecycleBlocked event');
      await volume('refused', { reclaimPolicy: 'Recycle' });
      await release('refused');
      const e = await volumeEvent('refused', 'RecycleBlocked');
      expect(e.type).to.equal('Warning');
      expect(e.note).to.contain('the scrub Job cannot create its pod');
      expect(e.note).to.contain('violates PodSecurity');
      expect((await readVolume('refused')).status?.phase).to.equal('Released');

      // The administrator lifts the refusal; the Job controller's next try makes the pod.
      await core.patchNamespace(
        {
          name: restricted,
          body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const v = await waitPhase('refused', 'Available', 120_000);
      expect(v.spec?.claimRef).to.equal(undefined);
    });
  });

  describe('with scrubs that fail', () => {
    let operator: OperatorProcess | undefined;
    before(async () => {
      operator = await startUnlessUpstream(operatorFor('fail').start);
    });
    after(async () => {
      await operator?.stop();
    });

    it('ends Failed with the pod termination message, and retries past the last retry at the longest interval', async function () {
      operatorOnly(this, 'its recycler pod template and retry annotation');
      await volume('bad', { reclaimPolicy: 'Recycle' });
      await release('bad');
      const failed = await waitPhase('bad', 'Failed');
      expect(failed.status?.message).to.contain('scrub failed: 3 entries remain in /scrub');
      const e = await volumeEvent('bad', 'VolumeFailedRecycle');
      expect(e.note).to.contain('scrub failed: 3 entries remain in /scrub');
      // --recycle-max-retries 1, base 2 s: the third attempt is past the last
      // retry and runs anyway, 2 s (the longest interval) after the second.
      const failures = () =>
        readVolume('bad').then(
          (v) => v.metadata?.annotations?.['pvlifecycle.io/reclaim-failures']?.split('/')[1],
        );
      await eventually(
        'a third failure',
        async () => ((await failures()) === '3' ? true : undefined),
        40_000,
      );
      const third = await eventually('the event of the third attempt', async () =>
        (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.find(
          (x) =>
            x.regarding?.name === volumeName('bad') &&
            x.reason === 'VolumeFailedRecycle' &&
            x.note?.includes('(attempt 3, next in 2s)'),
        ),
      );
      expect(third.type).to.equal('Warning');
      expect((await readVolume('bad')).status?.message).to.match(/^scrub Job failed \(attempt [3-9]/);
    });
  });

  describe('with slow scrubs', () => {
    let operator: OperatorProcess | undefined;
    before(async () => {
      operator = await startUnlessUpstream(operatorFor('slow').start);
    });
    after(async () => {
      await operator?.stop();
    });

    it('does not bind a claim re-created with the same name to the half-scrubbed volume', async function () {
      operatorOnly(this, 'its slow recycler pod template');
      await volume('half', { reclaimPolicy: 'Recycle' });
      const oldUid = await release('half');
      await eventually('the scrub Job', async () => (await jobsFor('half'))[0]);
      const again = await claim('c');
      expect(again.metadata?.uid).not.to.equal(oldUid);
      await sleep(2000);
      expect((await readVolume('half')).spec?.claimRef?.uid).to.equal(oldUid);
      expect(
        (await core.readNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns })).status?.phase,
      ).to.equal('Pending');
      // Once the scrub is done, the new claim gets the clean volume.
      expect(await boundTo('c')).to.equal(volumeName('half'));
    });

    it('a volume deleted mid-recycle leaves no Job behind', async function () {
      operatorOnly(this, 'its scrub Job');
      await volume('gone', { reclaimPolicy: 'Recycle' });
      await release('gone');
      await eventually('the scrub Job', async () => (await jobsFor('gone'))[0]);
      await core.deletePersistentVolume({ name: volumeName('gone') });
      // The Job's owner reference lets the garbage collector remove it with the volume.
      await eventually(
        'the Job gone',
        async () => ((await jobsFor('gone')).length === 0 ? true : undefined),
        40_000,
      );
    });

    it('converges when the operator is SIGKILLed mid-recycle', async function () {
      operatorOnly(this, 'its scrub Job and process');
      await volume('crash', { reclaimPolicy: 'Recycle' });
      await release('crash');
      const job = await eventually('the scrub Job', async () => (await jobsFor('crash'))[0]);
      // Killed once the Job is recorded on the volume (killed between the two, the next
      // operator would rightly replace the unrecorded Job: scrub-trust.test.ts).
      await eventually('the Job recorded', async () =>
        (await readVolume('crash')).metadata?.annotations?.['pvlifecycle.io/scrub-job']?.endsWith(
          `/${job.metadata?.uid ?? 'none'}`,
        )
          ? true
          : undefined,
      );
      const jobs = await Timeline.start<V1Job>(
        testCluster().kubeConfig(),
        `/apis/batch/v1/namespaces/${operatorNamespace}/jobs`,
        { labelSelector: `pvlifecycle.io/volume=${volumeName('crash')}` },
      );
      try {
        expect((await started(operator).kill()).signal).to.equal('SIGKILL');
        operator = await operatorFor('slow').start();
        await waitPhase('crash', 'Available', 40_000);
      } finally {
        jobs.stop();
      }
      // The restarted operator found the same Job rather than starting another one (its
      // RecycleStarted event may be lost with the first operator: it is sent after the record).
      expect(jobs.seen.length).to.be.greaterThan(0);
      expect([...new Set(jobs.seen.map((x) => x.object.metadata?.uid))]).to.deep.equal([job.metadata?.uid]);
      const events = (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.filter(
        (e) => e.regarding?.name === volumeName('crash') && e.reason === 'RecycleStarted',
      );
      expect(events).to.have.length.at.most(1);
      expect(events[0]?.series).to.equal(undefined);
    });
  });
});
