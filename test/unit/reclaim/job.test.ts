import type { V1PersistentVolume, V1PersistentVolumeSpec } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  UnsupportedVolumeSource,
  RecyclerJobError,
  annBetaMountOptions,
  annClaimUid,
  annOperation,
  annVolumeName,
  annVolumeUid,
  defaultRecycleTimeouts,
  intersectNodeSelectors,
  isRecyclable,
  managedByLabel,
  maxRecycleDeadlineSeconds,
  recycleDeadlineSeconds,
  recyclerJob,
  recyclerJobName,
  recyclerJobPrefix,
  generatedSuffixLength,
  readOnlyDeclaration,
  volumeLabel,
  volumeLabelValue,
  volumeSourceKind,
  wholeGiB,
} from '../../../src/reclaim/job.ts';
import { scrubCommand } from '../../../src/reclaim/scrub.ts';
import { defaultRecyclerTemplate, mergeTemplate } from '../../../src/reclaim/template.ts';

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function volume(
  name: string,
  source: Partial<V1PersistentVolumeSpec> = { hostPath: { path: `/data/${name}` } },
  /** null leaves spec.capacity out. */
  size: string | null = '1Gi',
): V1PersistentVolume {
  return {
    metadata: { name, uid: `uid-${name}` },
    spec: {
      capacity: size === null ? undefined : { storage: size },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Recycle',
      claimRef: { namespace: 'ns', name: 'c', uid: 'claim-1' },
      ...source,
    },
    status: { phase: 'Released' },
  };
}

const nfs = { nfs: { server: 'nfs.example', path: '/exports/a' } };

describe('recycler Job names', () => {
  const long = 'a'.repeat(253);
  const dotted = 'pv.team-a.example.com';
  const rows: [string, string, RegExp][] = [
    ['short', 'pv-1', /^recycle-pv-1-[0-9a-f]{10}$/],
    ['dotted', dotted, /^recycle-pv-team-a-example-com-[0-9a-f]{10}$/],
    ['253 characters', long, /^recycle-a{44}-[0-9a-f]{10}$/],
    ['long and dotted', `${'b'.repeat(43)}.${'c'.repeat(100)}`, /^recycle-b{43}-[0-9a-f]{10}$/],
    ['upper case and odd characters', 'PV_One..Two', /^recycle-pv-one-two-[0-9a-f]{10}$/],
    ['nothing readable', '...', /^recycle-[0-9a-f]{10}$/],
  ];
  for (const [what, name, pattern] of rows) {
    it(`${what}: a DNS-1123 label of at most 63 characters`, () => {
      const job = recyclerJobName(name, 'claim-1');
      expect(job).to.match(pattern);
      expect(job).to.match(dnsLabel);
      expect(job.length).to.be.at.most(63);
    });
  }

  it('is deterministic', () => {
    expect(recyclerJobName(dotted, 'claim-1')).to.equal(recyclerJobName(dotted, 'claim-1'));
  });

  it('differs by claim uid and by volume, even where the readable part is the same', () => {
    const names = new Set([
      recyclerJobName('pv-1', 'claim-1'),
      recyclerJobName('pv-1', 'claim-2'),
      recyclerJobName('pv.1', 'claim-1'),
      recyclerJobName(long, 'claim-1'),
      recyclerJobName(`${long}x`, 'claim-1'),
    ]);
    expect(names.size).to.equal(5);
  });

  it('hashes volume name and claim uid apart: "ab" + "c" is not "a" + "bc"', () => {
    expect(recyclerJobName('ab', 'c').slice(-10)).not.to.equal(recyclerJobName('a', 'bc').slice(-10));
  });

  it('is not the name of any Job: recyclerJob asks the API server to generate one', () => {
    const job = recyclerJob(volume(dotted), { namespace: 'ops' });
    expect(job.metadata?.name).to.equal(undefined);
    expect(job.metadata?.generateName).to.equal(recyclerJobPrefix(dotted));
  });
});

