import type { V1Job, V1PersistentVolume, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import { annReclaimFailures, annReclaimRequest, failuresValue } from '../../../src/reclaim/decide.ts';
import { recyclerJob } from '../../../src/reclaim/job.ts';
import {
  annScrubJob,
  isRecordedJob,
  isScrubResultLine,
  jobLeftRelease,
  podDiffersFromJob,
  scrubJobRecord,
  scrubJobRecordValue,
  sortReleaseJobs,
  verifyScrub,
} from '../../../src/reclaim/trust.ts';

function volume(over: { policy?: string; phase?: string; annotations?: Record<string, string> } = {}) {
  const v: V1PersistentVolume = {
    metadata: { name: 'pv-1', uid: 'pv-uid', annotations: over.annotations },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: over.policy ?? 'Recycle',
      claimRef: { namespace: 'ns', name: 'c', uid: 'claim-1' },
      hostPath: { path: '/data/pv-1' },
    },
    status: { phase: over.phase ?? 'Released' },
  };
  return v;
}

/** The Job the operator would create, as the API returns it (with a UID). */
function createdJob(v: V1PersistentVolume = volume(), uid = 'job-uid', suffix = 'abcde'): V1Job {
  const job = recyclerJob(v, { namespace: 'pv-lifecycle-system' });
  // The name the API server generates.
  job.metadata = { ...job.metadata, name: `${job.metadata?.generateName ?? ''}${suffix}`, uid };
  return job;
}

const recorded = (job: V1Job, claimUid = 'claim-1') =>
  volume({
    annotations: {
      [annScrubJob]: scrubJobRecordValue({
        claimUid,
        jobName: job.metadata?.name ?? '',
        jobUid: job.metadata?.uid ?? '',
      }),
    },
  });

/** A pod as the Job controller makes it from the Job's template, finished with the given result. */
function podOf(job: V1Job, result: { exitCode?: number; message?: string; phase?: string } = {}): V1Pod {
  const spec = structuredClone(job.spec?.template.spec);
  return {
    metadata: {
      name: `${job.metadata?.name ?? ''}-abcde`,
      labels: { 'batch.kubernetes.io/controller-uid': job.metadata?.uid ?? '' },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name: job.metadata?.name ?? '',
          uid: job.metadata?.uid ?? '',
          controller: true,
        },
      ],
    },
    spec: spec ?? { containers: [] },
    status: {
      phase: result.phase ?? 'Succeeded',
      containerStatuses: [
        {
          name: 'scrub',
          image: 'busybox:1.37',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode: result.exitCode ?? 0,
              message: result.message ?? 'scrubbed 12 entries from /scrub\n',
            },
          },
        },
      ],
    },
  };
}

describe('scrub Job record on the volume', () => {
  it('round-trips and names the Job of the current release only', () => {
    const job = createdJob();
    const v = recorded(job);
    expect(scrubJobRecord(v)).to.deep.equal({
      claimUid: 'claim-1',
      jobName: job.metadata?.name,
      jobUid: 'job-uid',
    });
    expect(isRecordedJob(v, job)).to.equal(true);
  });

  it('a record of an earlier release counts as none', () => {
    const job = createdJob();
    const v = recorded(job, 'claim-0');
    expect(scrubJobRecord(v)).to.equal(undefined);
    expect(isRecordedJob(v, job)).to.equal(false);
  });

  it('reads back any claim uid an administrator may have put in claimRef (without the separator)', () => {
    const claimUid = `${'c'.repeat(300)} x.y`;
    const v = volume({ annotations: { [annScrubJob]: `${claimUid}/recycle-pv-1-abcde/job-uid` } });
    v.spec = { ...v.spec, claimRef: { ...v.spec?.claimRef, uid: claimUid } };
    expect(scrubJobRecord(v)).to.deep.equal({ claimUid, jobName: 'recycle-pv-1-abcde', jobUid: 'job-uid' });
  });

  it('a Job with the recorded name but another UID (deleted and re-created by someone) is not the recorded one', () => {
    const job = createdJob();
    const v = recorded(job);
    expect(isRecordedJob(v, createdJob(volume(), 'other-uid'))).to.equal(false);
  });

  for (const value of [
    '',
    'claim-1',
    'claim-1/name',
    'claim-1//uid',
    'claim-1/name/uid/extra',
    '/name/uid',
    'claim-1/Not_A_Job_Name/uid',
    `claim-1/${'a'.repeat(64)}/uid`,
    `claim-1/name/${'u'.repeat(129)}`,
  ]) {
    it(`a malformed record ${JSON.stringify(value)} counts as none`, () => {
      expect(scrubJobRecord(volume({ annotations: { [annScrubJob]: value } }))).to.equal(undefined);
    });
  }
});

