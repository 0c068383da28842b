// Hostile NfsExports against the real API server and the operator process:
// each is refused by the API with a message naming the field, or accepted and
// reported on the export (condition, event). After each, the operator still
// binds a fresh claim to a fresh export. Servers are example.com names or
// loopback addresses; probes are off, so nothing is ever contacted.
import { join } from 'node:path';

import {
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  PatchStrategy,
  type V1PersistentVolume,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import type { NfsExport } from '../../src/nfs/export.ts';
import { apiMessage } from '../../src/kube/api-errors.ts';
import { kubectl } from '../support/kubectl.ts';
import { pvc } from '../support/objects.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

const api = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };
const ns = 'hostile-nfsx';
const refuseLabel = 'hostile.example.com/refuse';
const labelValuePattern = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

type Spec = Partial<NfsExport['spec']> & Record<string, unknown>;

// Refuses volumes labelled hostile.example.com/refuse=invalid (422) or =forbidden (403), as an
// administrator's admission policy might: the operator's writes of such a volume are refused.
const policy = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: hostile-nfsexport-volumes}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [CREATE, UPDATE]
        resources: [persistentvolumes]
  validations:
    - expression: "!has(object.metadata.labels) || !('${refuseLabel}' in object.metadata.labels) || object.metadata.labels['${refuseLabel}'] != 'invalid'"
      message: "hostile test policy: volumes labelled ${refuseLabel}=invalid are refused"
      reason: Invalid
    - expression: "!has(object.metadata.labels) || !('${refuseLabel}' in object.metadata.labels) || object.metadata.labels['${refuseLabel}'] != 'forbidden'"
      message: "hostile test policy: volumes labelled ${refuseLabel}=forbidden are forbidden"
      reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: hostile-nfsexport-volumes}
spec:
  policyName: hostile-nfsexport-volumes
  validationActions: [Deny]