describe('recycler Job name prefixes (generateName)', () => {
  const long = 'a'.repeat(253);
  const rows: [string, string, string][] = [
    ['short', 'pv-1', 'recycle-pv-1-'],
    ['dotted', 'pv.team-a.example.com', 'recycle-pv-team-a-example-com-'],
    ['253 characters', long, `recycle-${'a'.repeat(49)}-`],
    ['cut at a dot', `${'b'.repeat(48)}.${'c'.repeat(100)}`, `recycle-${'b'.repeat(48)}-`],
    ['upper case and odd characters', 'PV_One..Two', 'recycle-pv-one-two-'],
    ['nothing readable', '...', 'recycle-'],
  ];
  for (const [what, name, prefix] of rows) {
    it(`${what}: with the API server's 5 characters, a DNS-1123 label of at most 63`, () => {
      expect(recyclerJobPrefix(name)).to.equal(prefix);
      // The API server's suffix is 5 characters of [bcdfghjklmnpqrstvwxz2456789].
      const generated = `${recyclerJobPrefix(name)}${'z'.repeat(generatedSuffixLength)}`;
      expect(generated).to.match(dnsLabel);
      expect(generated.length).to.be.at.most(63);
    });
  }

  it('is the same for every release of a volume (Jobs are told apart by the record, not the name)', () => {
    const v = volume('pv-1');
    const other = { ...v, spec: { ...v.spec, claimRef: { ...v.spec?.claimRef, uid: 'claim-2' } } };
    expect(recyclerJob(v, { namespace: 'ops' }).metadata?.generateName).to.equal(
      recyclerJob(other, { namespace: 'ops' }).metadata?.generateName,
    );
  });
});

describe('the volume label', () => {
  it('is the volume name when that is a valid label value', () => {
    expect(volumeLabelValue('pv.team-a.example.com')).to.equal('pv.team-a.example.com');
    expect(volumeLabelValue('x'.repeat(63))).to.equal('x'.repeat(63));
  });

  it('is a readable head and a digest when the name is too long', () => {
    const a = volumeLabelValue(`${'x'.repeat(45)}.${'y'.repeat(30)}`);
    const b = volumeLabelValue(`${'x'.repeat(45)}.${'y'.repeat(31)}`);
    expect(a).to.match(/^x{45}-[0-9a-f]{16}$/);
    expect(a).to.match(labelValue);
    expect(a).not.to.equal(b);
    expect(volumeLabelValue('z'.repeat(253))).to.match(labelValue);
  });
});