describe("sorting a volume's Jobs by the record", () => {
  const ours = createdJob(volume(), 'job-uid', 'abcde');
  const v = recorded(ours);
  const lookAlike = createdJob(volume(), 'forged-uid', 'fghjk');
  const sameName = createdJob(volume(), 'forged-uid-2', 'abcde');
  const otherVolume = createdJob(
    { ...volume(), metadata: { name: 'pv-2', uid: 'pv2-uid' } },
    'other-volume-uid',
    'mnpqr',
  );
  const deleting = (j: V1Job): V1Job => ({
    ...j,
    metadata: { ...j.metadata, deletionTimestamp: new Date(0) },
  });

  it('the recorded Job is ours; a look-alike of another generated name is not', () => {
    const got = sortReleaseJobs(v, [ours, lookAlike]);
    expect(got.recorded?.metadata?.uid).to.equal('job-uid');
    expect(got.unrecorded.map((j) => j.metadata?.uid)).to.deep.equal(['forged-uid']);
    expect(got.stopping).to.deep.equal([]);
  });

  it('a Job at the recorded name with another UID is not ours', () => {
    const got = sortReleaseJobs(v, [sameName]);
    expect(got.recorded).to.equal(undefined);
    expect(got.unrecorded.map((j) => j.metadata?.uid)).to.deep.equal(['forged-uid-2']);
  });

  it('without a record (a restart between creating a Job and recording it), no Job is adopted', () => {
    const got = sortReleaseJobs(volume(), [ours]);
    expect(got.recorded).to.equal(undefined);
    expect(got.unrecorded.map((j) => j.metadata?.uid)).to.deep.equal(['job-uid']);
  });

  it("a record of the volume's earlier release adopts nothing", () => {
    const got = sortReleaseJobs(recorded(ours, 'claim-0'), [ours]);
    expect(got.recorded).to.equal(undefined);
    expect(got.unrecorded).to.have.length(1);
  });

  it('Jobs being deleted, ours or not, are stopping, never recorded', () => {
    const got = sortReleaseJobs(v, [deleting(ours), deleting(lookAlike)]);
    expect(got.recorded).to.equal(undefined);
    expect(got.unrecorded).to.deep.equal([]);
    expect(got.stopping.map((j) => j.metadata?.uid)).to.deep.equal(['job-uid', 'forged-uid']);
  });

  it('skips Jobs of other volumes and counts a Job seen twice (live and cached) once', () => {
    const got = sortReleaseJobs(v, [lookAlike, otherVolume, structuredClone(lookAlike)]);
    expect(got.unrecorded.map((j) => j.metadata?.uid)).to.deep.equal(['forged-uid']);
  });
});

describe('scrub result line', () => {
  const rows: [string, boolean][] = [
    ['scrubbed 0 entries from /scrub', true],
    ['scrubbed 1 entry from /scrub', true],
    ['scrubbed 70000 entries from /scrub\n', true],
    ['scrubbed 1 entries from /scrub', false],
    ['scrubbed /scrub (simulated)', false],
    ['scrub failed: 2 entries remain in /scrub', false],
    ['scrubbed 3 entries from /scrub; rm -rf /', false],
    ['ok', false],
    ['', false],
  ];
  for (const [line, ok] of rows) {
    it(`${JSON.stringify(line)}: ${ok ? 'the script' : 'not the script'}`, () => {
      expect(isScrubResultLine(line)).to.equal(ok);
    });
  }
});

