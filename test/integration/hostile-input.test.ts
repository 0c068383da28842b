// Hostile and malformed volumes, claims and recycler templates, against the
// real API server and one operator process. Each case is what a tenant (a
// claim) or a careless or hostile administrator (a volume, a template) can
// send; each has one expected outcome: the API server refuses it with a
// message naming the field, or it is accepted and the operator reports it
// where the user looks (an event, a phase), changing nothing else. After
// every case the operator still binds a fresh claim within seconds.
// Quantities, NfsExports and RPC replies have suites of their own
// (hostile-quantity, hostile-nfsexport, test/unit/nfs/hostile-rpc).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  CoreV1Api,
  EventsV1Api,
  PatchStrategy,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { apiMessage, apiStatus } from '../../src/kube/api-errors.ts';
import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { pv, pvc } from '../support/objects.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';

const operatorNamespace = 'pv-lifecycle-system';
const ns = 'hostile';

describe('hostile volumes, claims and recycler templates', function () {
  this.timeout(90_000);
  let core: CoreV1Api;
  let eventsApi: EventsV1Api;
  let operator: OperatorProcess;
  let n = 0;

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    for (const name of [operatorNamespace, ns]) {
      await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
    }
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: ['--namespace', operatorNamespace, '--recycle-retry-base', '1s', '--recycle-max-retries', '0'],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-hostile.log'),
    });
  });

  // Its volumes are deleted (the data was never real), so later suites do not meet them.
  after(async () => {
    await Promise.all(created.map((name) => core.deletePersistentVolume({ name }).catch(() => undefined)));
    expect((await operator.stop()).code).to.equal(0);
  });

  // Whatever the case did, the operator still binds: a fresh claim and volume of a class of their own.
  afterEach(async function () {
    if (this.currentTest?.state !== 'passed') return;
    const id = `fresh-${String(++n)}`;
    await createVolume(pv(id, { storageClass: id }));
    await createClaim(pvc(id, { storageClass: id, namespace: ns }));
    await boundTo(id, 15_000);
    expect(operator.running, 'the operator is still running').to.equal(true);
  });

  const created: string[] = [];
  const createVolume = (v: V1PersistentVolume) => {
    delete v.status;
    created.push(v.metadata?.name ?? '');
    return core.createPersistentVolume({ body: v });
  };
  const createClaim = (c: V1PersistentVolumeClaim) => {
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const boundTo = (claimName: string, timeoutMs = 30_000) =>
    eventually(
      `${claimName} Bound`,
      async () => {
        const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
        return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
      },
      timeoutMs,
    );
  const eventAbout = (kind: string, name: string, reason: string, namespace: string, timeoutMs = 30_000) =>
    eventually(
      `${reason} event about ${kind} ${name}`,
      async () =>
        (await eventsApi.listNamespacedEvent({ namespace })).items.find(
          (e) => e.regarding?.kind === kind && e.regarding.name === name && e.reason === reason,
        ),
      timeoutMs,
    );
  const claimEvent = (name: string, reason: string) => eventAbout('PersistentVolumeClaim', name, reason, ns);
  const volumeEvent = (name: string, reason: string) =>
    eventAbout('PersistentVolume', name, reason, 'default');
  /** The API server's refusal of create, with its message. */
  async function refused(create: () => Promise<unknown>): Promise<string> {
    try {
      await create();
    } catch (err) {
      expect(apiStatus(err), apiMessage(err)).to.equal(422);
      return apiMessage(err);
    }
    throw new Error('the API server accepted it');
  }
  /** Binds a claim of the volume's class to it, then deletes the claim: the volume is Released. */
  async function release(volumeName: string, storageClass: string, volumeMode?: string): Promise<void> {
    const claimName = `${volumeName.slice(0, 60)}-c`;
    await createClaim(pvc(claimName, { storageClass, namespace: ns, volumeMode }));
    expect(await boundTo(claimName)).to.equal(volumeName);
    await core.deleteNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
  }

  describe('claims (any tenant)', () => {
    const refusals: [
      string,
      Parameters<typeof pvc>[1] & { raw?: (c: V1PersistentVolumeClaim) => void },
      string,
    ][] = [
      ['a request of 0', { size: '0' }, 'spec.resources[storage]'],
      ['a negative request', { size: '-1Gi' }, 'spec.resources[storage]'],
      [
        'ReadWriteOncePod with another mode',
        { modes: ['ReadWriteOncePod', 'ReadWriteMany'] },
        'may not use ReadWriteOncePod with other access modes',
      ],
      ['an unknown access mode', { modes: ['ReadWriteSometimes'] }, 'spec.accessModes'],
      [
        'a selector "In" without values',
        {
          raw: (c) =>
            (c.spec = { ...c.spec, selector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }),
        },
        'spec.selector.matchExpressions[0].values',
      ],
      [
        'no storage request',
        { raw: (c) => (c.spec = { ...c.spec, resources: {} }) },
        'spec.resources[storage]',
      ],
      ['an unknown volumeMode', { volumeMode: 'Tape' }, 'spec.volumeMode'],
      ['a storage class that is no DNS subdomain', { storageClass: 'Fast_Disks!' }, 'spec.storageClassName'],
    ];
    for (const [what, spec, field] of refusals) {
      it(`refused by the API: ${what} (${field})`, async () => {
        const c = pvc(`r-${String(n)}`, { namespace: ns, ...spec });
        spec.raw?.(c);
        expect(await refused(() => createClaim(c))).to.include(field);
      });
    }

    it('a selector with 5000 values is accepted and matched like any other', async () => {
      await createVolume(pv('sel-target', { storageClass: 'sel', labels: { tier: 'v4999' } }));
      const values = Array.from({ length: 5000 }, (_, i) => `v${String(i)}`);
      await createClaim(
        pvc('sel', {
          storageClass: 'sel',
          namespace: ns,
          selector: { matchExpressions: [{ key: 'tier', operator: 'In', values }] },
        }),
      );
      expect(await boundTo('sel')).to.equal('sel-target');
    });

    it('a 253-character claim name that cannot bind gets its event (the event name is cut to fit)', async () => {
      const name = `l${'o'.repeat(251)}g`;
      await createClaim(pvc(name, { storageClass: 'nothing-here', namespace: ns }));
      const e = await claimEvent(name, 'ProvisioningFailed');
      expect(e.note).to.include('storageclass.storage.k8s.io "nothing-here" not found');
      expect(e.metadata?.name?.length).to.be.at.most(253);
    });

    it('a claim naming a volume bound to another claim: FailedBinding, and the volume stays with its claim', async () => {
      await createVolume(pv('taken', { storageClass: 'taken' }));
      await createClaim(pvc('owner', { storageClass: 'taken', namespace: ns }));
      expect(await boundTo('owner')).to.equal('taken');
      await createClaim(pvc('thief', { storageClass: 'taken', namespace: ns, volumeName: 'taken' }));
      const e = await claimEvent('thief', 'FailedBinding');
      expect(e.note).to.include('already bound to a different claim');
      expect((await core.readPersistentVolume({ name: 'taken' })).spec?.claimRef?.name).to.equal('owner');
    });

    it('a claim naming a volume too small for it: VolumeMismatch, nothing written', async () => {
      await createVolume(pv('small', { storageClass: 'small', size: '1Mi' }));
      await createClaim(
        pvc('big', { storageClass: 'small', namespace: ns, size: '1Gi', volumeName: 'small' }),
      );
      const e = await claimEvent('big', 'VolumeMismatch');
      expect(e.note).to.include('requested PV is too small');
      expect((await core.readPersistentVolume({ name: 'small' })).spec?.claimRef).to.equal(undefined);
    });

    it('a claim naming a volume of another mode: VolumeMismatch', async () => {
      await createVolume(pv('block', { storageClass: 'block', volumeMode: 'Block' }));
      await createClaim(pvc('fs', { storageClass: 'block', namespace: ns, volumeName: 'block' }));
      expect((await claimEvent('fs', 'VolumeMismatch')).note).to.include('incompatible volumeMode');
    });

    it('a claim naming a volume that does not exist stays Pending and harms nothing', async () => {
      await createClaim(pvc('ghost', { storageClass: 'ghost', namespace: ns, volumeName: 'no-such-volume' }));
      await eventually('ghost Pending', async () =>
        (await core.readNamespacedPersistentVolumeClaim({ name: 'ghost', namespace: ns })).status?.phase ===
        'Pending'
          ? true
          : undefined,
      );
    });

    it('a beta class annotation that disagrees with storageClassName: the annotation decides, as upstream', async () => {
      await createVolume(pv('beta-a', { storageClass: 'beta-a' }));
      const c = pvc('beta', { storageClass: 'beta-b', namespace: ns });
      c.metadata = { ...c.metadata, annotations: { 'volume.beta.kubernetes.io/storage-class': 'beta-a' } };
      await createClaim(c);
      expect(await boundTo('beta')).to.equal('beta-a');
    });
  });

  describe('volumes (an administrator, careless or hostile)', () => {
    const refusals: [string, V1PersistentVolume, string][] = [
      ['a capacity of 0', pv('r-zero', { size: '0' }), 'spec.capacity[storage]'],
      [
        'an unknown reclaim policy',
        pv('r-shred', { reclaimPolicy: 'Shred' }),
        'spec.persistentVolumeReclaimPolicy',
      ],
      [
        'Recycle of a hostPath at /',
        {
          ...pv('r-root', { reclaimPolicy: 'Recycle' }),
          spec: { ...pv('x').spec, persistentVolumeReclaimPolicy: 'Recycle', hostPath: { path: '/' } },
        },
        "may not be 'recycle' for a hostPath mount of '/'",
      ],
      [
        'a hostPath with ".."',
        { ...pv('r-dots'), spec: { ...pv('x').spec, hostPath: { path: '/srv/../etc' } } },
        'spec.hostPath.path: Invalid value: "/srv/../etc": must not contain \'..\'',
      ],
      [
        'an NFS path that is not absolute',
        {
          ...pv('r-rel'),
          spec: { ...pv('x').spec, hostPath: undefined, nfs: { server: 'nfs.example.com', path: 'exports' } },
        },
        'spec.nfs.path',
      ],
      ['no access modes', pv('r-modes', { modes: [] }), 'spec.accessModes'],
    ];
    for (const [what, v, field] of refusals) {
      it(`refused by the API: ${what} (${field})`, async () => {
        expect(await refused(() => createVolume(v))).to.include(field);
      });
    }

    /** A Recycle volume of its own class, released: the operator must refuse to scrub it, saying why. */
    async function recycleRefused(
      name: string,
      spec: Partial<NonNullable<V1PersistentVolume['spec']>>,
      why: string,
    ) {
      const base = pv(name, { storageClass: name, reclaimPolicy: 'Recycle' });
      await createVolume({ ...base, spec: { ...base.spec, ...spec } });
      await release(name, name, spec.volumeMode);
      const e = await volumeEvent(name, 'VolumeFailedRecycle');
      expect(e.type).to.equal('Warning');
      expect(e.note).to.include(why);
      const v = await core.readPersistentVolume({ name });
      expect(v.status?.phase).to.equal('Failed');
      expect(v.status?.message).to.include(why);
    }

    it("accepted, never scrubbed: Recycle of an NFS volume at the server's /", () =>
      recycleRefused(
        'nfs-root',
        {
          hostPath: undefined,
          nfs: { server: 'nfs.example.com', path: '/' },
          accessModes: ['ReadWriteOnce'],
        },
        "an NFS volume at the server's / cannot be scrubbed",
      ));

    it('accepted, never scrubbed: Recycle of a read-only NFS volume', () =>
      recycleRefused(
        'nfs-ro',
        { hostPath: undefined, nfs: { server: 'nfs.example.com', path: '/exports/ro', readOnly: true } },
        'read-only (spec.nfs.readOnly is true)',
      ));

    it('accepted, never scrubbed: Recycle of an NFS volume mounted "ro" by its mount options', () =>
      recycleRefused(
        'nfs-ro-opt',
        {
          hostPath: undefined,
          nfs: { server: 'nfs.example.com', path: '/exports/r' },
          mountOptions: ['hard', 'ro'],
        },
        'spec.mountOptions) hold "ro"',
      ));

    it('accepted, never scrubbed: Recycle of a Block volume', () =>
      recycleRefused('block-rc', { volumeMode: 'Block' }, 'a Block volume cannot be scrubbed'));

    it('accepted, never scrubbed: Recycle of a CSI volume', () =>
      recycleRefused(
        'csi-rc',
        { hostPath: undefined, csi: { driver: 'csi.example.com', volumeHandle: 'h' } },
        'a csi volume cannot be scrubbed',
      ));

    it('never scrubs an NFS volume while another volume lies inside its export, and says which', async () => {
      const outer = pv('outer', { storageClass: 'outer', reclaimPolicy: 'Recycle' });
      await createVolume({
        ...outer,
        spec: {
          ...outer.spec,
          hostPath: undefined,
          nfs: { server: 'share.example.com', path: '/exports/share' },
        },
      });
      const inner = pv('inner', { storageClass: 'inner', reclaimPolicy: 'Retain' });
      await createVolume({
        ...inner,
        spec: {
          ...inner.spec,
          hostPath: undefined,
          nfs: { server: 'SHARE.example.com.', path: '/exports/share/team' },
        },
      });
      await release('outer', 'outer');
      const e = await volumeEvent('outer', 'RecycleBlocked');
      expect(e.note).to.include('volume inner sees the same files');
      const v = await core.readPersistentVolume({ name: 'outer' });
      expect(v.status?.phase).to.equal('Released');
      expect(v.metadata?.annotations?.['pvlifecycle.io/scrub-job']).to.equal(undefined);
    });

    it('a claimRef without a name, with a uid: Released (no such claim can exist), kept as it is', async () => {
      const v = pv('noname', { storageClass: 'noname', reclaimPolicy: 'Retain' });
      await createVolume({ ...v, spec: { ...v.spec, claimRef: { namespace: ns, uid: 'not-a-claim' } } });
      await eventually('noname Released', async () =>
        (await core.readPersistentVolume({ name: 'noname' })).status?.phase === 'Released' ? true : undefined,
      );
    });

    it('a claimRef into a namespace that does not exist: Released, and a Retain volume keeps its data', async () => {
      await createVolume(
        pv('far', {
          storageClass: 'far',
          reclaimPolicy: 'Retain',
          claimRef: { namespace: 'no-such-ns', name: 'c', uid: 'u-1' },
        }),
      );
      await eventually('far Released', async () =>
        (await core.readPersistentVolume({ name: 'far' })).status?.phase === 'Released' ? true : undefined,
      );
      expect((await core.readPersistentVolume({ name: 'far' })).spec?.claimRef?.uid).to.equal('u-1');
    });

    it('a reclaim request that is not one of the known ones is refused and removed', async () => {
      await createVolume(pv('asks', { storageClass: 'asks', reclaimPolicy: 'Retain' }));
      await release('asks', 'asks');
      await core.patchPersistentVolume(
        {
          name: 'asks',
          body: { metadata: { annotations: { 'pvlifecycle.io/reclaim': 'shred; rm -rf /' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      expect((await volumeEvent('asks', 'ReclaimRequestInvalid')).note).to.include(
        'is not one of: recycle, release',
      );
      await eventually('the request removed', async () =>
        (await core.readPersistentVolume({ name: 'asks' })).metadata?.annotations?.[
          'pvlifecycle.io/reclaim'
        ] === undefined
          ? true
          : undefined,
      );
    });

    it('a 253-character volume name with Recycle is scrubbed by a Job whose name fits, then reused', async () => {
      const name = `v${'x'.repeat(251)}z`;
      await createVolume(pv(name, { storageClass: 'long', reclaimPolicy: 'Recycle' }));
      await release(name, 'long');
      await volumeEvent(name, 'VolumeRecycled');
    });

    it('a volume with 500 labels is matched by a selector on one of them', async () => {
      const labels = Object.fromEntries(
        Array.from({ length: 500 }, (_, i) => [`k${String(i)}`, `v${String(i)}`]),
      );
      await createVolume(pv('labelled', { storageClass: 'labelled', labels }));
      await createClaim(
        pvc('picky', {
          storageClass: 'labelled',
          namespace: ns,
          selector: { matchLabels: { k499: 'v499' } },
        }),
      );
      expect(await boundTo('picky')).to.equal('labelled');
    });
  });

  describe('recycler templates (an administrator)', () => {
    const templates: [string, string, string][] = [
      [
        'a command of its own',
        'spec:\n  containers:\n    - name: scrub\n      command: [rm, -rf, /]\n',
        'command is not allowed',
      ],
      ['host namespaces', 'spec:\n  hostPID: true\n', 'spec.hostPID is not allowed'],
      [
        'a volume of its own',
        'spec:\n  volumes: [{name: x, hostPath: {path: /}}]\n',
        'spec.volumes is not allowed',
      ],
      [
        'a YAML alias bomb',
        `metadata:\n  x:\n${[
          'a: &a [x, x, x, x, x, x, x, x, x, x]',
          ...'bcdefghi'.split('').map((c, i) => {
            const p = 'abcdefghi'[i] ?? 'a';
            return `${c}: &${c} [${Array.from({ length: 10 }, () => `*${p}`).join(', ')}]`;
          }),
        ]
          .map((l) => `    ${l}`)
          .join('\n')}\n`,
        'cannot be read as YAML',
      ],
      [
        '70 KB of labels',
        `metadata:\n  labels:\n${'    a: b\n'.repeat(8_000)}`,
        'more than the 65536 a pod template may take',
      ],
    ];
    for (const [what, text, problem] of templates) {
      it(`refused at start-up, naming the problem: ${what}`, async () => {
        const file = join(repoRoot, '.cluster', 'test-logs', `hostile-template-${String(++n)}.yaml`);
        writeFileSync(file, text);
        let failure = '';
        try {
          const p = await OperatorProcess.start({
            kubeconfig: operatorKubeconfig(),
            args: [
              '--namespace',
              operatorNamespace,
              '--recycler-pod-template',
              file,
              '--metrics-bind-address',
              '127.0.0.1:0',
            ],
            readyTimeoutMs: 20_000,
          });
          await p.stop();
        } catch (err) {
          failure = (err as Error).message;
        }
        expect(failure).to.include('operator exited during start-up');
        expect(failure).to.include(problem);
      });
    }
  });
});
