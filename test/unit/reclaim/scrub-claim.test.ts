import type { V1PersistentVolume, V1Pod } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  annBetaMountOptions,
  needsScrubClaim,
  recyclerJob,
  recyclerJobName,
  scrubClaimName,
} from '../../../src/reclaim/job.ts';
import {
  isScrubClaimVolume,
  scrubClaimPair,
  scrubClaimProblem,
  scrubClaimVolumeSpent,
  scrubForJobLabel,
} from '../../../src/reclaim/scrub-claim.ts';

function nfsVolume(mountOptions?: string[], annotations?: Record<string, string>): V1PersistentVolume {
  return {
    metadata: { name: 'pv-nfs', uid: 'pv-uid', annotations },
    spec: {
      capacity: { storage: '5Gi' },
      accessModes: ['ReadWriteMany'],
      persistentVolumeReclaimPolicy: 'Recycle',
      claimRef: { namespace: 'ns', name: 'c', uid: 'claim-1' },
      nfs: { server: 'nfs.example.com', path: '/exports/a' },
      mountOptions,
    },
    status: { phase: 'Released' },
  };
}

const created = (v: V1PersistentVolume) => {
  const job = recyclerJob(v, { namespace: 'ops' });
  // As the API server makes it from generateName.
  job.metadata = { ...job.metadata, name: `${job.metadata?.generateName ?? ''}x7k2q`, uid: 'job-uid' };
  return job;
};