describe('verifying a finished scrub from its pods', () => {
  const job = createdJob();

  it('a pod made from the Job that printed the result line proves it', () => {
    const pod = podOf(job);
    expect(verifyScrub(job, [pod])).to.deep.equal({
      ok: true,
      result: 'scrubbed 12 entries from /scrub',
      pod,
    });
  });

  it('no pods: nothing proves it', () => {
    expect(verifyScrub(job, []).ok).to.equal(false);
  });

  it('exit code 0 without the result line does not prove it', () => {
    const v = verifyScrub(job, [podOf(job, { message: '' })]);
    expect(v).to.include({ ok: false });
  });

  it('a pod that names the Job as controller but runs another command is refused, with its name', () => {
    const forged = podOf(job);
    const c = forged.spec?.containers[0];
    if (c) c.command = ['/bin/sh', '-c', 'echo scrubbed 1 entry from /scrub > /dev/termination-log'];
    const v = verifyScrub(job, [podOf(job), forged]);
    expect(v.ok).to.equal(false);
    if (!v.ok) expect(v.why).to.match(/another command/);
  });

  it('a pod that mounts another source at /scrub is refused', () => {
    const forged = podOf(job);
    const vol = forged.spec?.volumes?.[0];
    if (vol) vol.hostPath = { path: '/tmp/empty', type: 'Directory' };
    expect(podDiffersFromJob(forged, job)).to.match(/another volume source/);
  });

  it('a pod with another image, extra container or init container is refused', () => {
    const image = podOf(job);
    const c = image.spec?.containers[0];
    if (c) c.image = 'evil/scrub:latest';
    expect(podDiffersFromJob(image, job)).to.match(/image/);
    const extra = podOf(job);
    extra.spec?.containers.push({ name: 'sidecar', image: 'busybox:1.37' });
    expect(podDiffersFromJob(extra, job)).to.match(/other containers/);
    const init = podOf(job);
    if (init.spec) init.spec.initContainers = [{ name: 'first', image: 'busybox:1.37' }];
    expect(podDiffersFromJob(init, job)).to.match(/init containers/);
  });

  it("a pod that mounts something over the scrub's tools, or changes its environment, is refused", () => {
    const overlay = podOf(job);
    overlay.spec?.volumes?.push({ name: 'fake', configMap: { name: 'fake-find' } });
    overlay.spec?.containers[0]?.volumeMounts?.push({
      name: 'fake',
      mountPath: '/bin/find',
      subPath: 'find',
    });
    expect(podDiffersFromJob(overlay, job)).to.match(/sets up container scrub otherwise/);
    const env = podOf(job);
    const c = env.spec?.containers[0];
    if (c) c.env = [{ name: 'PATH', value: '/tmp/fake' }];
    expect(podDiffersFromJob(env, job)).to.match(/otherwise than the Job/);
    const debug = podOf(job);
    if (debug.spec) debug.spec.ephemeralContainers = [{ name: 'dbg', image: 'busybox:1.37' }];
    expect(podDiffersFromJob(debug, job)).to.match(/ephemeral containers/);
  });

  it('a pod with the label but another controller does not count, for or against', () => {
    const stranger = podOf(job);
    stranger.metadata = { ...stranger.metadata, ownerReferences: [] };
    expect(verifyScrub(job, [stranger]).ok).to.equal(false);
    expect(verifyScrub(job, [stranger, podOf(job)]).ok).to.equal(true);
  });

  it('a second pod of the Job still running (made from its template) keeps the result unproven', () => {
    const v = verifyScrub(job, [podOf(job), podOf(job, { phase: 'Running' })]);
    expect(v.ok).to.equal(false);
    if (!v.ok) expect(v.why).to.include('still Running');
  });

  it('a failed pod and no succeeded one does not prove it', () => {
    expect(verifyScrub(job, [podOf(job, { exitCode: 1, phase: 'Failed' })]).ok).to.equal(false);
  });
});

describe('whether a scrub Job still belongs to its release', () => {
  const job = createdJob();
  const rows: [string, V1PersistentVolume | undefined, string | undefined][] = [
    ['the Released volume it was made for', volume(), undefined],
    [
      'a Failed volume being retried',
      volume({ phase: 'Failed', annotations: { [annReclaimFailures]: failuresValue('claim-1', 1, 0) } }),
      undefined,
    ],
    ['no volume', undefined, 'the volume was deleted'],
    [
      'a volume being deleted',
      { ...volume(), metadata: { ...volume().metadata, deletionTimestamp: new Date() } },
      'being deleted',
    ],
    [
      'a volume of the same name made anew',
      { ...volume(), metadata: { name: 'pv-1', uid: 'pv-uid-2' } },
      'made anew',
    ],
    [
      'claimRef cleared',
      { ...volume(), spec: { ...volume().spec, claimRef: undefined } },
      'claimRef was cleared',
    ],
    [
      'claimRef names another claim',
      { ...volume(), spec: { ...volume().spec, claimRef: { namespace: 'ns', name: 'd', uid: 'claim-2' } } },
      'now names ns/d',
    ],
    [
      'claimRef without uid (pre-bound by an administrator)',
      { ...volume(), spec: { ...volume().spec, claimRef: { namespace: 'ns', name: 'c' } } },
      'without a uid',
    ],
    ['now Available', volume({ phase: 'Available' }), 'Available now'],
    ['a Failed volume not being retried', volume({ phase: 'Failed' }), 'Failed now'],
    ['policy set to Retain', volume({ policy: 'Retain' }), 'reclaim policy is Retain'],
    [
      'release requested',
      volume({ annotations: { [annReclaimRequest]: 'release' } }),
      'release it with its data',
    ],
    [
      'recycle requested on a Retain volume',
      volume({ policy: 'Retain', annotations: { [annReclaimRequest]: 'recycle' } }),
      undefined,
    ],
    [
      'policy changed from Recycle to Delete (not ours)',
      volume({ policy: 'Delete' }),
      'reclaim policy is Delete',
    ],
  ];
  for (const [what, v, why] of rows) {
    it(`${what}: ${why ?? 'belongs'}`, () => {
      const got = jobLeftRelease(v, job);
      if (why === undefined) expect(got).to.equal(undefined);
      else expect(got).to.include(why);
    });
  }

  it('its name does not matter here: Jobs have generated names, and the live record decides (sortReleaseJobs)', () => {
    const other = createdJob();
    other.metadata = { ...other.metadata, name: 'recycle-pv-1-zzzzz' };
    expect(jobLeftRelease(volume(), other)).to.equal(undefined);
  });

  it('a delete Job on a volume that is to be recycled now does not belong', () => {
    const del = recyclerJob(volume(), { namespace: 'pv-lifecycle-system', operation: 'delete' });
    expect(jobLeftRelease(volume(), del)).to.include('recycled now');
  });
});