`;

describe('Hostile NfsExports (API server and operator process)', function () {
  this.timeout(90_000);
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let events: EventsV1Api;
  let operator: OperatorProcess;
  const made = new Set<string>();
  const bindTimes: number[] = [];
  let n = 0;
  const k = (args: string[], input?: string) =>
    kubectl(testCluster().kubectl, testCluster().kubeconfig, args, input);

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    events = kc.makeApiClient(EventsV1Api);
    for (const name of ['pv-lifecycle-system', ns])
      await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      // Servers here are example.com names: no probes, so nothing is contacted or held back.
      args: ['--namespace', 'pv-lifecycle-system', '--probe-interval', '0'],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-hostile-nfsexport.log'),
    });
  });

  after(async function () {
    this.timeout(60_000);
    await k([
      'delete',
      'validatingadmissionpolicybinding,validatingadmissionpolicy',
      'hostile-nfsexport-volumes',
      '--ignore-not-found',
    ]);
    await k(['delete', 'pvc', '--all', '-n', ns, '--wait=false']).catch(() => undefined);
    // Deleted while the operator runs, so their finalizers go and nothing is left for later tests.
    for (const name of made) await custom.deleteClusterCustomObject({ ...api, name }).catch(() => undefined);
    await eventually(
      'the hostile exports gone',
      async () => {
        const left = (await custom.listClusterCustomObject(api)) as { items: NfsExport[] };
        return left.items.some((e) => made.has(e.metadata?.name ?? '')) ? undefined : true;
      },
      45_000,
    );
    expect((await operator.stop()).code).to.equal(0);
    process.stderr.write(
      `      fresh claims bound after each hostile object in ${bindTimes.map((ms) => String(ms)).join(', ')} ms\n`,
    );
  });

  // After each hostile object: a fresh export, a fresh claim, bound.
  afterEach(async function () {
    if (this.currentTest?.state !== 'passed') return;
    const name = `hx-fresh-${String(++n)}`;
    const started = Date.now();
    await create(name, { server: 'fresh.example.com', path: `/fresh/${String(n)}`, storageClassName: name });
    const c = pvc(name, { namespace: ns, storageClass: name, modes: ['ReadWriteMany'] });
    delete c.metadata?.uid;
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
    await eventually(
      `fresh claim ${name} Bound`,
      async () => {
        const got = await core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
        return got.status?.phase === 'Bound' ? true : undefined;
      },
      20_000,
    );
    bindTimes.push(Date.now() - started);
  });

  const body = (name: string, spec: Spec, labels?: Record<string, string>) => ({
    apiVersion: 'pvlifecycle.io/v1alpha1',
    kind: 'NfsExport',
    metadata: { name, labels },
    spec: {
      server: 'hostile.example.com',
      path: `/exports/${name}`,
      capacity: '1Gi',
      accessModes: ['ReadWriteMany'],
      ...spec,
    },
  });
  const create = async (name: string, spec: Spec, labels?: Record<string, string>) => {
    made.add(name);
    return (await custom.createClusterCustomObject({ ...api, body: body(name, spec, labels) })) as NfsExport;
  };
  const patch = (name: string, change: object) =>
    custom.patchClusterCustomObject(
      { ...api, name, body: change },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  const remove = async (name: string) => {
    await custom.deleteClusterCustomObject({ ...api, name });
    await eventually(`${name} gone`, async () =>
      (await custom.getClusterCustomObject({ ...api, name }).then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    );
  };
  const read = async (name: string) => (await custom.getClusterCustomObject({ ...api, name })) as NfsExport;
  const ready = (e: NfsExport) => e.status?.conditions?.find((c) => c.type === 'Ready');
  const where = (name: string, what: string, ok: (e: NfsExport) => boolean) =>
    eventually(`${name} ${what}`, async () => {
      const e = await read(name);
      return ok(e) ? e : undefined;
    });
  const available = (name: string) =>
    where(name, 'Available and Ready', (e) => e.status?.phase === 'Available' && ready(e)?.status === 'True');
  const withReason = (name: string, reason: string) =>
    where(name, `Ready=False ${reason}`, (e) => ready(e)?.status === 'False' && ready(e)?.reason === reason);
  const eventOf = (name: string, reason: string, type = 'Warning') =>
    eventually(`${type} event ${reason} on ${name}`, async () =>
      (await events.listNamespacedEvent({ namespace: 'default' })).items.find(
        (x) => x.regarding?.name === name && x.reason === reason && x.type === type,
      ),
    );
  const volumeOf = (e: NfsExport) => core.readPersistentVolume({ name: e.status?.volumeName ?? '' });
  const noVolume = async (name: string) => {
    const found = await core.readPersistentVolume({ name: `nfsx-${name}` }).then(
      () => true,
      () => false,
    );
    expect(found, `a volume nfsx-${name}`).to.equal(false);
  };
  const claimOn = async (name: string, cls: string) => {
    const c = pvc(name, { namespace: ns, storageClass: cls, modes: ['ReadWriteMany'] });
    delete c.metadata?.uid;
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
    return eventually(`claim ${name} Bound`, async () => {
      const got = await core.readNamespacedPersistentVolumeClaim({ name, namespace: ns });
      return got.status?.phase === 'Bound' ? got.spec?.volumeName : undefined;
    });
  };

  describe('refused by the API server, naming the field', () => {
    const refusals: [string, Spec, RegExp][] = [
      ['the root path', { path: '/' }, /spec\.path: Invalid value: "\/": must not be the server's root/],
      [
        'the root spelt //',
        { path: '//' },
        /spec\.path: Invalid value: "\/\/": must not be the server's root/,
      ],
      [
        'the root spelt /.',
        { path: '/.' },
        /spec\.path: Invalid value: "\/\.": must not be the server's root/,
      ],
      [
        'the root spelt /..',
        { path: '/..' },
        /spec\.path: Invalid value: "\/\.\.": must not be the server's root/,
      ],
      [
        'a trailing slash',
        { path: '/exports/a/' },
        /spec\.path: Invalid value: "\/exports\/a\/": must be in normal form, such as \/exports\/data/,
      ],
      ['a leading //', { path: '//exports/a' }, /spec\.path: .*must be in normal form/],
      ['// inside', { path: '/exports//a' }, /spec\.path: .*must be in normal form/],
      ['a . segment', { path: '/exports/./a' }, /spec\.path: .*must be in normal form.*no \. segments/],
      ['a trailing /.', { path: '/exports/a/.' }, /spec\.path: .*must be in normal form/],
      ['a .. segment', { path: '/exports/a/../b' }, /spec\.path: .*must not contain a '\.\.' segment/],
      [
        'a tab in the path',
        { path: '/exports/a\tb' },
        /spec\.path: .*must not contain a comma or a control character/,
      ],
      [
        'a NUL in the path',
        { path: '/exports/a\u0000b' },
        /spec\.path: .*must not contain a comma or a control character/,
      ],
      [
        'a C1 control in the path',
        { path: '/exports/a\u0085b' },
        /spec\.path: .*must not contain a comma or a control character/,
      ],
      [
        'ReadWriteOncePod with ReadWriteOnce',
        { accessModes: ['ReadWriteOncePod', 'ReadWriteOnce'] },
        /spec\.accessModes: Invalid value: .*ReadWriteOncePod cannot be combined with other access modes/,
      ],
      [
        'ReadWriteOncePod with two others',
        { accessModes: ['ReadOnlyMany', 'ReadWriteOncePod', 'ReadWriteMany'] },
        /spec\.accessModes: .*ReadWriteOncePod cannot be combined/,
      ],
      [
        'server 127.1 (read as 127.0.0.1)',
        { server: '127.1' },
        /spec\.server: Invalid value: "127\.1": must be an IP address in canonical form/,
      ],
      [
        'server 0x7f.1 (hexadecimal)',
        { server: '0x7f.1' },
        /spec\.server: .*must be an IP address in canonical form/,
      ],
      [
        'server 0177.0.0.1 (octal)',
        { server: '0177.0.0.1' },
        /spec\.server: .*must be an IP address in canonical form/,
      ],
      [
        'server 127.0.0.1. (an address with a dot)',
        { server: '127.0.0.1.' },
        /spec\.server: .*must be an IP address in canonical form/,
      ],
      [
        'server with an IPv6 zone',
        { server: 'fe80::1%eth0' },
        /spec\.server: .*must be a DNS host name .* or an IP address/,
      ],
      [
        'a mount option with a newline',
        { mountOptions: ['hard\nsoft'] },
        /spec\.mountOptions\[0\]: .*without commas, spaces or control characters/,
      ],
      [
        'a mount option with a tab',
        { mountOptions: ['nfsvers=4.1', 'ro\tsync'] },
        /spec\.mountOptions\[1\]: .*without commas, spaces or control characters/,
      ],
      [
        '33 mount options',
        { mountOptions: Array.from({ length: 33 }, (_, i) => `o${String(i)}`) },
        /spec\.mountOptions: Too many: 33: must have at most 32 items/,
      ],
      [
        'a readOnly export with Recycle (a scrub would write to it)',
        { readOnly: true, persistentVolumeReclaimPolicy: 'Recycle' },
        /spec\.persistentVolumeReclaimPolicy: Invalid value: .*a readOnly export can only be Retain/,
      ],
      [
        'a readOnly export with Delete',
        { readOnly: true, persistentVolumeReclaimPolicy: 'Delete' },
        /spec\.persistentVolumeReclaimPolicy: .*a readOnly export can only be Retain/,
      ],
      [
        'a 257-character mount option',
        { mountOptions: ['x'.repeat(257)] },
        /spec\.mountOptions\[0\]: Too long: may not be more than 256/,
      ],
    ];
    for (const [what, spec, message] of refusals) {
      it(`refuses ${what}`, async () => {
        const name = `hx-refused-${String(++n)}`;
        let error = '';
        try {
          await create(name, spec);
        } catch (err) {
          error = apiMessage(err);
        }
        expect(error, 'the API server accepted it').to.match(/is invalid/);
        expect(error).to.match(message);
        made.delete(name);
      });
    }

    it('refuses a 254-character name', async () => {
      let error = '';
      try {
        await create(`${'a'.repeat(200)}.${'b'.repeat(53)}`, {});
      } catch (err) {
        error = apiMessage(err);
      }
      expect(error).to.match(/metadata\.name: Invalid value: .*must be no more than 253 characters/);
    });
  });

  describe('accepted, and reported on the export', () => {
    for (const length of [63, 64, 253]) {
      it(`makes a valid volume for a ${String(length)}-character name, and binds a claim to it`, async () => {
        // A DNS subdomain of that length, with a dot where a shortened label value is cut.
        const name = `hx-${'n'.repeat(42)}.${'m'.repeat(300)}`.slice(0, length);
        const cls = `hx-long-${String(length)}`;
        await create(name, { storageClassName: cls, path: `/long/${String(length)}` });
        const e = await available(name);
        const v = await volumeOf(e);
        expect(v.metadata?.name).to.have.length.at.most(253);
        const label = v.metadata?.labels?.['pvlifecycle.io/nfs-export'] ?? '';
        expect(label).to.match(labelValuePattern);
        if (length <= 63) expect(label).to.equal(name);
        else expect(label).to.match(/-[0-9a-f]{16}$/);
        expect(v.metadata?.ownerReferences?.[0]?.name).to.equal(name);
        expect(await claimOn(`long-${String(length)}`, cls)).to.equal(v.metadata?.name);
        await where(name, 'Bound', (x) => x.status?.phase === 'Bound');
      });
    }

    it('gives the newer of two equal exports no volume, naming the older (condition and event)', async () => {
      await create('hx-dup-a', { server: 'dup.example.com', path: '/data' });
      await available('hx-dup-a');
      await create('hx-dup-b', { server: 'dup.example.com', path: '/data' });
      const b = await withReason('hx-dup-b', 'ExportConflict');
      expect(ready(b)?.message).to.contain(
        'overlaps export hx-dup-a (dup.example.com:/data), which is older',
      );
      expect(b.status?.phase).to.equal('Pending');
      expect(b.status?.volumeName).to.equal(undefined);
      expect((await eventOf('hx-dup-b', 'ExportConflict')).note).to.contain('hx-dup-a');
      await noVolume('hx-dup-b');
      expect(ready(await read('hx-dup-a'))?.status).to.equal('True');
    });

    it('refuses a volume to an export nested below an older one', async () => {
      await create('hx-nest-a', { server: 'nest.example.com', path: '/srv/a' });
      await available('hx-nest-a');
      await create('hx-nest-b', { server: 'nest.example.com', path: '/srv/a/b/c' });
      const b = await withReason('hx-nest-b', 'ExportConflict');
      expect(ready(b)?.message).to.contain('hx-nest-a');
      await eventOf('hx-nest-b', 'ExportConflict');
      await noVolume('hx-nest-b');
    });

    it('refuses a volume to an export above an older one', async () => {
      await create('hx-above-a', { server: 'above.example.com', path: '/srv/a/b' });
      await available('hx-above-a');
      await create('hx-above-b', { server: 'above.example.com', path: '/srv/a' });
      expect(ready(await withReason('hx-above-b', 'ExportConflict'))?.message).to.contain('hx-above-a');
      await noVolume('hx-above-b');
    });

    it('sees one server in every spelling (case, trailing dot)', async () => {
      await create('hx-spell-a', { server: 'Spelling.Example.COM', path: '/x' });
      await available('hx-spell-a');
      await create('hx-spell-b', { server: 'spelling.example.com.', path: '/x/y' });
      expect(ready(await withReason('hx-spell-b', 'ExportConflict'))?.message).to.contain('hx-spell-a');
      await noVolume('hx-spell-b');
    });

    it('sees one IPv6 server in every spelling', async () => {
      await create('hx-v6-a', { server: 'fd00::53', path: '/x' });
      await available('hx-v6-a');
      await create('hx-v6-b', { server: 'FD00:0:0::53', path: '/x' });
      expect(ready(await withReason('hx-v6-b', 'ExportConflict'))?.message).to.contain('hx-v6-a');
      await noVolume('hx-v6-b');
    });

    it('lets sibling paths that share a prefix, and equal paths on other servers, each have a volume', async () => {
      await create('hx-sib-a', { server: 'sib.example.com', path: '/data' });
      await create('hx-sib-b', { server: 'sib.example.com', path: '/data-old' });
      await create('hx-sib-c', { server: '127.0.0.9', path: '/data' });
      for (const name of ['hx-sib-a', 'hx-sib-b', 'hx-sib-c']) await available(name);
    });

    it('gives the newer export its volume once the conflict is gone', async () => {
      await create('hx-gone-a', { server: 'gone.example.com', path: '/d' });
      await available('hx-gone-a');
      await create('hx-gone-b', { server: 'gone.example.com', path: '/d' });
      await withReason('hx-gone-b', 'ExportConflict');
      await remove('hx-gone-a');
      const b = await available('hx-gone-b');
      expect((await volumeOf(b)).spec?.nfs).to.deep.include({ server: 'gone.example.com', path: '/d' });
    });

    it('withdraws the unbound volume of an export moved into an older one’s path', async () => {
      await create('hx-move-a', { server: 'move.example.com', path: '/m/a' });
      await create('hx-move-b', { server: 'move.example.com', path: '/m/b' });
      await available('hx-move-a');
      await available('hx-move-b');
      await patch('hx-move-b', { spec: { path: '/m/a/inside' } });
      const b = await withReason('hx-move-b', 'ExportConflict');
      expect(ready(b)?.message).to.contain('hx-move-a');
      expect((await eventOf('hx-move-b', 'VolumeWithdrawn', 'Normal')).note).to.contain(
        'conflicts with hx-move-a',
      );
      await eventually('the volume withdrawn', async () =>
        (await core.readPersistentVolume({ name: 'nfsx-hx-move-b' }).then(
          () => false,
          () => true,
        ))
          ? true
          : undefined,
      );
      expect(ready(await read('hx-move-a'))?.status).to.equal('True');
    });

    it('keeps a bound volume when an older export moves onto its path, then hands the path over once free', async () => {
      await create('hx-held-a', { server: 'held.example.com', path: '/h/a', storageClassName: 'hx-held-a' });
      await create('hx-held-b', {
        server: 'held.example.com',
        path: '/h/b',
        storageClassName: 'hx-held-b',
        persistentVolumeReclaimPolicy: 'Delete',
      });
      await available('hx-held-a');
      await available('hx-held-b');
      expect(await claimOn('held', 'hx-held-b')).to.equal('nfsx-hx-held-b');
      await where('hx-held-b', 'Bound', (x) => x.status?.phase === 'Bound');
      // The older export, unbound, moves below the bound one's path.
      await patch('hx-held-a', { spec: { path: '/h/b/sub' } });
      const a = await withReason('hx-held-a', 'ExportConflict');
      expect(ready(a)?.message).to.contain(`whose volume nfsx-hx-held-b holds claim ${ns}/held`);
      await eventually('the older export’s unbound volume withdrawn', async () =>
        (await core.readPersistentVolume({ name: 'nfsx-hx-held-a' }).then(
          () => false,
          () => true,
        ))
          ? true
          : undefined,
      );
      const b = await withReason('hx-held-b', 'ExportConflict');
      expect(ready(b)?.message).to.contain(`its volume nfsx-hx-held-b stays while claim ${ns}/held holds it`);
      const bound: V1PersistentVolume = await core.readPersistentVolume({ name: 'nfsx-hx-held-b' });
      expect(bound.status?.phase).to.equal('Bound');
      expect(bound.spec?.claimRef?.name).to.equal('held');
      // The claim goes: Delete scrubs and deletes the volume; it is not made anew, the older export gets the path.
      await core.deleteNamespacedPersistentVolumeClaim({ name: 'held', namespace: ns });
      const back = await available('hx-held-a');
      expect((await volumeOf(back)).spec?.nfs?.path).to.equal('/h/b/sub');
      const b2 = await withReason('hx-held-b', 'ExportConflict');
      expect(b2.status?.phase).to.equal('Pending');
      expect(ready(b2)?.message).to.contain('hx-held-a');
    });

    it('never offers a recycled volume of the newer export to a waiting claim; withdraws it instead', async () => {
      await create('hx-rec-a', { server: 'rec.example.com', path: '/r/a', storageClassName: 'hx-rec-a' });
      await create('hx-rec-b', {
        server: 'rec.example.com',
        path: '/r/b',
        storageClassName: 'hx-rec-b',
        persistentVolumeReclaimPolicy: 'Recycle',
      });
      await available('hx-rec-a');
      await available('hx-rec-b');
      expect(await claimOn('rec-held', 'hx-rec-b')).to.equal('nfsx-hx-rec-b');
      await patch('hx-rec-a', { spec: { path: '/r' } });
      await withReason('hx-rec-a', 'ExportConflict');
      await withReason('hx-rec-b', 'ExportConflict');
      // A claim that would take the recycled volume, were it offered.
      const waiting = pvc('rec-waiting', {
        namespace: ns,
        storageClass: 'hx-rec-b',
        modes: ['ReadWriteMany'],
      });
      delete waiting.metadata?.uid;
      await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: waiting });
      await core.deleteNamespacedPersistentVolumeClaim({ name: 'rec-held', namespace: ns });
      // Scrubbed, made free, held back from the binder and withdrawn; the older export gets the path.
      const back = await available('hx-rec-a');
      expect((await volumeOf(back)).spec?.nfs?.path).to.equal('/r');
      await noVolume('hx-rec-b');
      const c = await core.readNamespacedPersistentVolumeClaim({ name: 'rec-waiting', namespace: ns });
      expect(c.status?.phase).to.equal('Pending');
      expect(c.spec?.volumeName ?? '').to.equal('');
    });

    it('passes odd but harmless mount options through unchanged', async () => {
      const options = ['hard', 'hard', 'nfsvers=4.2', 'ro', 'x-custom=a=b', 'timeo=1'];
      await create('hx-opts', { server: 'opts.example.com', path: '/o', mountOptions: options });
      const e = await available('hx-opts');
      expect((await volumeOf(e)).spec?.mountOptions).to.deep.equal(options);
    });

    it('accepts ReadWriteOncePod alone', async () => {
      await create('hx-rwop', { server: 'rwop.example.com', path: '/r', accessModes: ['ReadWriteOncePod'] });
      const e = await available('hx-rwop');
      expect(e.status?.accessModes).to.equal('RWOP');
      expect((await volumeOf(e)).spec?.accessModes).to.deep.equal(['ReadWriteOncePod']);
    });

    describe('volume writes the API server refuses (an admission policy)', () => {
      before(async () => {
        await k(['apply', '-f', '-'], policy);
        // The policy takes effect a moment after it is created.
        await eventually('the policy enforced', async () => {
          const refused = await core
            .createPersistentVolume({
              body: {
                metadata: { name: 'hx-policy-probe', labels: { [refuseLabel]: 'invalid' } },
                spec: {
                  capacity: { storage: '1Gi' },
                  accessModes: ['ReadWriteOnce'],
                  hostPath: { path: '/tmp/hx' },
                },
              },
              dryRun: 'All',
            })
            .then(
              () => false,
              () => true,
            );
          return refused ? true : undefined;
        });
      });

      it('reports a refused create as VolumeInvalid with the API’s message, and does not retry hot', async () => {
        await create(
          'hx-refused-pv',
          { server: 'policy.example.com', path: '/p/a' },
          { [refuseLabel]: 'invalid' },
        );
        const e = await withReason('hx-refused-pv', 'VolumeInvalid');
        expect(ready(e)?.message).to.match(
          /^the API server refused to create PersistentVolume nfsx-hx-refused-pv: .*hostile test policy: volumes labelled hostile\.example\.com\/refuse=invalid are refused/,
        );
        expect((await eventOf('hx-refused-pv', 'VolumeInvalid')).note).to.contain('hostile test policy');
        await noVolume('hx-refused-pv');
        // The refused write waits 10 s, then longer: a few seconds see at most the first and one more.
        await sleep(5000);
        const attempts = operator.entries.filter(
          (x) =>
            x.message === 'the API server refused a volume write; the export reports it' &&
            x.export === 'hx-refused-pv',
        );
        expect(attempts.length).to.be.within(1, 2);
        // Changing the export is a different write, tried at once.
        await patch('hx-refused-pv', { metadata: { labels: { [refuseLabel]: null } } });
        await available('hx-refused-pv');
      });

      it('reports a refused update as VolumeForbidden and leaves the volume as it was', async () => {
        await create('hx-forbid', { server: 'policy.example.com', path: '/p/b' });
        await available('hx-forbid');
        await patch('hx-forbid', { metadata: { labels: { [refuseLabel]: 'forbidden' } } });
        const e = await withReason('hx-forbid', 'VolumeForbidden');
        expect(ready(e)?.message).to.match(
          /^the API server refused to update PersistentVolume nfsx-hx-forbid: .*are forbidden/,
        );
        await eventOf('hx-forbid', 'VolumeForbidden');
        const v = await core.readPersistentVolume({ name: 'nfsx-hx-forbid' });
        expect(v.metadata?.labels?.[refuseLabel]).to.equal(undefined);
        await patch('hx-forbid', { metadata: { labels: { [refuseLabel]: null } } });
        await available('hx-forbid');
      });
    });
  });
});