describe('recycler Job deadlines', () => {
  const rows: [string, string | null, number, number][] = [
    ['no capacity', null, 300, 60],
    ['0', '0', 300, 60],
    ['1Gi', '1Gi', 300, 60],
    ['5.5Gi (whole GiB: 5)', '5.5Gi', 300, 150],
    ['100Gi', '100Gi', 3000, 3000],
    ['1 byte under 11Gi', String(11 * 2 ** 30 - 1), 300, 300],
    ['11Gi', '11Gi', 330, 330],
    ['10G (decimal, 9 whole GiB)', '10G', 300, 270],
  ];
  for (const [what, size, nfsSeconds, hostPathSeconds] of rows) {
    it(`${what}: NFS ${String(nfsSeconds)} s, hostPath ${String(hostPathSeconds)} s`, () => {
      expect(recycleDeadlineSeconds(volume('n', nfs, size))).to.equal(nfsSeconds);
      expect(recycleDeadlineSeconds(volume('h', undefined, size))).to.equal(hostPathSeconds);
    });
  }

  it('counts whole GiB as upstream: bytes rounded up, then divided down', () => {
    expect(wholeGiB(volume('v', undefined, '1073741823999m'))).to.equal(1); // 1073741823.999 bytes → 1 GiB
    expect(wholeGiB(volume('v', undefined, '1073741823'))).to.equal(0);
  });

  it('stays a finite safe integer for any capacity, capped at the documented maximum', () => {
    const huge = volume('n', nfs, '1e10000000');
    expect(wholeGiB(huge)).to.equal(2 ** 33); // 8Ei, where parsing saturates
    expect(wholeGiB(volume('n', nfs, '9223372036854775807'))).to.equal(2 ** 33 - 1);
    expect(wholeGiB(volume('n', nfs, '-1e10000000'))).to.equal(0);
    expect(wholeGiB(volume('n', nfs, 'lots'))).to.equal(2 ** 33); // unknown size: the largest
    expect(recycleDeadlineSeconds(huge)).to.equal(maxRecycleDeadlineSeconds);
    expect(recycleDeadlineSeconds(huge, { nfsIncrement: 86_400 })).to.equal(maxRecycleDeadlineSeconds);
    expect(recycleDeadlineSeconds(volume('n', nfs, '1Ei'))).to.equal(maxRecycleDeadlineSeconds);
    expect(recycleDeadlineSeconds(volume('n', nfs, '1Pi'))).to.equal(30 * 2 ** 20);
    expect(maxRecycleDeadlineSeconds).to.equal(2 ** 31 - 1);
    expect(Number.isSafeInteger(recycleDeadlineSeconds(volume('h', undefined, '7.99Ei')))).to.be.true;
  });

  it('takes all four numbers as options', () => {
    const timeouts = { nfsMinimum: 10, nfsIncrement: 1, hostPathMinimum: 20, hostPathIncrement: 2 };
    expect(recycleDeadlineSeconds(volume('n', nfs, '5Gi'), timeouts)).to.equal(10);
    expect(recycleDeadlineSeconds(volume('n', nfs, '50Gi'), timeouts)).to.equal(50);
    expect(recycleDeadlineSeconds(volume('h', undefined, '5Gi'), timeouts)).to.equal(20);
    expect(recycleDeadlineSeconds(volume('h', undefined, '50Gi'), timeouts)).to.equal(100);
    expect(recycleDeadlineSeconds(volume('n', nfs, '50Gi'), { nfsIncrement: 60 })).to.equal(3000);
    expect(defaultRecycleTimeouts).to.deep.equal({
      nfsMinimum: 300,
      nfsIncrement: 30,
      hostPathMinimum: 60,
      hostPathIncrement: 30,
    });
  });

  it('is the Job activeDeadlineSeconds', () => {
    const job = recyclerJob(volume('n', nfs, '100Gi'), { namespace: 'ops', timeouts: { nfsIncrement: 40 } });
    expect(job.spec?.activeDeadlineSeconds).to.equal(4000);
  });
});

