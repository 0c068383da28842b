// Scrub Jobs get generated names, never a name used before (the Job
// controller keeps its bookkeeping of a Job by namespace/name, and a new Job
// of a deleted one's name can inherit it). The operator finds a release's Job
// by the record on the volume; a Job that claims the volume without being
// recorded is never adopted, not even an exact copy of the operator's own
// (what a restart between creating a Job and recording it leaves). These
// tests make that Job themselves before the operator starts, and check from
// watches that no second Job ran beside it and that it was never trusted.
// kwok runs the pods (see cluster/kwok-stages).
import { randomUUID } from 'node:crypto';

import {
  BatchV1Api,
  CoreV1Api,
  EventsV1Api,
  type V1Job,
  type V1PersistentVolume,
  type V1Pod,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { recyclerJob, recyclerJobPrefix, volumeLabel } from '../../src/reclaim/job.ts';
import { defaultRecyclerTemplate } from '../../src/reclaim/template.ts';
import { annScrubJob } from '../../src/reclaim/trust.ts';
import { testCluster } from './cluster-hooks.ts';
import { pv, pvc } from '../support/objects.ts';
import type { OperatorProcess } from '../support/operator-process.ts';
import { type ScrubOutcome, startReclaimOperator } from '../support/reclaim-operator.ts';
import { Timeline } from '../support/timeline.ts';
import { eventually } from '../support/wait.ts';

const operatorNamespace = 'pv-lifecycle-system';

describe('scrub Jobs have generated names and are found by the record', function () {
  this.timeout(120_000);
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let eventsApi: EventsV1Api;
  let n = 0;
  let ns = '';
  let operator: OperatorProcess | undefined;
  const timelines: Timeline<unknown>[] = [];

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: operatorNamespace } } }).catch(() => undefined);
  });

  beforeEach(async () => {
    ns = `names-${String(++n)}`;
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  afterEach(async () => {
    for (const t of timelines.splice(0)) t.stop();
    if (operator) expect((await operator.stop()).code).to.equal(0);
    operator = undefined;
  });

  const start = async (outcome: ScrubOutcome) => {
    operator = await startReclaimOperator('names', outcome, 2);
  };
  const volumeName = (name: string) => `${ns}-${name}`;
  const storageClass = () => `class-${ns}`;
  const readVolume = (name: string) => core.readPersistentVolume({ name: volumeName(name) });
  const boundTo = (claimName: string) =>
    eventually(`${claimName} Bound`, async () => {
      const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
      return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
    });
  const volumeEvents = async (name: string, reason: string) =>
    (await eventsApi.listNamespacedEvent({ namespace: 'default' })).items.filter(
      (e) => e.regarding?.name === volumeName(name) && e.reason === reason,
    );
  const volumeEvent = (name: string, reason: string, timeoutMs = 30_000) =>
    eventually(
      `${reason} event about ${volumeName(name)}`,
      async () => (await volumeEvents(name, reason))[0],
      timeoutMs,
    );
  async function watch<T>(path: string, query: Record<string, string>): Promise<Timeline<T>> {
    const t = await Timeline.start<T>(testCluster().kubeConfig(), path, query);
    timelines.push(t);
    return t;
  }
  const watchVolume = (name: string) =>
    watch<V1PersistentVolume>('/api/v1/persistentvolumes', {
      fieldSelector: `metadata.name=${volumeName(name)}`,
    });
  const watchJobs = (name: string) =>
    watch<V1Job>(`/apis/batch/v1/namespaces/${operatorNamespace}/jobs`, {
      labelSelector: `${volumeLabel}=${volumeName(name)}`,
    });
  const watchPods = (name: string) =>
    watch<V1Pod>(`/api/v1/namespaces/${operatorNamespace}/pods`, {
      labelSelector: `${volumeLabel}=${volumeName(name)}`,
    });
  /** Every distinct scrub record the volume carried, in order. */
  const records = (t: Timeline<V1PersistentVolume>): string[] => {
    const out: string[] = [];
    for (const s of t.seen) {
      const r = s.object.metadata?.annotations?.[annScrubJob];
      if (r && out.at(-1) !== r) out.push(r);
    }
    return out;
  };
  /** Names the watch saw for more than one Job (a name used again). */
  const reusedNames = (t: Timeline<V1Job>): string[] => {
    const uids = new Map<string, Set<string>>();
    for (const s of t.seen) {
      const name = s.object.metadata?.name ?? '';
      uids.set(name, (uids.get(name) ?? new Set()).add(s.object.metadata?.uid ?? ''));
    }
    return [...uids].filter(([, u]) => u.size > 1).map(([name]) => name);
  };
  const availableSeq = (t: Timeline<V1PersistentVolume>, after = 0) =>
    eventually('the volume Available', () =>
      t.seen.find((s) => s.seq > after && s.object.status?.phase === 'Available'),
    );

  /**
   * A Recycle volume Released from a claim that is gone, made while no
   * operator runs: what the operator finds after a restart.
   */
  async function releasedVolume(name: string): Promise<V1PersistentVolume> {
    const v = pv(volumeName(name), {
      storageClass: storageClass(),
      reclaimPolicy: 'Recycle',
      claimRef: { namespace: ns, name: 'gone', uid: randomUUID() },
    });
    delete v.status;
    const created = await core.createPersistentVolume({ body: v });
    return core.replacePersistentVolumeStatus({
      name: volumeName(name),
      body: { ...created, status: { phase: 'Released' } },
    });
  }
  /** The Job the operator would create for the volume's release (with its test outcome), made by the test. */
  async function operatorsOwnJob(v: V1PersistentVolume, outcome: ScrubOutcome): Promise<V1Job> {
    const template = defaultRecyclerTemplate();
    if (outcome !== 'ok') template.metadata = { labels: { kwokoutcome: outcome } };
    return batch.createNamespacedJob({
      namespace: operatorNamespace,
      body: recyclerJob(v, { namespace: operatorNamespace, operation: 'recycle', template }),
    });
  }

  it('two releases of one volume in a row get Jobs of different generated names', async () => {
    await start('ok');
    const v = pv(volumeName('twice'), { storageClass: storageClass(), reclaimPolicy: 'Recycle' });
    delete v.status;
    await core.createPersistentVolume({ body: v });
    const t = await watchVolume('twice');
    const uids: string[] = [];
    let after = 0;
    for (const claimName of ['first', 'second']) {
      const c = pvc(claimName, { storageClass: storageClass(), namespace: ns });
      delete c.metadata?.uid;
      uids.push(
        (await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c })).metadata?.uid ?? '',
      );
      expect(await boundTo(claimName)).to.equal(volumeName('twice'));
      await core.deleteNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
      const uid = uids.at(-1) ?? '';
      const recordedAt = await eventually(`a record for ${claimName}`, () =>
        t.seen.find((x) => x.object.metadata?.annotations?.[annScrubJob]?.startsWith(`${uid}/`)),
      );
      after = (await availableSeq(t, Math.max(after, recordedAt.seq))).seq;
    }
    const seen = records(t).map((r) => r.split('/'));
    // One record per release, each written before that release's volume was Available.
    expect(seen.map(([claimUid]) => claimUid)).to.deep.equal(uids);
    const [first, second] = seen.map(([, jobName]) => jobName ?? '');
    const prefix = recyclerJobPrefix(volumeName('twice'));
    for (const name of [first, second]) {
      expect(name).to.have.length(prefix.length + 5);
      expect(name?.startsWith(prefix)).to.equal(true);
    }
    expect(first).not.to.equal(second);
  });

  it('a running copy of its own Job left unrecorded by a restart is deleted before any Job of its own starts', async () => {
    const v = await releasedVolume('crash');
    const left = await operatorsOwnJob(v, 'slow');
    await eventually('the left Job running', async () => {
      const j = await batch.readNamespacedJob({
        name: left.metadata?.name ?? '',
        namespace: operatorNamespace,
      });
      return (j.status?.active ?? 0) > 0 ? true : undefined;
    });
    const vt = await watchVolume('crash');
    const jobs = await watchJobs('crash');
    const pods = await watchPods('crash');
    await start('slow');

    const mismatch = await volumeEvent('crash', 'ReclaimJobMismatch');
    expect(mismatch.note).to.include(left.metadata?.name).and.include('not the one this operator recorded');
    await volumeEvent('crash', 'VolumeRecycled', 60_000);
    await availableSeq(vt);

    const leftUid = left.metadata?.uid ?? '';
    const gone = jobs.seen.find((s) => s.type === 'DELETED' && s.object.metadata?.uid === leftUid);
    expect(gone, 'the left Job was deleted').not.to.equal(undefined);
    const newJobs = jobs.seen.filter((s) => s.type === 'ADDED' && s.object.metadata?.uid !== leftUid);
    expect(newJobs, 'a Job of its own').to.have.length.greaterThan(0);
    for (const s of newJobs) expect(s.seq).to.be.greaterThan(gone?.seq ?? Infinity);
    expect(reusedNames(jobs)).to.deep.equal([]);
    // No pod of a new Job appeared before every pod of the left Job was gone.
    // By the Job controller's label, which stays on a pod even if it is orphaned.
    const ofLeft = (p: V1Pod) => p.metadata?.labels?.['batch.kubernetes.io/controller-uid'] === leftUid;
    const leftPods = new Set(pods.seen.filter((s) => ofLeft(s.object)).map((s) => s.object.metadata?.uid));
    const deletedLeft = pods.seen.filter((s) => s.type === 'DELETED' && ofLeft(s.object));
    expect(leftPods.size, 'the left Job had a pod').to.be.greaterThan(0);
    expect(new Set(deletedLeft.map((s) => s.object.metadata?.uid)), 'its pods were deleted').to.deep.equal(
      leftPods,
    );
    const leftPodsGone = Math.max(...deletedLeft.map((s) => s.seq));
    for (const s of pods.seen.filter((x) => x.type === 'ADDED' && !ofLeft(x.object))) {
      expect(s.seq).to.be.greaterThan(leftPodsGone);
    }
    // The left Job was never recorded, so never trusted; a Job of its own was.
    const seen = records(vt);
    expect(seen).to.have.length.greaterThan(0);
    for (const r of seen) expect(r).not.to.include(leftUid);
    expect(newJobs.map((s) => s.object.metadata?.uid)).to.include(seen.at(-1)?.split('/')[2]);
  });

  it('an exact copy of its own Job, already Complete when the operator starts, is not adopted', async () => {
    const v = await releasedVolume('done');
    const left = await operatorsOwnJob(v, 'ok');
    await eventually('the left Job Complete', async () => {
      const j = await batch.readNamespacedJob({
        name: left.metadata?.name ?? '',
        namespace: operatorNamespace,
      });
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True')
        ? true
        : undefined;
    });
    const vt = await watchVolume('done');
    const jobs = await watchJobs('done');
    await start('ok');

    await volumeEvent('done', 'ReclaimJobMismatch');
    await volumeEvent('done', 'VolumeRecycled', 60_000);
    await availableSeq(vt);
    const leftUid = left.metadata?.uid ?? '';
    const seen = records(vt);
    expect(seen).to.have.length.greaterThan(0);
    for (const r of seen) expect(r).not.to.include(leftUid);
    const gone = jobs.seen.find((s) => s.type === 'DELETED' && s.object.metadata?.uid === leftUid);
    const first = jobs.seen.find((s) => s.type === 'ADDED' && s.object.metadata?.uid !== leftUid);
    expect(gone, 'the copy was deleted').not.to.equal(undefined);
    expect(first?.seq ?? 0).to.be.greaterThan(gone?.seq ?? Infinity);
    expect(reusedNames(jobs)).to.deep.equal([]);
    expect((await readVolume('done')).status?.phase).to.equal('Available');
  });
});
