import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  type JobState,
  type ReclaimFacts,
  annReclaimFailures,
  annReclaimRequest,
  failuresOf,
  failuresValue,
  planReclaim,
  retryDelayAfter,
  retryDelayMs,
} from '../../../src/reclaim/decide.ts';
import { annProvisionedBy, ourProvisioner } from '../../../src/kube/annotations.ts';
import { pv } from '../../support/objects.ts';

const now = 1_000_000_000;

function volume(
  policy: string,
  opts: { phase?: string; annotations?: Record<string, string>; uid?: string | null; csi?: boolean } = {},
): V1PersistentVolume {
  const v = pv('v', {
    phase: opts.phase ?? 'Released',
    reclaimPolicy: policy,
    csi: opts.csi,
    claimRef: opts.uid === null ? undefined : { namespace: 'ns', name: 'c', uid: opts.uid ?? 'claim-uid' },
  });
  v.metadata = { ...v.metadata, annotations: opts.annotations };
  return v;
}

function facts(v: V1PersistentVolume, over: Partial<ReclaimFacts> = {}): ReclaimFacts {
  return {
    volume: v,
    claimExists: false,
    podsUsing: [],
    job: { state: 'absent' },
    scrubbable: { ok: true },
    maxRetries: 3,
    now,
    ...over,
  };
}

/** When the plan looks again, as " in <seconds>s". */
const requeue = (ms: number | undefined) => (ms === undefined ? '' : ` in ${String(ms / 1000)}s`);

/** A plan as one line, so the table reads like the rules. */
function summary(f: ReclaimFacts): string {
  const p = planReclaim(f);
  switch (p.action) {
    case 'none':
      return 'none';
    case 'wait':
      return `wait${p.event ? ` ${p.event.reason}` : ''}${requeue(p.requeueAfterMs)}`;
    case 'dropRequest':
      return `dropRequest ${p.event.reason}`;
    case 'release':
      return `release ${p.event.reason}`;
    case 'startJob':
      return `startJob ${p.operation}${p.resetFailures ? ' reset' : ''}`;
    case 'deleteObject':
      return `deleteObject ${p.event.reason}`;
    case 'finish':
      return `finish ${p.operation}${p.event ? ` ${p.event.reason}` : ''}`;
    case 'replaceJob':
      return `replaceJob ${p.event.reason}${requeue(p.requeueAfterMs)}`;
    case 'fail':
      return `fail ${p.event.reason}${p.deleteJob ? ' deleteJob' : ''}${p.retry ? ' retry' : ''}${p.failures ? ` #${String(p.failures)}` : ''}`;
  }
}

function hostPath(path: string, annotations?: Record<string, string>): V1PersistentVolume {
  const v = volume('Delete', { annotations });
  return { ...v, spec: { ...v.spec, hostPath: { path } } };
}

const failed: JobState = { state: 'failed', message: 'rm: cannot remove: Permission denied' };
const ours = { [annProvisionedBy]: ourProvisioner };
const failures = (n: number, at = now - 5_000) => ({
  [annReclaimFailures]: failuresValue('claim-uid', n, at),
});