describe('which volumes can be recycled', () => {
  const rows: [string, Partial<V1PersistentVolumeSpec>, ReturnType<typeof isRecyclable>][] = [
    ['nfs', nfs, { ok: true, source: 'nfs' }],
    ['nfs readOnly: false', { nfs: { ...nfs.nfs, readOnly: false } }, { ok: true, source: 'nfs' }],
    ...['/', '//', '/.', '/./'].map(
      (path): [string, Partial<V1PersistentVolumeSpec>, ReturnType<typeof isRecyclable>] => [
        `nfs at the server's ${JSON.stringify(path)}`,
        { hostPath: undefined, nfs: { server: 'nfs.example', path } },
        {
          ok: false,
          why: "an NFS volume at the server's / cannot be scrubbed: the root may hold every export of the server",
        },
      ],
    ),
    [
      'a Block hostPath volume',
      { hostPath: { path: '/dev/sdz' }, volumeMode: 'Block' },
      {
        ok: false,
        why: 'a Block volume cannot be scrubbed: the scrub empties a directory, so only Filesystem volumes can be recycled',
      },
    ],
    [
      'nfs readOnly: true',
      { hostPath: undefined, nfs: { ...nfs.nfs, readOnly: true } },
      {
        ok: false,
        why:
          'the volume is read-only (spec.nfs.readOnly is true): a scrub would delete data that every pod may ' +
          'only read. Make it writable to recycle it, or set persistentVolumeReclaimPolicy to Retain',
      },
    ],
    ['hostPath', { hostPath: { path: '/d' } }, { ok: true, source: 'hostPath' }],
    [
      'csi',
      { hostPath: undefined, csi: { driver: 'd', volumeHandle: 'h' } },
      { ok: false, why: 'a csi volume cannot be scrubbed: only nfs and hostPath volumes can be recycled' },
    ],
    [
      'local',
      { hostPath: undefined, local: { path: '/mnt/disk' } },
      { ok: false, why: 'a local volume cannot be scrubbed: only nfs and hostPath volumes can be recycled' },
    ],
    ['no source', { hostPath: undefined }, { ok: false, why: 'the volume has no volume source to scrub' }],
    ...['/', '//', '/.', '/tmp/..', ''].map(
      (path): [string, Partial<V1PersistentVolumeSpec>, ReturnType<typeof isRecyclable>] => [
        `hostPath ${JSON.stringify(path)}`,
        { hostPath: { path } },
        { ok: false, why: "a hostPath volume at / cannot be scrubbed: it is the node's root directory" },
      ],
    ),
  ];
  for (const [what, source, expected] of rows) {
    it(`${what}: ${expected.ok ? 'yes' : 'no'}`, () => {
      expect(isRecyclable(volume('v', source))).to.deep.equal(expected);
    });
  }

  it('an "ro" mount option makes a volume read-only; the beta annotation wins over spec.mountOptions', () => {
    const ro = volume('v', { hostPath: undefined, ...nfs, mountOptions: ['nfsvers=4.1', 'ro'] });
    expect(isRecyclable(ro)).to.deep.include({ ok: false });
    expect(() => recyclerJob(ro, { namespace: 'ops' })).to.throw(UnsupportedVolumeSource, 'read-only');
    const annotated = volume('v', { hostPath: undefined, ...nfs, mountOptions: ['rw'] });
    annotated.metadata = { ...annotated.metadata, annotations: { [annBetaMountOptions]: 'hard,ro' } };
    expect(isRecyclable(annotated)).to.deep.include({ ok: false });
    const overridden = volume('v', { hostPath: undefined, ...nfs, mountOptions: ['ro'] });
    overridden.metadata = { ...overridden.metadata, annotations: { [annBetaMountOptions]: 'hard' } };
    expect(isRecyclable(overridden)).to.deep.equal({ ok: true, source: 'nfs' });
    // "ro" as part of another option is not read-only.
    expect(
      readOnlyDeclaration(volume('v', { ...nfs, mountOptions: ['proto=tcp', 'rsize=1048576'] })),
    ).to.equal(undefined);
  });

  it('recyclerJob throws UnsupportedVolumeSource naming the kind', () => {
    const csi = volume('v', { hostPath: undefined, csi: { driver: 'd', volumeHandle: 'h' } });
    expect(volumeSourceKind(csi)).to.equal('csi');
    expect(() => recyclerJob(csi, { namespace: 'ops' }))
      .to.throw(UnsupportedVolumeSource, 'volume v: a csi volume cannot be scrubbed')
      .with.property('kind', 'csi');
    expect(() => recyclerJob(volume('v', { hostPath: undefined }), { namespace: 'ops' }))
      .to.throw(UnsupportedVolumeSource)
      .with.property('kind', 'none');
  });

  it("recyclerJob refuses a hostPath at the node's root", () => {
    expect(() => recyclerJob(volume('v', { hostPath: { path: '//' } }), { namespace: 'ops' }))
      .to.throw(
        UnsupportedVolumeSource,
        "volume v: a hostPath volume at / cannot be scrubbed: it is the node's root directory",
      )
      .with.property('kind', 'hostPath');
  });

  it('recyclerJob needs the volume uid and a released claim uid', () => {
    const noUid = volume('v');
    delete noUid.metadata?.uid;
    expect(() => recyclerJob(noUid, { namespace: 'ops' })).to.throw(
      RecyclerJobError,
      'volume v: a recycler Job needs the volume uid',
    );
    const noClaim = volume('v');
    if (noClaim.spec) noClaim.spec.claimRef = undefined;
    expect(() => recyclerJob(noClaim, { namespace: 'ops' })).to.throw(
      RecyclerJobError,
      "released claim's uid",
    );
    expect(
      recyclerJob(noClaim, { namespace: 'ops', claimUid: 'given' }).metadata?.annotations?.[annClaimUid],
    ).to.equal('given');
  });
});

