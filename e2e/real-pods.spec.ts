// What only real pods can show, on hostPath volumes (any node can mount them,
// NFS or not): a scrub that deletes a user's files really deletes them all
// and nothing outside the volume, Retain keeps them, a scrub Pod Security
// refuses is reported, and a storm of claims survives the leading replica's
// pod being killed. Runs where E2E_REAL_PODS=1 and E2E_HOSTPATH_ROOT names a
// directory on the node (make e2e-kind); skipped elsewhere, saying why.
import { PatchStrategy, setHeaderOptions, type V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  assertInTreeBinderOff,
  assertOperatorLeading,
  claim,
  clients,
  type Clients,
  type E2eSettings,
  eventsAbout,
  isNotFound,
  operatorName,
  runPod,
  settings,
  until,
  volume,
} from './support.ts';

describe('real pods on hostPath volumes', function () {
  this.timeout(10 * 60_000);
  let s: E2eSettings;
  let c: Clients;
  let started = false;
  const run = `rp-${Date.now().toString(36)}`;
  const ns = run;
  const storageClass = run;
  const volumesMade: string[] = [];
  let dir = '';

  // The run's folder on the node, mounted whole by the pods that set up and inspect.
  const rootVolume = () => ({ name: 'root', hostPath: { path: dir, type: 'DirectoryOrCreate' } });

  before(async function () {
    s = settings();
    if (!s.realPods || !s.hostPathRoot) {
      process.stderr.write(
        '    skipped: these specs need real pods and a hostPath folder (E2E_REAL_PODS=1, E2E_HOSTPATH_ROOT)\n',
      );
      this.skip();
    }
    this.timeout(8 * 60_000);
    c = clients();
    started = true;
    dir = `${s.hostPathRoot}/${run}`;
    await c.core.createNamespace({ body: { metadata: { name: ns } } });
    await c.storage.createStorageClass({
      body: {
        metadata: { name: storageClass },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'Immediate',
      },
    });
    await assertOperatorLeading(c, s.operatorNamespace);
    await assertInTreeBinderOff(c, ns);
    await runPod(c, s, ns, 'mkdir-run', 'mkdir -p /mnt/root/outside', [rootVolume()]);
  });

  after(async function () {
    if (!started) return;
    this.timeout(180_000);
    await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
    for (const name of volumesMade) await c.core.deletePersistentVolume({ name }).catch(() => undefined);
    await c.storage.deleteStorageClass({ name: storageClass }).catch(() => undefined);
    // The run's folder on the node goes too (from a namespace that outlives the run's).
    await runPod(c, s, s.operatorNamespace, `${run}-cleanup`, `rm -rf /mnt/root/${run}`, [
      { name: 'root', hostPath: { path: s.hostPathRoot, type: 'DirectoryOrCreate' } },
    ]).catch((err: unknown) => process.stderr.write(`    cleanup: ${String(err)}\n`));
  });

  /** A hostPath volume of the run's folder `name`, only for claims that select it by label. */
  async function makeVolume(name: string, policy: 'Recycle' | 'Retain'): Promise<string> {
    const pvName = `${run}-${name}`;
    const body: V1PersistentVolume = {
      metadata: { name: pvName, labels: { 'e2e-run': run, 'e2e-volume': name } },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: policy,
        storageClassName: storageClass,
        hostPath: { path: `${dir}/${name}`, type: 'DirectoryOrCreate' },
      },
    };
    await c.core.createPersistentVolume({ body });
    volumesMade.push(pvName);
    return pvName;
  }

  async function makeClaim(name: string, volumeLabel: string): Promise<void> {
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          storageClassName: storageClass,
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '1Gi' } },
          selector: { matchLabels: { 'e2e-run': run, 'e2e-volume': volumeLabel } },
        },
      },
    });
  }

  const boundTo = (claimName: string) =>
    until(
      `claim ${ns}/${claimName} to be Bound`,
      async () => {
        const pvc = await claim(c, ns, claimName);
        return pvc.status?.phase === 'Bound' ? pvc.spec?.volumeName : undefined;
      },
      120_000,
    );

  const phaseOf = (pvName: string, phase: string, timeoutMs = 240_000) =>
    until(
      `volume ${pvName} to be ${phase}`,
      async () => {
        const pv = await volume(c, pvName);
        return pv?.status?.phase === phase ? pv : undefined;
      },
      timeoutMs,
      1000,
    );

  async function deleteClaim(name: string): Promise<void> {
    await c.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name });
    await until(`claim ${ns}/${name} to be gone`, async () =>
      claim(c, ns, name).then(
        () => false,
        (err: unknown) => isNotFound(err),
      ),
    );
  }

  it('Recycle: a real scrub Job empties the volume a pod filled, and only it, and the volume binds again', async () => {
    const pv = await makeVolume('recycled', 'Recycle');
    await makeClaim('data', 'recycled');
    expect(await boundTo('data')).to.equal(pv);

    // Outside the volume, beside it on the node: a file the volume links to.
    await runPod(c, s, ns, 'outside', 'echo keep-me > /mnt/root/outside/keep.txt', [rootVolume()]);
    // The user's pod fills the volume through the claim: nested folders,
    // dotfiles, a sticky folder and a folder of another user that only root
    // with DAC_OVERRIDE can enter, and a symlink to the file outside.
    const fill = [
      'cd /mnt/data',
      'mkdir -p a/b/c .hidden-dir sticky private',
      'echo deep > a/b/c/file.txt',
      'echo dot > .dotfile',
      'echo in-hidden > .hidden-dir/.inner',
      'chmod 1777 sticky && echo s > sticky/by-root && chown 2000:2000 sticky/by-root',
      'echo p > private/secret && chown -R 1234:1234 private && chmod 0700 private && chmod 0600 private/secret',
      `ln -s ${dir}/outside/keep.txt link-out`,
      'ln -s ../outside dir-link',
      'find . -mindepth 1 | wc -l',
    ].join(' && ');
    const filled = Number(
      (
        await runPod(c, s, ns, 'fill', fill, [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }])
      ).trim(),
    );
    expect(filled).to.equal(13);

    await deleteClaim('data');
    const available = await phaseOf(pv, 'Available');
    expect(available.spec?.claimRef).to.equal(undefined);

    const after = await runPod(
      c,
      s,
      ns,
      'inspect',
      `echo "left=$(find /mnt/root/recycled -mindepth 1 | wc -l)"; echo "outside=$(cat /mnt/root/outside/keep.txt)"`,
      [rootVolume()],
    );
    expect(after).to.contain('left=0');
    expect(after).to.contain('outside=keep-me');
    const recycled = await eventsAbout(c, 'default', pv);
    expect(recycled.map((e) => e.reason)).to.include('VolumeRecycled');

    await makeClaim('again', 'recycled');
    expect(await boundTo('again')).to.equal(pv);
  });

  it('Retain: a released volume keeps its data and gets no scrub Job', async () => {
    const pv = await makeVolume('kept', 'Retain');
    await makeClaim('kept', 'kept');
    expect(await boundTo('kept')).to.equal(pv);
    await runPod(
      c,
      s,
      ns,
      'write-kept',
      'echo precious > /mnt/data/file && mkdir -p /mnt/data/sub && echo x > /mnt/data/sub/y',
      [{ name: 'data', persistentVolumeClaim: { claimName: 'kept' } }],
    );
    await deleteClaim('kept');
    await phaseOf(pv, 'Released');
    // Long enough for a scrub of this size to have run had one been started.
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const jobs = await c.batch.listNamespacedJob({ namespace: s.operatorNamespace });
    const scrubs = jobs.items.filter((j) =>
      j.spec?.template.spec?.volumes?.some((v) => v.hostPath?.path === `${dir}/kept`),
    );
    expect(scrubs.map((j) => j.metadata?.name)).to.deep.equal([]);
    const left = await runPod(c, s, ns, 'inspect-kept', 'cat /mnt/root/kept/file /mnt/root/kept/sub/y', [
      rootVolume(),
    ]);
    expect(left.split('\n')).to.include.members(['precious', 'x']);
    expect((await volume(c, pv))?.status?.phase).to.equal('Released');
  });

  it('reports a scrub that Pod Security refuses, and scrubs once the namespace allows it', async () => {
    const label = 'pod-security.kubernetes.io/enforce';
    const operatorNs = await c.core.readNamespace({ name: s.operatorNamespace });
    const before = operatorNs.metadata?.labels?.[label];
    const pv = await makeVolume('refused', 'Recycle');
    await makeClaim('refused', 'refused');
    expect(await boundTo('refused')).to.equal(pv);
    await runPod(c, s, ns, 'write-refused', 'echo gone-later > /mnt/data/file', [
      { name: 'data', persistentVolumeClaim: { claimName: 'refused' } },
    ]);
    // A merge patch: this one label, whatever else the namespace carries.
    const setLevel = (level: string | undefined) =>
      c.core.patchNamespace(
        { name: s.operatorNamespace, body: { metadata: { labels: { [label]: level ?? 'privileged' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    // hostPath volumes are beyond "baseline": the Job controller's pods are refused.
    await setLevel('baseline');
    try {
      await deleteClaim('refused');
      const blocked = await until(
        `a RecycleBlocked event on ${pv}`,
        async () => {
          const events = await eventsAbout(c, 'default', pv);
          return events.find((e) => e.reason === 'RecycleBlocked');
        },
        240_000,
        2000,
      );
      expect(blocked.message).to.match(/cannot create its pod/);
      expect(blocked.message).to.match(/PodSecurity|violates/);
      expect((await volume(c, pv))?.status?.phase).to.equal('Released');
    } finally {
      await setLevel(before);
    }
    // The Job controller retries; once its pod is allowed, the scrub runs.
    await phaseOf(pv, 'Available', 420_000);
    const after = await runPod(c, s, ns, 'inspect-refused', 'find /mnt/root/refused -mindepth 1 | wc -l', [
      rootVolume(),
    ]);
    expect(after.trim()).to.equal('0');
  });

  it('binds a storm of claims while the leading replica is killed, the standby finishing', async () => {
    const count = 20;
    const lease = await c.coordination.readNamespacedLease({
      name: operatorName,
      namespace: s.operatorNamespace,
    });
    const leader = lease.spec?.holderIdentity ?? '';
    expect(leader).to.not.equal('');
    for (let i = 0; i < count; i++) await makeVolume(`storm-${String(i)}`, 'Retain');
    const claims = Array.from({ length: count }, (_, i) => `storm-${String(i)}`);
    const half = count / 2;
    await Promise.all(claims.slice(0, half).map((name) => makeClaim(name, name)));
    // Kill the leader's pod at once (no grace), mid-storm: it cannot hand the
    // Lease over, and the second half of the claims arrives while no one leads.
    const pods = await c.core.listNamespacedPod({
      namespace: s.operatorNamespace,
      labelSelector: `app.kubernetes.io/name=${operatorName}`,
    });
    const leaderPod = pods.items.find((p) => leader.startsWith(p.metadata?.name ?? '\0'));
    expect(
      leaderPod,
      `the leader ${leader} among ${pods.items.map((p) => p.metadata?.name).join(', ')}`,
    ).to.not.equal(undefined);
    await c.core.deleteNamespacedPod({
      namespace: s.operatorNamespace,
      name: leaderPod?.metadata?.name ?? '',
      gracePeriodSeconds: 0,
    });
    await Promise.all(claims.slice(half).map((name) => makeClaim(name, name)));
    const volumes = await Promise.all(claims.map((name) => boundTo(name)));
    expect(new Set(volumes).size).to.equal(count);
    for (const [i, v] of volumes.entries()) expect(v).to.equal(`${run}-storm-${String(i)}`);
    // Another replica leads now: the standby, or the killed pod's replacement
    // where it wins the race for the Lease the killed one handed back.
    const newLeader = await assertOperatorLeading(c, s.operatorNamespace);
    expect(newLeader).to.not.equal(leader);
  });
});
