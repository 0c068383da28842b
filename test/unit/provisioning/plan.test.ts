import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { expect } from 'chai';

import { provisionerName } from '../../../src/provisioning/parameters.ts';
import {
  type ProvisionFacts,
  annDirectory,
  annHandle,
  annNfsVersion,
  annOnDelete,
  annPool,
  archiveName,
  directoryFinalizer,
  planExpansion,
  planProvision,
  planVolume,
  provisionedVolume,
  recordedDirectory,
} from '../../../src/provisioning/plan.ts';

const uid = '0f0e0d0c-0000-4000-8000-000000000001';

function claim(
  over: Partial<V1PersistentVolumeClaim['spec']> = {},
  annotations: Record<string, string> = {},
): V1PersistentVolumeClaim {
  return {
    metadata: {
      name: 'data',
      namespace: 'team-a',
      uid,
      annotations: { 'volume.kubernetes.io/storage-provisioner': provisionerName, ...annotations },
    },
    spec: {
      storageClassName: 'nfs',
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '1Gi' } },
      ...over,
    },
    status: { phase: 'Pending' },
  };
}

const storageClass = (
  parameters: Record<string, string> = { nfsExport: 'pool' },
  extra: Partial<V1StorageClass> = {},
): V1StorageClass => ({
  metadata: { name: 'nfs' },
  provisioner: provisionerName,
  parameters,
  mountOptions: ['nfsvers=4.1', 'hard'],
  ...extra,
});

const facts = (over: Partial<ProvisionFacts> = {}): ProvisionFacts => ({
  claim: claim(),
  storageClass: storageClass(),
  volumeExists: false,
  pool: (name) =>
    name === 'pool'
      ? { server: 'nfs.example.com', path: '/exports/k8s', pool: 'pool' }
      : { problem: `NfsExport "${name}" not found` },
  ...over,
});

const noteOf = (f: ProvisionFacts): string => {
  const plan = planProvision(f);
  if (plan.action !== 'fail') throw new Error(`expected fail, got ${plan.action}`);
  expect(plan.event).to.include({ type: 'Warning', reason: 'ProvisioningFailed' });
  return plan.event.note;
};

describe('planProvision (claim → directory and volume)', () => {
  it('provisions a claim the binder handed to this provisioner', () => {
    const plan = planProvision(facts());
    expect(plan).to.deep.include({
      action: 'provision',
      volumeName: `pvc-${uid}`,
      target: { server: 'nfs.example.com', path: '/exports/k8s', pool: 'pool' },
      components: [`team-a-data-pvc-${uid}`],
    });
  });

  it('leaves claims that are not its own, bound, going, or already provisioned', () => {
    const others = [
      facts({ claim: claim({}, { 'volume.kubernetes.io/storage-provisioner': 'example.com/other' }) }),
      facts({ claim: claim({ volumeName: 'pv-1' }) }),
      facts({ claim: { ...claim(), metadata: { ...claim().metadata, deletionTimestamp: new Date() } } }),
      facts({ claim: { ...claim(), status: { phase: 'Bound' } } }),
      facts({ volumeExists: true }),
      facts({ storageClass: storageClass({}, { provisioner: 'example.com/other' }) }),
    ];
    for (const f of others) expect(planProvision(f).action).to.equal('none');
  });

  it('honours the beta annotation too', () => {
    const c = claim();
    c.metadata = {
      ...c.metadata,
      annotations: { 'volume.beta.kubernetes.io/storage-provisioner': provisionerName },
    };
    expect(planProvision(facts({ claim: c })).action).to.equal('provision');
  });

  it('waits for the scheduler under WaitForFirstConsumer', () => {
    const sc = storageClass({ nfsExport: 'pool' }, { volumeBindingMode: 'WaitForFirstConsumer' });
    expect(planProvision(facts({ storageClass: sc })).action).to.equal('none');
    const picked = claim({}, { 'volume.kubernetes.io/selected-node': 'node-1' });
    expect(planProvision(facts({ storageClass: sc, claim: picked })).action).to.equal('provision');
  });

  it('refuses what NFS or this provisioner cannot give, in words a user can act on', () => {
    expect(noteOf(facts({ storageClass: undefined }))).to.equal(
      'storageclass.storage.k8s.io "nfs" not found',
    );
    expect(noteOf(facts({ claim: claim({ selector: { matchLabels: { a: 'b' } } }) }))).to.equal(
      'claim Selector is not supported',
    );
    expect(noteOf(facts({ claim: claim({ volumeMode: 'Block' }) }))).to.match(/volumeMode Block/);
    expect(
      noteOf(facts({ claim: claim({ dataSource: { kind: 'PersistentVolumeClaim', name: 'x' } }) })),
    ).to.match(/data source/);
    expect(noteOf(facts({ claim: claim({ accessModes: [] }) }))).to.match(/no access modes/);
    expect(noteOf(facts({ claim: claim({ resources: {} }) }))).to.match(/requests no storage/);
    expect(noteOf(facts({ storageClass: storageClass({ nfsExport: 'gone' }) }))).to.equal(
      'StorageClass nfs: parameter nfsExport: NfsExport "gone" not found',
    );
    expect(noteOf(facts({ storageClass: storageClass({ nfsExport: 'pool', typo: 'x' }) }))).to.match(
      /^StorageClass nfs: parameter "typo": unknown/,
    );
    const pattern = storageClass({
      nfsExport: 'pool',
      pathPattern: '${pvc.metadata.annotations.example.com/dir}',
    });
    expect(noteOf(facts({ storageClass: pattern }))).to.match(
      /parameter pathPattern: the claim has no annotation "example.com\/dir"/,
    );
    const hostile = claim({}, { 'example.com/dir': '../../other-team' });
    expect(noteOf(facts({ storageClass: pattern, claim: hostile }))).to.match(/contains "\/"/);
  });

  it('builds the volume pre-bound to the claim, recording directory, handle and onDelete', () => {
    const plan = planProvision(
      facts({ storageClass: storageClass({ nfsExport: 'pool', onDelete: 'archive' }) }),
    );
    if (plan.action !== 'provision') throw new Error('expected provision');
    const handle = Buffer.from([1, 2, 3, 250]);
    const pv = provisionedVolume(plan, claim(), handle, 4);
    expect(pv.metadata?.name).to.equal(`pvc-${uid}`);
    expect(pv.metadata?.annotations).to.deep.equal({
      'pv.kubernetes.io/provisioned-by': provisionerName,
      [annDirectory]: `team-a-data-pvc-${uid}`,
      [annHandle]: handle.toString('base64'),
      [annNfsVersion]: '4',
      [annOnDelete]: 'archive',
      [annPool]: 'pool',
    });
    expect(pv.spec).to.deep.include({
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteMany'],
      volumeMode: 'Filesystem',
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'nfs',
      mountOptions: ['nfsvers=4.1', 'hard'],
      nfs: { server: 'nfs.example.com', path: `/exports/k8s/team-a-data-pvc-${uid}` },
    });
    expect(pv.spec?.claimRef).to.deep.include({ namespace: 'team-a', name: 'data', uid });
    expect(recordedDirectory(pv)).to.deep.equal({
      server: 'nfs.example.com',
      exportPath: '/exports/k8s',
      components: [`team-a-data-pvc-${uid}`],
      handle,
      onDelete: 'archive',
      version: 4,
    });
  });
});

