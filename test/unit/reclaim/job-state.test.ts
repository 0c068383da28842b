import type { CoreV1Event, V1Job, V1JobStatus, V1PersistentVolume, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  activeScrubPods,
  failedPodMessage,
  hasPod,
  isRunning,
  jobCondition,
  jobState,
  latestRefusal,
  mayBeScrubbing,
  pastPodStartGrace,
  podStartGraceMs,
  releaseState,
  scrubStartedEvent,
  strayJobEvent,
} from '../../../src/reclaim/job-state.ts';
import { annVolumeName } from '../../../src/reclaim/job.ts';
import { annScrubJob } from '../../../src/reclaim/trust.ts';

const ns = 'pv-lifecycle-system';

function job(status: V1JobStatus = {}, over: { name?: string; uid?: string; created?: Date } = {}): V1Job {
  return {
    metadata: {
      name: over.name ?? 'recycle-pv-1-abcde',
      uid: over.uid ?? 'job-uid',
      creationTimestamp: over.created,
    },
    status,
  };
}

const done = (type: 'Complete' | 'Failed', reason?: string, message?: string): V1JobStatus => ({
  conditions: [{ type, status: 'True', reason, message }],
});

function pod(
  name: string,
  over: { phase?: string; volume?: string; owner?: string; ownerIsController?: boolean } = {},
  containers: NonNullable<V1Pod['status']>['containerStatuses'] = [],
): V1Pod {
  return {
    metadata: {
      name,
      annotations: over.volume === undefined ? undefined : { [annVolumeName]: over.volume },
      ownerReferences: over.owner
        ? [
            {
              apiVersion: 'batch/v1',
              kind: 'Job',
              name: 'j',
              uid: over.owner,
              controller: over.ownerIsController,
            },
          ]
        : undefined,
    },
    status: { phase: over.phase ?? 'Running', containerStatuses: containers },
  };
}

const terminated = (exitCode: number, message?: string, reason?: string) => ({
  name: 'scrub',
  image: 'busybox',
  imageID: '',
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode, message, reason } },
});