describe('reclaim decisions', () => {
  const rows: [string, ReclaimFacts, string][] = [
    ['Retain: nothing touches a Released volume', facts(volume('Retain')), 'none'],
    ['a Bound volume is not reclaimed', facts(volume('Recycle', { phase: 'Bound' })), 'none'],
    [
      'an Available volume is not reclaimed',
      facts(volume('Recycle', { phase: 'Available', uid: null })),
      'none',
    ],
    ['Recycle: start the scrub Job', facts(volume('Recycle')), 'startJob recycle'],
    [
      'a volume being deleted is never scrubbed (again)',
      facts({
        ...volume('Delete', { annotations: ours }),
        metadata: { name: 'v', deletionTimestamp: new Date(), annotations: ours },
      }),
      'none',
    ],
    [
      'Recycle: never while the released claim exists',
      facts(volume('Recycle'), { claimExists: true }),
      'wait',
    ],
    [
      'Recycle: never while a pod may use the data',
      facts(volume('Recycle'), { podsUsing: ['ns/app-0'] }),
      'wait ReclaimWaiting in 10s',
    ],
    ['Recycle: Job running', facts(volume('Recycle'), { job: { state: 'running' } }), 'wait'],
    [
      'Recycle: never while another volume sees the same files',
      facts(volume('Recycle'), { sharedWith: ['pv-inside'] }),
      'wait RecycleBlocked in 30s',
    ],
    [
      'Delete: never while another volume sees the same files',
      facts(volume('Delete', { annotations: ours }), { sharedWith: ['a', 'b'] }),
      'wait RecycleBlocked in 30s',
    ],
    [
      'Recycle: a Job with no pod yet is looked at again soon',
      facts(volume('Recycle'), { job: { state: 'running', noPodYet: true } }),
      'wait in 10s',
    ],
    [
      'Recycle: a Job whose pod is refused says why, and is left to the Job controller',
      facts(volume('Recycle'), {
        job: { state: 'running', blocked: 'pods "x" is forbidden: violates PodSecurity "restricted:latest"' },
      }),
      'wait RecycleBlocked in 30s',
    ],
    [
      'Recycle: Job done for this release',
      facts(volume('Recycle'), { job: { state: 'succeeded' } }),
      'finish recycle VolumeRecycled',
    ],
    [
      'Recycle: a Job that claims the volume but is not recorded on it is replaced, never trusted',
      facts(volume('Recycle'), { job: { state: 'unrecorded', message: 'Job x is not recorded' } }),
      'replaceJob ReclaimJobMismatch in 2s',
    ],
    [
      'Recycle: no Job left, but a pod that says it scrubs the volume still runs: wait, and say so',
      facts(volume('Recycle'), { job: { state: 'stopping', pods: ['ops/recycle-pv-1-abcde-x'] } }),
      'wait ReclaimWaiting in 2s',
    ],
    [
      'Recycle: a failed Job fails the volume and retries',
      facts(volume('Recycle'), { job: failed }),
      'fail VolumeFailedRecycle deleteJob retry #1',
    ],
    [
      'Recycle: a failure past the last retry still retries, as upstream',
      facts(volume('Recycle', { phase: 'Failed', annotations: failures(3) }), { job: failed }),
      'fail VolumeFailedRecycle deleteJob retry #4',
    ],
    [
      'Delete: a failure past the last retry still retries',
      facts(volume('Delete', { phase: 'Failed', annotations: { ...ours, ...failures(5) } }), { job: failed }),
      'fail VolumeFailedDelete deleteJob retry #6',
    ],
    [
      'request recycle on a Retain volume: its last allowed failure is the answer, no retry',
      facts(
        volume('Retain', {
          phase: 'Failed',
          annotations: { [annReclaimRequest]: 'recycle', ...failures(3) },
        }),
        {
          job: failed,
        },
      ),
      'fail VolumeFailedRecycle deleteJob #4',
    ],
    [
      'Recycle: a Failed volume of ours waits out the backoff',
      facts(volume('Recycle', { phase: 'Failed', annotations: failures(1) })),
      'wait in 5s',
    ],
    [
      'Recycle: then tries again',
      facts(volume('Recycle', { phase: 'Failed', annotations: failures(1, now - 60_000) })),
      'startJob recycle',
    ],
    [
      'Recycle: after the last retry it tries again at the longest interval (40 s here)',
      facts(volume('Recycle', { phase: 'Failed', annotations: failures(9, now - 41_000) })),
      'startJob recycle',
    ],
    [
      'Recycle: and waits that interval, not a longer one',
      facts(volume('Recycle', { phase: 'Failed', annotations: failures(9, now - 39_000) })),
      'wait in 1s',
    ],
    [
      'Retain: a Failed volume whose requested recycle was answered stays Failed',
      facts(volume('Retain', { phase: 'Failed', annotations: failures(4, 0) })),
      'none',
    ],
    [
      'Recycle: failures of an earlier release do not count',
      facts(volume('Recycle', { annotations: { [annReclaimFailures]: failuresValue('old-uid', 9, now) } })),
      'startJob recycle',
    ],
    [
      'Recycle: a volume that cannot be scrubbed fails, once',
      facts(volume('Recycle'), {
        scrubbable: { ok: false, why: 'awsElasticBlockStore volumes cannot be scrubbed' },
      }),
      'fail VolumeFailedRecycle',
    ],
    [
      'Recycle: a Failed volume Failed by someone else is left alone',
      facts(volume('Recycle', { phase: 'Failed' })),
      'none',
    ],
    [
      'Delete of a CSI volume no provisioner made is left to its driver, as upstream',
      facts(volume('Delete', { csi: true })),
      'none',
    ],
    [
      'Delete of a hostPath volume outside /tmp/ fails as upstream',
      facts(volume('Delete')),
      'fail VolumeFailedDelete',
    ],
    [
      'Delete of a hostPath volume under /tmp/: only the object goes',
      facts(hostPath('/tmp/v')),
      'deleteObject VolumeDeleted',
    ],
    [
      'Delete of a hostPath volume: the pattern is not anchored',
      facts(hostPath('/var/tmp/v')),
      'deleteObject VolumeDeleted',
    ],
    [
      'Delete of a hostPath volume at /tmp/ itself fails',
      facts(hostPath('/tmp/')),
      'fail VolumeFailedDelete',
    ],
    [
      "Delete of a hostPath volume of kube-controller-manager's own provisioner: the same rules",
      facts(hostPath('/tmp/hostpath_pv/x', { 'pv.kubernetes.io/provisioned-by': 'kubernetes.io/host-path' })),
      'deleteObject VolumeDeleted',
    ],
    [
      'Delete of a hostPath volume of another provisioner is left to it',
      facts(hostPath('/tmp/v', { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' })),
      'none',
    ],
    [
      'Delete of a hostPath volume: Failed once, left Failed',
      facts(volume('Delete', { phase: 'Failed' })),
      'none',
    ],
    [
      'Delete of a hostPath volume waits for a scrub Job of an earlier plan to go',
      facts(hostPath('/tmp/v'), { job: { state: 'stopping' } }),
      'wait in 2s',
    ],
    [
      'Delete of a hostPath volume: never while the released claim exists',
      facts(hostPath('/tmp/v'), { claimExists: true }),
      'wait',
    ],
    [
      'Delete of a volume of another provisioner is left to it',
      facts(volume('Delete', { annotations: { 'pv.kubernetes.io/provisioned-by': 'nfs.csi.k8s.io' } })),
      'none',
    ],
    ['Delete of our volume scrubs first', facts(volume('Delete', { annotations: ours })), 'startJob delete'],
    [
      'Delete of our volume deletes it after the scrub',
      facts(volume('Delete', { annotations: ours }), { job: { state: 'succeeded' } }),
      'finish delete',
    ],
    [
      'Delete: a failed scrub fails with VolumeFailedDelete',
      facts(volume('Delete', { annotations: ours }), { job: failed }),
      'fail VolumeFailedDelete deleteJob retry #1',
    ],
    ['an unknown policy fails', facts(volume('Scrub')), 'fail VolumeUnknownReclaimPolicy'],
    [
      'request recycle on a Retain volume',
      facts(volume('Retain', { annotations: { [annReclaimRequest]: 'recycle' } })),
      'startJob recycle',
    ],
    [
      'request recycle after the retries ran out starts afresh',
      facts(
        volume('Retain', {
          phase: 'Failed',
          annotations: { [annReclaimRequest]: 'recycle', ...failures(4, 0) },
        }),
      ),
      'startJob recycle reset',
    ],
    [
      'request release keeps the data and frees the volume',
      facts(volume('Retain', { annotations: { [annReclaimRequest]: 'release' } })),
      'release VolumeReleasedByRequest',
    ],
    [
      'request release waits for a scrub Job of the release to stop',
      facts(volume('Recycle', { annotations: { [annReclaimRequest]: 'release' } }), {
        job: { state: 'running' },
      }),
      'wait in 2s',
    ],
    [
      'request release waits for the claim to be gone',
      facts(volume('Retain', { annotations: { [annReclaimRequest]: 'release' } }), { claimExists: true }),
      'wait',
    ],
    [
      'a request on a Bound volume is dropped with a warning',
      facts(volume('Retain', { phase: 'Bound', annotations: { [annReclaimRequest]: 'recycle' } })),
      'dropRequest ReclaimRequestIgnored',
    ],
    [
      'an unknown request is dropped with a warning',
      facts(volume('Retain', { annotations: { [annReclaimRequest]: 'wipe' } })),
      'dropRequest ReclaimRequestInvalid',
    ],
  ];
  it('names the refusal in the RecycleBlocked event and looks again in 30 s', () => {
    const plan = planReclaim(
      facts(volume('Delete', { annotations: ours }), {
        job: { state: 'running', blocked: 'exceeded quota: pods=10' },
      }),
    );
    expect(plan).to.deep.equal({
      action: 'wait',
      why: 'the scrub Job cannot create its pod: exceeded quota: pods=10',
      event: {
        type: 'Warning',
        reason: 'RecycleBlocked',
        note: 'the scrub Job cannot create its pod: exceeded quota: pods=10',
      },
      requeueAfterMs: 30_000,
    });
  });

  for (const [name, f, expected] of rows) {
    it(`${name}: ${expected}`, () => {
      expect(summary(f)).to.equal(expected);
    });
  }

  it('fails a hostPath Delete volume outside /tmp/ with upstream message and says what to do', () => {
    const p = planReclaim(facts(volume('Delete')));
    expect(p).to.deep.include({
      action: 'fail',
      message: 'host_path deleter only supports /tmp/.+ but received provided /data/v',
      retry: false,
    });
    if (p.action === 'fail') {
      expect(p.event.reason).to.equal('VolumeFailedDelete');
      expect(p.event.note).to.match(
        /^host_path deleter only supports \/tmp\/\.\+ but received provided \/data\/v\. /,
      );
    }
    const long = planReclaim(facts(hostPath(`/data/${'x'.repeat(5000)}`)));
    if (long.action !== 'fail') throw new Error(`expected fail, got ${long.action}`);
    expect(long.event.note.length).to.be.below(600);
  });

  it('deletes only the object of a hostPath Delete volume under /tmp/, and says the files stay', () => {
    const p = planReclaim(facts(hostPath('/tmp/v')));
    if (p.action !== 'deleteObject') throw new Error(`expected deleteObject, got ${p.action}`);
    expect(p.event).to.include({ type: 'Normal', reason: 'VolumeDeleted' });
    expect(p.event.note).to.contain('the data at hostPath /tmp/v was kept on its node');
  });

  it("fails a Delete volume no plugin can delete with upstream's message, and says what to do", () => {
    const v = volume('Delete');
    v.spec = { ...v.spec, hostPath: undefined, nfs: { server: 'nfs.example.com', path: '/x' } };
    const p = planReclaim(facts(v));
    if (p.action !== 'fail') throw new Error(`expected fail, got ${p.action}`);
    expect(p.message).to.equal(
      'error getting deleter volume plugin for volume "v": no deletable volume plugin matched',
    );
    expect(p.event.note).to.match(
      /^error getting deleter volume plugin for volume "v": no deletable volume plugin matched\. /,
    );
    expect(p.event.note).to.contain('set persistentVolumeReclaimPolicy to Retain');
  });

  it('leaves a CSI or CSI-migrated Delete volume no provisioner made to its driver, as upstream', () => {
    expect(planReclaim(facts(volume('Delete', { csi: true })))).to.deep.equal({ action: 'none' });
    const migrated = volume('Delete', { annotations: { 'pv.kubernetes.io/migrated-to': 'ebs.csi.aws.com' } });
    migrated.spec = { ...migrated.spec, hostPath: undefined, nfs: { server: 'nfs.example.com', path: '/x' } };
    expect(planReclaim(facts(migrated))).to.deep.equal({ action: 'none' });
  });

  it('carries the Job failure into the message and the event', () => {
    const p = planReclaim(facts(volume('Recycle'), { job: failed }));
    expect(p).to.deep.include({
      message: 'scrub Job failed (attempt 1, next in 10s): rm: cannot remove: Permission denied',
      requeueAfterMs: 10_000,
    });
  });

  it('keeps retrying past the last retry at the longest interval, with the attempt in the event', () => {
    const p = planReclaim(
      facts(volume('Recycle', { phase: 'Failed', annotations: failures(7) }), { job: failed }),
    );
    expect(p).to.deep.include({ action: 'fail', retry: true, requeueAfterMs: 40_000, failures: 8 });
    if (p.action === 'fail') {
      expect(p.event.reason).to.equal('VolumeFailedRecycle');
      expect(p.event.note).to.equal(
        'Recycle failed: rm: cannot remove: Permission denied (attempt 8, next in 40s)',
      );
    }
  });

  it('answers a request once its retries are spent, while the Recycle policy retries on', () => {
    const v = volume('Recycle', {
      phase: 'Failed',
      annotations: { [annReclaimRequest]: 'recycle', ...failures(3) },
    });
    expect(planReclaim(facts(v, { job: failed }))).to.deep.include({ retry: true, answerRequest: true });
    const early = volume('Recycle', { annotations: { [annReclaimRequest]: 'recycle', ...failures(1) } });
    expect(planReclaim(facts(early, { job: failed }))).to.deep.include({ retry: true, answerRequest: false });
  });

  it('while a scrub through a claim runs, every wait makes sure its claim is there', () => {
    const nfs = (over: { annotations?: Record<string, string> } = {}) => {
      const v = volume('Recycle', over);
      return {
        ...v,
        spec: { ...v.spec, hostPath: undefined, nfs: { server: 'nfs', path: '/x' }, mountOptions: ['hard'] },
      };
    };
    const running: JobState = { state: 'running' };
    expect(planReclaim(facts(nfs(), { job: running }))).to.deep.include({ action: 'wait', mountClaim: true });
    expect(planReclaim(facts(nfs(), { job: { state: 'running', noPodYet: true } }))).to.deep.include({
      mountClaim: true,
    });
    // Waiting on the claim or on a requested release, for instance.
    expect(planReclaim(facts(nfs(), { job: running, claimExists: true }))).to.deep.include({
      mountClaim: true,
    });
    const release = nfs({ annotations: { [annReclaimRequest]: 'release' } });
    expect(planReclaim(facts(release, { job: running }))).to.deep.include({ mountClaim: true });
    // No claim to make: a hostPath scrub, a scrub that is not running, or no wait at all.
    expect(planReclaim(facts(volume('Recycle'), { job: running }))).to.not.have.property('mountClaim');
    expect(planReclaim(facts(nfs(), { job: { state: 'stopping' } }))).to.not.have.property('mountClaim');
    expect(planReclaim(facts(nfs(), { job: { state: 'succeeded' } }))).to.not.have.property('mountClaim');
  });

  it('says which reclaim failed, so metrics need not read it from the event reason', () => {
    const recycle = planReclaim(facts(volume('Recycle'), { job: failed }));
    const del = planReclaim(facts(volume('Delete', { annotations: ours }), { job: failed }));
    expect(recycle).to.deep.include({ action: 'fail', deleteJob: true, operation: 'recycle' });
    expect(del).to.deep.include({ action: 'fail', deleteJob: true, operation: 'delete' });
    // A Delete nothing can carry out is a failed delete too; an unknown policy is no operation at all.
    expect(planReclaim(facts(volume('Delete')))).to.deep.include({ deleteJob: false, operation: 'delete' });
    expect(planReclaim(facts(volume('Scrub')))).to.not.have.property('operation');
  });

  it('does not look again on its own after a failure it will not retry', () => {
    const answered = planReclaim(
      facts(
        volume('Retain', {
          phase: 'Failed',
          annotations: { [annReclaimRequest]: 'recycle', ...failures(3) },
        }),
        { job: failed },
      ),
    );
    expect(answered).to.deep.include({ action: 'fail', retry: false, requeueAfterMs: undefined });
  });

  it('tries a scrub Job again after a second when it could not be created or recorded', () => {
    expect(planReclaim(facts(volume('Recycle')))).to.deep.equal({
      action: 'startJob',
      operation: 'recycle',
      resetFailures: false,
      retryAfterMs: 1_000,
    });
  });

  it('waits the backoff for the first retries, then the longest of them for good', () => {
    expect([1, 2, 3, 4, 5, 50].map((n) => retryDelayAfter(n, 3))).to.deep.equal([
      10_000, 20_000, 40_000, 40_000, 40_000, 40_000,
    ]);
    expect([1, 2].map((n) => retryDelayAfter(n, 0, 2_000))).to.deep.equal([2_000, 2_000]);
  });

  it('reads failure records only for the current release', () => {
    expect(failuresOf(volume('Recycle', { annotations: failures(2, 42) }))).to.deep.equal({
      count: 2,
      lastAt: 42,
    });
    expect(failuresOf(volume('Recycle', { annotations: { [annReclaimFailures]: 'garbage' } }))).to.deep.equal(
      {
        count: 0,
        lastAt: 0,
      },
    );
  });

  it('backs off exponentially, capped', () => {
    expect([1, 2, 3, 4, 10].map((n) => retryDelayMs(n))).to.deep.equal([
      10_000, 20_000, 40_000, 80_000, 600_000,
    ]);
  });
});