function released(
  annotations: Record<string, string>,
  over: Partial<V1PersistentVolume['spec']> = {},
): V1PersistentVolume {
  return {
    metadata: {
      name: `pvc-${uid}`,
      annotations: { 'pv.kubernetes.io/provisioned-by': provisionerName, ...annotations },
    },
    spec: {
      persistentVolumeReclaimPolicy: 'Delete',
      claimRef: { namespace: 'team-a', name: 'data', uid },
      nfs: { server: 'nfs.example.com', path: '/exports/k8s/team-a/data' },
      ...over,
    },
    status: { phase: 'Released' },
  };
}

const good = {
  [annDirectory]: 'team-a/data',
  [annHandle]: Buffer.from('handle').toString('base64'),
  [annOnDelete]: 'delete',
};

describe('planVolume (what happens to a released directory)', () => {
  it('reclaims a Released Delete volume of ours once no claim holds it', () => {
    expect(planVolume(released(good), false)).to.deep.equal({
      action: 'reclaim',
      deleting: false,
      directory: {
        server: 'nfs.example.com',
        exportPath: '/exports/k8s',
        components: ['team-a', 'data'],
        handle: Buffer.from('handle'),
        onDelete: 'delete',
        version: 4,
      },
    });
  });

  it("never acts while the claim holds it, on Retain, on others' volumes, or before release", () => {
    expect(planVolume(released(good), true).action).to.equal('wait');
    expect(planVolume(released(good, { persistentVolumeReclaimPolicy: 'Retain' }), false).action).to.equal(
      'none',
    );
    const other = released({ ...good, 'pv.kubernetes.io/provisioned-by': 'example.com/other' });
    expect(planVolume(other, false).action).to.equal('none');
    const bound = released(good);
    bound.status = { phase: 'Bound' };
    expect(planVolume(bound, false).action).to.equal('none');
  });

  const untrusted: [Record<string, string>, RegExp][] = [
    [{ ...good, [annDirectory]: '' }, /nfs-directory is missing/],
    [{ ...good, [annDirectory]: '../data' }, /is not a relative directory/],
    [{ ...good, [annDirectory]: 'team-a/other' }, /does not end spec.nfs.path/],
    [{ ...good, [annDirectory]: 'exports/k8s/team-a/data' }, /does not end spec.nfs.path/],
    [{ ...good, [annHandle]: 'not base64!' }, /nfs-handle is missing or not a file handle/],
    [{ ...good, [annHandle]: Buffer.alloc(129).toString('base64') }, /nfs-handle/],
    [{ ...good, [annOnDelete]: 'shred' }, /on-delete="shred" is not one of/],
  ];
  for (const [annotations, why] of untrusted) {
    it(`touches nothing when the record cannot be trusted (${why.source})`, () => {
      const plan = planVolume(released(annotations), false);
      if (plan.action !== 'refuse') throw new Error(`expected refuse, got ${plan.action}`);
      expect(plan.event.reason).to.equal('VolumeFailedDelete');
      expect(plan.event.note)
        .to.match(why)
        .and.match(/nothing was deleted/);
    });
  }

  it('refuses a record whose export would be the server root or no absolute path', () => {
    const whole = released(
      { ...good, [annDirectory]: 'x' },
      { nfs: { server: 'nfs.example.com', path: '/x' } },
    );
    expect(planVolume(whole, false).action).to.equal('refuse');
    const relative = released(
      { ...good, [annDirectory]: 'x' },
      { nfs: { server: 'nfs.example.com', path: 'e/x' } },
    );
    expect(planVolume(relative, false).action).to.equal('refuse');
  });
});