describe('the recycler Job', () => {
  const pv = volume('pv.team-a', nfs, '2Gi');
  const job = recyclerJob(pv, { namespace: 'ops' });
  const pod = job.spec?.template;
  const container = pod?.spec?.containers[0];

  it('is a batch/v1 Job in the operator namespace', () => {
    expect(job).to.include({ apiVersion: 'batch/v1', kind: 'Job' });
    expect(job.metadata?.namespace).to.equal('ops');
  });

  it('carries our labels and the annotations that tie it to this release', () => {
    const labels = {
      [managedByLabel.key]: 'pv-lifecycle-operator',
      [volumeLabel]: 'pv.team-a',
    };
    const annotations = {
      [annVolumeName]: 'pv.team-a',
      [annVolumeUid]: 'uid-pv.team-a',
      [annClaimUid]: 'claim-1',
      [annOperation]: 'recycle',
    };
    expect(job.metadata?.labels).to.deep.equal(labels);
    expect(job.metadata?.annotations).to.deep.equal(annotations);
    expect(pod?.metadata?.labels).to.deep.equal(labels);
    expect(pod?.metadata?.annotations).to.deep.equal(annotations);
    expect(
      recyclerJob(pv, { namespace: 'ops', operation: 'delete' }).metadata?.annotations?.[annOperation],
    ).to.equal('delete');
  });

  it('is owned by the volume, so deleting the volume deletes it', () => {
    expect(job.metadata?.ownerReferences).to.deep.equal([
      {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        name: 'pv.team-a',
        uid: 'uid-pv.team-a',
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
  });

  it('runs once: no retries, no TTL', () => {
    expect(job.spec?.backoffLimit).to.equal(0);
    expect(job.spec?.ttlSecondsAfterFinished).to.equal(undefined);
    expect(pod?.spec?.restartPolicy).to.equal('Never');
  });

  it('mounts the NFS export read-write at /scrub and runs the scrub', () => {
    expect(pod?.spec?.volumes).to.deep.equal([
      { name: 'scrub', nfs: { server: 'nfs.example', path: '/exports/a', readOnly: false } },
    ]);
    expect(pod?.spec?.containers).to.have.length(1);
    expect(container).to.deep.include({
      name: 'scrub',
      command: scrubCommand('/scrub'),
      volumeMounts: [{ name: 'scrub', mountPath: '/scrub' }],
      terminationMessagePolicy: 'FallbackToLogsOnError',
      image: 'busybox:1.37',
    });
    expect(container?.args).to.equal(undefined);
  });

  it('mounts a hostPath as an existing Directory', () => {
    const h = recyclerJob(volume('h', { hostPath: { path: '/srv/h', type: 'DirectoryOrCreate' } }), {
      namespace: 'ops',
    });
    expect(h.spec?.template.spec?.volumes).to.deep.equal([
      { name: 'scrub', hostPath: { path: '/srv/h', type: 'Directory' } },
    ]);
  });

  it('takes image, resources and security settings from the template', () => {
    const d = defaultRecyclerTemplate().spec?.containers[0];
    expect(container?.securityContext).to.deep.equal(d?.securityContext);
    expect(container?.resources).to.deep.equal(d?.resources);
    expect(pod?.spec?.automountServiceAccountToken).to.equal(false);
  });

  it('puts the template labels on the pod under ours', () => {
    const template = mergeTemplate(defaultRecyclerTemplate(), {
      metadata: {
        labels: { team: 'storage', [managedByLabel.key]: 'someone-else' },
        annotations: { note: 'x', [annClaimUid]: 'forged' },
      },
      spec: { containers: [], nodeSelector: { disk: 'ssd' }, priorityClassName: 'low' },
    });
    const j = recyclerJob(pv, { namespace: 'ops', template });
    expect(j.spec?.template.metadata?.labels).to.deep.equal({
      team: 'storage',
      [managedByLabel.key]: 'pv-lifecycle-operator',
      [volumeLabel]: 'pv.team-a',
    });
    expect(j.spec?.template.metadata?.annotations).to.include({ note: 'x', [annClaimUid]: 'claim-1' });
    expect(j.spec?.template.spec).to.include({ priorityClassName: 'low' });
    expect(j.spec?.template.spec?.nodeSelector).to.deep.equal({ disk: 'ssd' });
    // The Job itself carries only ours.
    expect(j.metadata?.labels).to.not.have.property('team');
  });

  it('never takes forbidden fields from a template that skipped the checks', () => {
    const raw = {
      spec: {
        hostNetwork: true,
        volumes: [{ name: 'x', emptyDir: {} }],
        containers: [{ name: 'evil', image: 'x', command: ['rm', '-rf', '/'], args: ['x'] }],
      },
    };
    const j = recyclerJob(pv, { namespace: 'ops', template: raw });
    const s = j.spec?.template.spec;
    expect(s).to.not.have.property('hostNetwork');
    expect(s?.volumes).to.have.length(1);
    expect(s?.containers[0]?.command).to.deep.equal(scrubCommand('/scrub'));
    expect(s?.containers[0]?.args).to.equal(undefined);
    expect(s?.containers[0]?.name).to.equal('scrub');
  });

  it('shares no objects with the template', () => {
    const template = defaultRecyclerTemplate();
    const j = recyclerJob(pv, { namespace: 'ops', template });
    j.spec?.template.spec?.containers[0]?.securityContext?.capabilities?.add?.push('SYS_ADMIN');
    expect(template.spec?.containers[0]?.securityContext?.capabilities?.add).to.deep.equal([
      'DAC_OVERRIDE',
      'FOWNER',
    ]);
  });

  it('runs where the volume is: the volume node affinity joins the template affinity', () => {
    const local = volume('h', { hostPath: { path: '/srv/h' } });
    if (local.spec) {
      local.spec.nodeAffinity = {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] }] },
          ],
        },
      };
    }
    const alone = recyclerJob(local, { namespace: 'ops' }).spec?.template.spec?.affinity;
    expect(alone).to.deep.equal({
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: local.spec?.nodeAffinity?.required },
    });

    const template = mergeTemplate(defaultRecyclerTemplate(), {
      spec: {
        containers: [],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
                { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] },
              ],
            },
          },
        },
      },
    });
    const both = recyclerJob(local, { namespace: 'ops', template }).spec?.template.spec?.affinity;
    expect(
      both?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
    ).to.deep.equal([
      {
        matchExpressions: [
          { key: 'zone', operator: 'In', values: ['a'] },
          { key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] },
        ],
      },
      {
        matchExpressions: [
          { key: 'zone', operator: 'In', values: ['b'] },
          { key: 'kubernetes.io/hostname', operator: 'In', values: ['n1'] },
        ],
      },
    ]);
  });

  it('intersects node selectors term by term', () => {
    const a = {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n'] }] }],
    };
    expect(intersectNodeSelectors(a, undefined)).to.equal(a);
    expect(intersectNodeSelectors(undefined, a)).to.equal(a);
    expect(intersectNodeSelectors(a, a)).to.deep.equal({
      nodeSelectorTerms: [
        {
          matchFields: [
            { key: 'metadata.name', operator: 'In', values: ['n'] },
            { key: 'metadata.name', operator: 'In', values: ['n'] },
          ],
        },
      ],
    });
  });
});