describe('scrub Job state', () => {
  it('reads a condition only when it is True', () => {
    expect(jobCondition(job(done('Failed', 'BackoffLimitExceeded', 'm')), 'Failed')).to.deep.equal({
      status: true,
      reason: 'BackoffLimitExceeded',
      message: 'm',
    });
    const unknown = job({ conditions: [{ type: 'Complete', status: 'False' }] });
    expect(jobCondition(unknown, 'Complete').status).to.equal(false);
    expect(jobCondition(job(), 'Complete')).to.deep.equal({
      status: false,
      reason: undefined,
      message: undefined,
    });
  });

  it('is running until it is Complete or Failed', () => {
    expect(isRunning(job())).to.equal(true);
    expect(isRunning(job(done('Complete')))).to.equal(false);
    expect(isRunning(job(done('Failed')))).to.equal(false);
  });

  it('has a pod once any count says so', () => {
    expect(hasPod(job())).to.equal(false);
    for (const k of ['active', 'succeeded', 'failed', 'terminating'] as const) {
      expect(hasPod(job({ [k]: 1 })), k).to.equal(true);
    }
  });

  it('may be scrubbing while unfinished, or while a pod of it is active or terminating', () => {
    expect(mayBeScrubbing(job())).to.equal(true);
    expect(mayBeScrubbing(job(done('Complete')))).to.equal(false);
    expect(mayBeScrubbing(job({ ...done('Failed'), terminating: 1 }))).to.equal(true);
    expect(mayBeScrubbing(job({ ...done('Failed'), active: 1 }))).to.equal(true);
  });

  it('of the recorded Job: succeeded, failed with its reason and message, or running', () => {
    expect(jobState(job(done('Complete')))).to.deep.equal({ state: 'succeeded' });
    expect(
      jobState(job(done('Failed', 'DeadlineExceeded', 'Job was active longer than specified'))),
    ).to.deep.equal({
      state: 'failed',
      message: 'DeadlineExceeded: Job was active longer than specified',
    });
    expect(jobState(job(done('Failed')))).to.deep.equal({
      state: 'failed',
      message: 'Failed: the scrub Job failed',
    });
    expect(jobState(job())).to.deep.equal({ state: 'running' });
  });

  describe("of the release's Jobs", () => {
    it('an unrecorded Job comes first and is named (at most five)', () => {
      const unrecorded = Array.from({ length: 7 }, (_, i) => job({}, { name: `j${String(i)}` }));
      const s = releaseState({ recorded: job(done('Complete')), unrecorded, stopping: [job()] }, ns);
      if (s.state !== 'unrecorded') throw new Error(`expected unrecorded, got ${s.state}`);
      expect(s.message).to.match(/^Job pv-lifecycle-system\/j0, .*pv-lifecycle-system\/j4 claims to scrub/);
      expect(s.message).to.not.contain('j5');
    });
    it('then a Job being deleted, then the recorded one, else none', () => {
      expect(releaseState({ recorded: job(), unrecorded: [], stopping: [job()] }, ns)).to.deep.equal({
        state: 'stopping',
      });
      expect(
        releaseState({ recorded: job(done('Complete')), unrecorded: [], stopping: [] }, ns),
      ).to.deep.equal({
        state: 'succeeded',
      });
      expect(releaseState({ unrecorded: [], stopping: [] }, ns)).to.deep.equal({ state: 'absent' });
    });
  });

  it('scrub pods at work: those that say they scrub this volume and have not ended, at most five', () => {
    const pods = [
      pod('a', { volume: 'pv-1' }),
      pod('b', { volume: 'pv-1', phase: 'Pending' }),
      pod('done', { volume: 'pv-1', phase: 'Succeeded' }),
      pod('failed', { volume: 'pv-1', phase: 'Failed' }),
      pod('other', { volume: 'pv-2' }),
      pod('unsaid'),
      ...Array.from({ length: 5 }, (_, i) => pod(`more${String(i)}`, { volume: 'pv-1' })),
    ];
    expect(activeScrubPods(pods, 'pv-1', ns)).to.deep.equal([
      `${ns}/a`,
      `${ns}/b`,
      `${ns}/more0`,
      `${ns}/more1`,
      `${ns}/more2`,
    ]);
  });

  describe("a failed pod's words", () => {
    it("are the failed container's termination message and exit code", () => {
      const p = pod('p', { owner: 'job-uid', ownerIsController: true, phase: 'Failed' }, [
        terminated(1, '  rm: cannot remove /scrub/x: Permission denied\n'),
      ]);
      expect(failedPodMessage(job(), [p])).to.equal(
        'rm: cannot remove /scrub/x: Permission denied (exit code 1)',
      );
    });
    it('or its reason, or a plain word, cut to 400 characters', () => {
      const reason = pod('p', { owner: 'job-uid', ownerIsController: true }, [
        terminated(137, '', 'OOMKilled'),
      ]);
      expect(failedPodMessage(job(), [reason])).to.equal('OOMKilled (exit code 137)');
      const bare = pod('p', { owner: 'job-uid', ownerIsController: true }, [terminated(2)]);
      expect(failedPodMessage(job(), [bare])).to.equal('scrub failed (exit code 2)');
      const long = pod('p', { owner: 'job-uid', ownerIsController: true }, [terminated(1, 'x'.repeat(5000))]);
      expect(failedPodMessage(job(), [long])).to.equal(`${'x'.repeat(400)} (exit code 1)`);
    });
    it('or why its container waits', () => {
      const p = pod('p', { owner: 'job-uid', ownerIsController: true });
      p.status = {
        containerStatuses: [
          {
            name: 'scrub',
            image: 'busybox',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } },
          },
        ],
      };
      expect(failedPodMessage(job(), [p])).to.equal('ImagePullBackOff: Back-off pulling image');
    });
    it('come only from pods the Job controls, and not from a container that exited 0', () => {
      const words = [terminated(1, 'forged')];
      expect(
        failedPodMessage(job(), [pod('p', { owner: 'other-uid', ownerIsController: true }, words)]),
      ).to.equal(undefined);
      expect(failedPodMessage(job(), [pod('p', { owner: 'job-uid' }, words)])).to.equal(undefined);
      expect(
        failedPodMessage(job(), [pod('p', { owner: 'job-uid', ownerIsController: true }, [terminated(0)])]),
      ).to.equal(undefined);
      expect(
        failedPodMessage({ metadata: { name: 'j' } }, [
          pod('p', { owner: 'job-uid', ownerIsController: true }, words),
        ]),
      ).to.equal(undefined);
    });
  });

  describe('a Job without a pod', () => {
    const created = new Date('2026-01-01T10:00:00Z');
    it('is given the grace to make one before its refusal is looked for', () => {
      const j = job({}, { created });
      expect(pastPodStartGrace(j, created.getTime() + podStartGraceMs - 1)).to.equal(false);
      expect(pastPodStartGrace(j, created.getTime() + podStartGraceMs)).to.equal(true);
      expect(pastPodStartGrace(job(), created.getTime() + 60_000)).to.equal(false);
      expect(
        pastPodStartGrace({ metadata: { creationTimestamp: created } }, created.getTime() + 60_000),
      ).to.equal(false);
    });
    it("is refused for the latest FailedCreate event's reason, cut to 600 characters", () => {
      const event = (message: string, at: string, field: 'lastTimestamp' | 'eventTime' = 'lastTimestamp') =>
        ({ metadata: {}, involvedObject: {}, message, [field]: new Date(at) }) as CoreV1Event;
      expect(
        latestRefusal([
          event('exceeded quota: pods=10', '2026-01-01T10:00:01Z'),
          event('violates PodSecurity "restricted:latest"', '2026-01-01T10:00:09Z', 'eventTime'),
          event('older', '2026-01-01T10:00:05Z'),
        ]),
      ).to.equal('violates PodSecurity "restricted:latest"');
      expect(latestRefusal([event('y'.repeat(1000), '2026-01-01T10:00:01Z')])).to.equal('y'.repeat(600));
      expect(latestRefusal([])).to.equal(undefined);
      expect(latestRefusal([event('', '2026-01-01T10:00:01Z')])).to.equal(undefined);
    });
  });

  describe('events', () => {
    it('a started scrub says what comes after it', () => {
      expect(scrubStartedEvent('recycle', `${ns}/j`)).to.deep.equal({
        type: 'Normal',
        reason: 'RecycleStarted',
        note: `scrubbing the volume with Job ${ns}/j before making it Available again`,
      });
      expect(scrubStartedEvent('delete', `${ns}/j`).reason).to.equal('DeleteStarted');
      expect(scrubStartedEvent('delete', `${ns}/j`).note).to.match(/before deleting it$/);
    });
    it('a running Job deleted: a scrub of ours cut short, or a look-alike ended', () => {
      const j = job();
      const ours: V1PersistentVolume = {
        metadata: { name: 'pv-1', annotations: { [annScrubJob]: 'claim-0/recycle-pv-1-abcde/job-uid' } },
      };
      const cut = strayJobEvent(ours, j, `${ns}/recycle-pv-1-abcde`, 'its claimRef was cleared');
      expect(cut.reason).to.equal('ScrubCancelled');
      expect(cut.note).to.contain('because its claimRef was cleared; the scrub was cut short');
      const alike = strayJobEvent({ metadata: { name: 'pv-1' } }, j, `${ns}/recycle-pv-1-abcde`, 'why');
      expect(alike.reason).to.equal('ReclaimJobMismatch');
      expect(alike.note).to.contain("did not create it for the volume's release (why)");
    });
  });
});