describe('planVolume for a volume deleted by hand (its finalizer)', () => {
  const deleting = (
    policy: string,
    finalizers = [directoryFinalizer],
    phase = 'Released',
  ): V1PersistentVolume => {
    const v = released(good, { persistentVolumeReclaimPolicy: policy });
    v.metadata = { ...v.metadata, deletionTimestamp: new Date(), finalizers };
    v.status = { phase };
    return v;
  };

  it('deals with the directory by the policy once no claim holds it, then lets it go', () => {
    expect(planVolume(deleting('Delete'), false)).to.deep.include({ action: 'reclaim', deleting: true });
    expect(planVolume(deleting('Delete', [directoryFinalizer], 'Bound'), false)).to.deep.include({
      action: 'reclaim',
    });
    expect(planVolume(deleting('Retain'), false)).to.deep.equal({ action: 'removeFinalizer' });
  });

  it('waits while the claim holds it, and leaves one without its finalizer alone', () => {
    expect(planVolume(deleting('Delete', [directoryFinalizer], 'Bound'), true).action).to.equal('wait');
    expect(planVolume(deleting('Retain'), true).action).to.equal('wait');
    expect(planVolume(deleting('Delete', ['kubernetes.io/pv-protection']), false).action).to.equal('none');
  });

  it('the volumes it makes carry the finalizer', () => {
    const plan = planProvision(facts());
    if (plan.action !== 'provision') throw new Error('expected provision');
    expect(provisionedVolume(plan, claim(), Buffer.from([1]), 3).metadata?.finalizers).to.deep.equal([
      directoryFinalizer,
    ]);
  });
});

describe('archiveName', () => {
  it('prefixes and stamps, within 255 bytes', () => {
    expect(archiveName('team-a-data', new Date('2026-12-01T19:05:24.123Z'))).to.equal(
      'archived-team-a-data-20261201T190524Z',
    );
    const long = archiveName('é'.repeat(127), new Date(0));
    expect(Buffer.byteLength(long)).to.be.at.most(255);
    expect(long).to.match(/^archived-é+-19700101T000000Z$/);
  });
});

describe('planExpansion', () => {
  const boundClaim = (request: string, shown: string): V1PersistentVolumeClaim => ({
    ...claim({ volumeName: `pvc-${uid}`, resources: { requests: { storage: request } } }),
    status: { phase: 'Bound', capacity: { storage: shown } },
  });
  const volume = (size: string): V1PersistentVolume =>
    released(good, { capacity: { storage: size }, claimRef: { namespace: 'team-a', name: 'data', uid } });
  const growing = storageClass({ nfsExport: 'pool' }, { allowVolumeExpansion: true });

  it('grows the volume first, then the claim follows', () => {
    const plan = planExpansion(boundClaim('2Gi', '1Gi'), volume('1Gi'), growing);
    expect(plan.action).to.equal('expand');
    if (plan.action === 'expand') expect(plan.volume.spec?.capacity?.storage).to.equal('2Gi');
    expect(planExpansion(boundClaim('2Gi', '1Gi'), volume('2Gi'), growing)).to.deep.equal({
      action: 'finish',
      size: '2Gi',
    });
    expect(planExpansion(boundClaim('2Gi', '2Gi'), volume('2Gi'), growing).action).to.equal('none');
  });

  it("never shrinks, and leaves classes without expansion and others' volumes alone", () => {
    expect(planExpansion(boundClaim('1Gi', '2Gi'), volume('2Gi'), growing).action).to.equal('none');
    expect(planExpansion(boundClaim('2Gi', '1Gi'), volume('1Gi'), storageClass()).action).to.equal('none');
    const other = volume('1Gi');
    other.metadata = {
      ...other.metadata,
      annotations: { 'pv.kubernetes.io/provisioned-by': 'example.com/x' },
    };
    expect(planExpansion(boundClaim('2Gi', '1Gi'), other, growing).action).to.equal('none');
    const elsewhere = volume('1Gi');
    elsewhere.spec = { ...elsewhere.spec, claimRef: { namespace: 'team-a', name: 'data', uid: 'another' } };
    expect(planExpansion(boundClaim('2Gi', '1Gi'), elsewhere, growing).action).to.equal('none');
  });
});
