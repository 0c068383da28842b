// Scrub Jobs cannot be forged, and a scrub stops when its volume leaves the
// release. Anyone with Job or pod rights in the operator's namespace can copy
// a scrub Job's name, labels, annotations and owner reference; these tests do
// exactly that, before and during a release, and check from a watch of the
// volume that it never became Available before a scrub this operator created,
// recorded and verified. kwok runs the pods (see cluster/kwok-stages).

import {
  BatchV1Api,
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  type V1Job,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  type V1Pod,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  annClaimUid,
  annOperation,
  annVolumeName,
  annVolumeUid,
  managedByLabel,
  recyclerJobName,
} from '../../src/reclaim/job.ts';
import { annScrubJob } from '../../src/reclaim/trust.ts';
import { testCluster } from './cluster-hooks.ts';
import { pv, pvc } from '../support/objects.ts';
import type { OperatorProcess } from '../support/operator-process.ts';
import { type ScrubOutcome, startReclaimOperator } from '../support/reclaim-operator.ts';
import { Timeline } from '../support/timeline.ts';
import { eventually } from '../support/wait.ts';

const operatorNamespace = 'pv-lifecycle-system';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('scrub Jobs cannot be forged, and stop when the volume leaves the release', function () {
  this.timeout(120_000);
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let eventsApi: EventsV1Api;
  let n = 0;
  let ns = '';
  const timelines: Timeline<unknown>[] = [];

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: operatorNamespace } } }).catch(() => undefined);
  });

  beforeEach(async () => {
    ns = `trust-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterEach(() => {
    for (const t of timelines.splice(0)) t.stop();
  });

  const startOperator = (outcome: ScrubOutcome) => startReclaimOperator('trust', outcome, 2);

  const volumeName = (name: string) => `${ns}-${name}`;
  const storageClass = () => `class-${ns}`;
  const volume = (name: string): Promise<V1PersistentVolume> => {
    const v = pv(volumeName(name), { storageClass: storageClass(), reclaimPolicy: 'Recycle' });
    delete v.status;
    return core.createPersistentVolume({ body: v });
  };
  const claim = (name: string) => {
    const c = pvc(name, { storageClass: storageClass(), namespace: ns });
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const readVolume = (name: string) => core.readPersistentVolume({ name: volumeName(name) });
  const boundTo = (claimName: string) =>
    eventually(`${claimName} Bound`, async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });
  const volumeEvent = (name: string, reason: string, timeoutMs = 30_000) =>
    eventually(
      `${reason} event about ${volumeName(name)}`,
      async () =>
        (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.find(
          (e) => e.regarding?.name === volumeName(name) && e.reason === reason,
        ),
      timeoutMs,
    );
  const jobGone = (name: string, uid: string | undefined) =>
    eventually(`Job ${name} (${uid ?? ''}) gone`, async () => {
      try {
        const j = await batch.readNamespacedJob({ name, namespace: operatorNamespace });
        return j.metadata?.uid === uid ? undefined : true;
      } catch {
        return true;
      }
    });
  async function release(name: string): Promise<string> {
    const c = await claim('c');
    expect(await boundTo('c')).to.equal(volumeName(name));
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });
    return c.metadata?.uid ?? '';
  }
  async function watchVolume(name: string): Promise<Timeline<V1PersistentVolume>> {
    const t = await Timeline.start<V1PersistentVolume>(
      testCluster().kubeConfig(),
      '/api/v1/persistentvolumes',
      {
        fieldSelector: `metadata.name=${volumeName(name)}`,
      },
    );
    timelines.push(t);
    return t;
  }
  /** The Job this operator recorded on the volume for its current release. */
  const recordedJob = (name: string) =>
    eventually(`a scrub Job recorded on ${volumeName(name)}`, async () => {
      const [, jobName, jobUid] = ((await readVolume(name)).metadata?.annotations?.[annScrubJob] ?? '').split(
        '/',
      );
      return jobName && jobUid ? { jobName, jobUid } : undefined;
    });
  /**
   * A Job that looks like the operator's scrub of this release in every field
   * anyone can set, but runs `true`; unlabelled, it stays out of the
   * operator's Job informer (which selects the managed-by label).
   */
  function forgedJob(v: V1PersistentVolume, claimUid: string, jobName: string, labelled = true): V1Job {
    const meta: { labels: Record<string, string>; annotations: Record<string, string> } = {
      labels: labelled
        ? { [managedByLabel.key]: managedByLabel.value, 'pvlifecycle.io/volume': v.metadata?.name ?? '' }
        : { 'pvlifecycle.io/volume': v.metadata?.name ?? '' },
      annotations: {
        [annVolumeName]: v.metadata?.name ?? '',
        [annVolumeUid]: v.metadata?.uid ?? '',
        [annClaimUid]: claimUid,
        [annOperation]: 'recycle',
      },
    };
    return {
      metadata: {
        name: jobName,
        namespace: operatorNamespace,
        ...meta,
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'PersistentVolume',
            name: v.metadata?.name ?? '',
            uid: v.metadata?.uid ?? '',
            controller: true,
          },
        ],
      },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: meta,
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'scrub', image: 'busybox:1.37', command: ['true'] }],
          },
        },
      },
    };
  }
  /** The first time the volume was seen Available after it was Released, and the records seen before that. */
  function availableAfterRelease(t: Timeline<V1PersistentVolume>): { records: string[]; available: boolean } {
    const records: string[] = [];
    let released = false;
    for (const s of t.seen) {
      const record = s.object.metadata?.annotations?.[annScrubJob];
      if (record && records.at(-1) !== record) records.push(record);
      if (s.object.status?.phase === 'Released') released = true;
      if (released && s.object.status?.phase === 'Available') return { records, available: true };
    }
    return { records, available: false };
  }

  describe('scrubs that succeed at once', () => {
    let operator: OperatorProcess;
    before(async () => {
      operator = await startOperator('ok');
    });
    after(async () => {
      expect((await operator.stop()).code).to.equal(0);
    });

    it('a labelled look-alike Job made while the volume is bound is deleted at once', async () => {
      const v = await volume('bound');
      const c = await claim('c');
      expect(await boundTo('c')).to.equal(volumeName('bound'));
      const name = recyclerJobName(volumeName('bound'), c.metadata?.uid ?? '');
      const forged = await batch.createNamespacedJob({
        namespace: operatorNamespace,
        body: forgedJob(v, c.metadata?.uid ?? '', name),
      });
      await jobGone(name, forged.metadata?.uid);
      const mismatch = await volumeEvent('bound', 'ReclaimJobMismatch');
      expect(mismatch.note).to.include(name).and.include('it is Bound now');
      expect((await readVolume('bound')).status?.phase).to.equal('Bound');
    });

    it('an unlabelled look-alike Job made before the release, already Complete, is replaced, never trusted', async () => {
      const v = await volume('early');
      const c = await claim('c');
      expect(await boundTo('c')).to.equal(volumeName('early'));
      const name = recyclerJobName(volumeName('early'), c.metadata?.uid ?? '');
      const forged = await batch.createNamespacedJob({
        namespace: operatorNamespace,
        body: forgedJob(v, c.metadata?.uid ?? '', name, false),
      });
      await eventually('the look-alike Complete', async () => {
        const j = await batch.readNamespacedJob({ name, namespace: operatorNamespace });
        return j.status?.conditions?.some((x) => x.type === 'Complete' && x.status === 'True')
          ? true
          : undefined;
      });
      const t = await watchVolume('early');
      await core.deleteNamespacedPersistentVolumeClaim({ name: 'c', namespace: ns });

      const mismatch = await volumeEvent('early', 'ReclaimJobMismatch');
      expect(mismatch.note).to.include(name).and.include('not the one this operator recorded');
      await jobGone(name, forged.metadata?.uid);
      await volumeEvent('early', 'VolumeRecycled', 40_000);
      const seen = await eventually('Available after the release', () => {
        const r = availableAfterRelease(t);
        return r.available ? r : undefined;
      });
      // Before it was Available, a Job other than the look-alike was recorded, and the look-alike never was.
      expect(seen.records).to.have.length.greaterThan(0);
      for (const r of seen.records) expect(r).not.to.include(forged.metadata?.uid ?? 'none');
      expect(seen.records.at(-1)?.split('/')[0]).to.equal(c.metadata?.uid);
    });
  });

  describe('scrubs that take 8 s', () => {
    let operator: OperatorProcess;
    before(async () => {
      operator = await startOperator('slow');
    });
    after(async () => {
      expect((await operator.stop()).code).to.equal(0);
    });

    it('a look-alike Job made during the scrub is deleted; a forged pod of the real Job fails the attempt', async () => {
      const v = await volume('during');
      const t = await watchVolume('during');
      const claimUid = await release('during');
      const ours = await recordedJob('during');

      // A second Job for the same release, under another name.
      const other = await batch.createNamespacedJob({
        namespace: operatorNamespace,
        body: forgedJob(v, claimUid, `${ours.jobName.slice(0, 50)}-fake`),
      });
      const mismatch = await volumeEvent('during', 'ReclaimJobMismatch');
      expect(mismatch.note).to.include(other.metadata?.name ?? 'none');
      await jobGone(other.metadata?.name ?? '', other.metadata?.uid);

      // A pod that names the real Job as its controller, carries its labels and
      // the Job controller's tracking finalizer, and exits 0 at once.
      await core.createNamespacedPod({
        namespace: operatorNamespace,
        body: {
          metadata: {
            name: `forged-${String(n)}`,
            labels: {
              'batch.kubernetes.io/controller-uid': ours.jobUid,
              'batch.kubernetes.io/job-name': ours.jobName,
              'controller-uid': ours.jobUid,
              'job-name': ours.jobName,
            },
            finalizers: ['batch.kubernetes.io/job-tracking'],
            ownerReferences: [
              { apiVersion: 'batch/v1', kind: 'Job', name: ours.jobName, uid: ours.jobUid, controller: true },
            ],
          },
          spec: {
            restartPolicy: 'Never',
            containers: [
              {
                name: 'scrub',
                image: 'busybox:1.37',
                command: ['/bin/sh', '-c', 'echo scrubbed 0 entries from /scrub >/dev/termination-log'],
              },
            ],
          },
        },
      });
      const failed = await volumeEvent('during', 'VolumeFailedRecycle', 40_000);
      expect(failed.note).to.include('could not be verified').and.include('another command');
      await volumeEvent('during', 'VolumeRecycled', 60_000);
      const seen = availableAfterRelease(t);
      expect(seen.available).to.equal(true);
      // Available only after a second Job of ours, not the one the forged pod joined.
      expect(seen.records.at(-1)).not.to.include(ours.jobUid);
      expect(seen.records.at(-1)?.split('/')[0]).to.equal(claimUid);
    });

    it('clearing claimRef mid-scrub deletes the Job with its pod at once; a waiting claim binds only after', async () => {
      await volume('cleared');
      await release('cleared');
      const ours = await recordedJob('cleared');
      await eventually('the scrub pod running', async () => {
        const j = await batch.readNamespacedJob({ name: ours.jobName, namespace: operatorNamespace });
        return (j.status?.active ?? 0) > 0 ? true : undefined;
      });
      await claim('next');
      const jobs = await Timeline.start<V1Job>(
        testCluster().kubeConfig(),
        `/apis/batch/v1/namespaces/${operatorNamespace}/jobs`,
        {
          fieldSelector: `metadata.name=${ours.jobName}`,
        },
      );
      const claims = await Timeline.start<V1PersistentVolumeClaim>(
        testCluster().kubeConfig(),
        `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
        { fieldSelector: 'metadata.name=next' },
      );
      const pods = await Timeline.start<V1Pod>(
        testCluster().kubeConfig(),
        `/api/v1/namespaces/${operatorNamespace}/pods`,
        { labelSelector: `batch.kubernetes.io/controller-uid=${ours.jobUid}` },
      );
      timelines.push(jobs, claims, pods);

      // The documented way to reuse a Released volume by hand.
      await core.patchPersistentVolume(
        { name: volumeName('cleared'), body: { spec: { claimRef: null } } },
        mergePatch,
      );
      const cancelled = await volumeEvent('cleared', 'ScrubCancelled');
      expect(cancelled.note).to.include('claimRef was cleared');
      expect(await boundTo('next')).to.equal(volumeName('cleared'));
      // Ordered by the revision of each change: separate watches may deliver in either order.
      const revision = (o: { metadata?: { resourceVersion?: string } }) =>
        Number(o.metadata?.resourceVersion ?? NaN);
      const deleted = await eventually('the Job deleted', () => jobs.seen.find((s) => s.type === 'DELETED'));
      const bound = await eventually('the claim Bound', () =>
        claims.seen.find((s) => s.object.status?.phase === 'Bound'),
      );
      expect(revision(deleted.object)).to.be.lessThan(revision(bound.object));
      // Its pod went too, before the Job (not orphaned to scrub on).
      const podGone = await eventually('the pod deleted', () => pods.seen.find((s) => s.type === 'DELETED'));
      expect(revision(podGone.object)).to.be.lessThan(revision(deleted.object));
      // Deleted long before its 8 s scrub would have finished: never Complete.
      expect(jobs.seen.some((s) => s.object.status?.conditions?.some((c) => c.type === 'Complete'))).to.equal(
        false,
      );
    });

    it('setting the policy to Retain mid-scrub stops the scrub and keeps the volume Released', async () => {
      await volume('kept');
      const claimUid = await release('kept');
      const ours = await recordedJob('kept');
      await core.patchPersistentVolume(
        { name: volumeName('kept'), body: { spec: { persistentVolumeReclaimPolicy: 'Retain' } } },
        mergePatch,
      );
      const cancelled = await volumeEvent('kept', 'ScrubCancelled');
      expect(cancelled.note).to.include('reclaim policy is Retain');
      await jobGone(ours.jobName, ours.jobUid);
      const v = await readVolume('kept');
      expect(v.status?.phase).to.equal('Released');
      expect(v.spec?.claimRef?.uid).to.equal(claimUid);
    });

    it('a release request mid-scrub stops the scrub first, then frees the volume', async () => {
      await volume('asked');
      await release('asked');
      const ours = await recordedJob('asked');
      await core.patchPersistentVolume(
        {
          name: volumeName('asked'),
          body: { metadata: { annotations: { 'pvlifecycle.io/reclaim': 'release' } } },
        },
        mergePatch,
      );
      const cancelled = await volumeEvent('asked', 'ScrubCancelled');
      expect(cancelled.note).to.include('release it with its data');
      await jobGone(ours.jobName, ours.jobUid);
      await volumeEvent('asked', 'VolumeReleasedByRequest');
      expect((await readVolume('asked')).spec?.claimRef).to.equal(undefined);
    });
  });
});