describe('scrubbing through a claim (NFS volumes with mount options)', () => {
  it('only NFS volumes with mount options need it; the beta annotation counts too', () => {
    expect(needsScrubClaim(nfsVolume())).to.equal(false);
    expect(needsScrubClaim(nfsVolume([]))).to.equal(false);
    expect(needsScrubClaim(nfsVolume(['nfsvers=4.1', 'hard']))).to.equal(true);
    expect(needsScrubClaim(nfsVolume(undefined, { [annBetaMountOptions]: 'nfsvers=3' }))).to.equal(true);
    const hostPath: V1PersistentVolume = { spec: { hostPath: { path: '/d' }, mountOptions: ['x'] } };
    expect(needsScrubClaim(hostPath)).to.equal(false);
  });

  it('the Job mounts the scrub claim instead of the inline export', () => {
    const job = created(nfsVolume(['nfsvers=4.1']));
    expect(job.spec?.template.spec?.volumes).to.deep.equal([
      {
        name: 'scrub',
        persistentVolumeClaim: { claimName: scrubClaimName(recyclerJobName('pv-nfs', 'claim-1')) },
      },
    ]);
    expect(job.spec?.template.spec?.volumes?.[0]?.nfs).to.equal(undefined);
  });

  it('the pair: a claim owned by the Job, pre-bound to a Retain volume with the same export and options', () => {
    const v = nfsVolume(['nfsvers=4.1', 'hard'], { [annBetaMountOptions]: 'nfsvers=4.1,hard' });
    const job = created(v);
    const { claim, volume } = scrubClaimPair(v, job, 'ops');
    // Named per release (the pod template names it before the Job has its generated name), owned by the Job.
    const name = scrubClaimName(recyclerJobName('pv-nfs', 'claim-1'));
    expect(claim.metadata).to.deep.include({ name, namespace: 'ops' });
    expect(claim.metadata?.ownerReferences?.[0]).to.deep.include({
      kind: 'Job',
      name: job.metadata?.name,
      uid: 'job-uid',
      controller: true,
    });
    expect(claim.spec).to.deep.include({
      volumeName: name,
      storageClassName: '',
      accessModes: ['ReadWriteMany'],
    });
    expect(volume.metadata?.name).to.equal(name);
    expect(volume.metadata?.labels?.[scrubForJobLabel]).to.equal(recyclerJobName('pv-nfs', 'claim-1'));
    expect(volume.metadata?.annotations?.[annBetaMountOptions]).to.equal('nfsvers=4.1,hard');
    expect(volume.metadata?.ownerReferences?.[0]).to.deep.include({
      kind: 'PersistentVolume',
      uid: 'pv-uid',
    });
    expect(volume.spec).to.deep.include({
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      mountOptions: ['nfsvers=4.1', 'hard'],
      nfs: { server: 'nfs.example.com', path: '/exports/a', readOnly: false },
    });
    expect(volume.spec?.claimRef).to.deep.include({ namespace: 'ops', name });
    expect(scrubClaimPair(v, job, 'ops', 'pvc-uid').volume.spec?.claimRef?.uid).to.equal('pvc-uid');
  });

  it('a scrub claim volume is known by its whole shape, not by its label alone', () => {
    const v = nfsVolume(['hard']);
    const { volume } = scrubClaimPair(v, created(v), 'ops', 'pvc-uid');
    expect(isScrubClaimVolume(volume, 'ops')).to.equal(true);
    expect(isScrubClaimVolume(volume, 'ops', 'pv-uid')).to.equal(true);
    expect(isScrubClaimVolume(volume, 'ops', 'another-volume')).to.equal(false);
    expect(isScrubClaimVolume(volume, 'elsewhere')).to.equal(false);
    // An export's volume with the label copied onto it (labels follow the NfsExport).
    const labelled: V1PersistentVolume = {
      ...v,
      metadata: { ...v.metadata, name: 'nfsx-team', labels: { ...volume.metadata?.labels } },
      spec: { ...v.spec, persistentVolumeReclaimPolicy: 'Retain' },
    };
    expect(isScrubClaimVolume(labelled, 'ops')).to.equal(false);
    const recycled = { ...volume, spec: { ...volume.spec, persistentVolumeReclaimPolicy: 'Recycle' } };
    expect(isScrubClaimVolume(recycled, 'ops')).to.equal(false);
  });

  it('a scrub claim volume is spent once Released (its claim gone), unless already being deleted', () => {
    const v = nfsVolume(['hard']);
    const { volume } = scrubClaimPair(v, created(v), 'ops', 'pvc-uid');
    const phase = (p: string, deleting = false): V1PersistentVolume => ({
      ...volume,
      metadata: { ...volume.metadata, deletionTimestamp: deleting ? new Date() : undefined },
      status: { phase: p },
    });
    expect(scrubClaimVolumeSpent(phase('Released'))).to.equal(true);
    expect(scrubClaimVolumeSpent(phase('Bound'))).to.equal(false);
    expect(scrubClaimVolumeSpent(phase('Available'))).to.equal(false);
    expect(scrubClaimVolumeSpent(phase('Released', true))).to.equal(false);
  });

  describe('whether the claim the pod mounted was the export scrubbed', () => {
    const v = nfsVolume(['hard']);
    const job = created(v);
    const pair = scrubClaimPair(v, job, 'ops');
    const claim = {
      ...pair.claim,
      metadata: { ...pair.claim.metadata, uid: 'pvc-uid', creationTimestamp: new Date(1000) },
    };
    const shadow = {
      ...pair.volume,
      spec: { ...pair.volume.spec, claimRef: { ...pair.volume.spec?.claimRef, uid: 'pvc-uid' } },
    };
    const pod = (startedAt: number): V1Pod => ({
      metadata: { name: 'p' },
      status: {
        containerStatuses: [
          {
            name: 'scrub',
            image: '',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode: 0, startedAt: new Date(startedAt) } },
          },
        ],
      },
    });
    it('bound to the volume of the same export, made before the scrub started: yes', () => {
      expect(scrubClaimProblem(v, claim, shadow, pod(2000))).to.equal(undefined);
    });
    it('claim gone, or not bound to its volume, or its volume bound to another claim: no', () => {
      expect(scrubClaimProblem(v, undefined, shadow, pod(2000))).to.include('gone');
      expect(
        scrubClaimProblem(v, { ...claim, spec: { ...claim.spec, volumeName: 'other' } }, shadow, pod(2000)),
      ).to.include('not bound');
      const stolen = { ...shadow, spec: { ...shadow.spec, claimRef: { ...shadow.spec.claimRef, uid: 'x' } } };
      expect(scrubClaimProblem(v, claim, stolen, pod(2000))).to.include('names another claim');
    });
    it('its volume pointing at another export: no', () => {
      const elsewhere = {
        ...shadow,
        spec: { ...shadow.spec, nfs: { server: 'nfs.example.com', path: '/exports/empty' } },
      };
      expect(scrubClaimProblem(v, claim, elsewhere, pod(2000))).to.include('another NFS server or path');
    });
    it('a claim made after the scrub started (swapped in): no', () => {
      expect(scrubClaimProblem(v, claim, shadow, pod(500))).to.include('after the scrub started');
    });
  });
});
