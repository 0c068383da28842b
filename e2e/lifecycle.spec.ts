// The life of a volume as a user sees it, on whatever cluster KUBECONFIG names
// (local control plane, kind, k3s): exports declared once become volumes,
// claims bind, and released volumes are kept, scrubbed and reused, or deleted
// and made anew. With E2E_REAL_PODS=1 pods really mount the NFS server and the
// data itself is checked: kept by Retain, gone after a scrub.
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  assertInTreeBinderOff,
  assertOperatorLeading,
  inTreeBinder,
  claim,
  clients,
  type Clients,
  type E2eSettings,
  eventsAbout,
  nfsVolume,
  operatorName,
  deleteMetricsReaders,
  metricsPort,
  metricsReaderToken,
  operatorPods,
  replicaMetrics,
  reporter,
  scrapePod,
  servesHttps,
  runPod,
  sample,
  settings,
  until,
  volume,
} from './support.ts';

const group = 'pvlifecycle.io';
const version = 'v1alpha1';
const plural = 'nfsexports';

interface NfsExport {
  metadata: { name: string; uid?: string };
  spec: Record<string, unknown>;
  status?: { phase?: string; volumeName?: string; claim?: string };
}

describe('pv-lifecycle-operator end to end', function () {
  this.timeout(10 * 60_000);
  let s: E2eSettings;
  let c: Clients;
  let started = false;
  const run = `e2e-${Date.now().toString(36)}`;
  const ns = run;
  const storageClass = run;
  const exportsMade: string[] = [];
  const volumesMade: string[] = [];
  let n = 0;

  before(async function () {
    // Lease (≤ 2 min) + binder check (≤ 1 min) + the first pod, which may pull its image.
    this.timeout(8 * 60_000);
    s = settings();
    if (s.nfsSkip)
      process.stderr.write(`    NFS mounts: none (${s.nfsSkip}); the specs that mount are skipped\n`);
    c = clients();
    started = true;
    await c.core.createNamespace({ body: { metadata: { name: ns } } });
    // The run's class: static volumes only, bound at once.
    await c.storage.createStorageClass({
      body: {
        metadata: { name: storageClass },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'Immediate',
      },
    });
    const leader = await assertOperatorLeading(c, s.operatorNamespace);
    process.stderr.write(`    operator leader: ${leader}; pods mount NFS: ${mounts() ? 'yes' : 'no'}\n`);
    // Beside the in-tree binder (E2E_MODE=managed) it is meant to bind.
    if (!s.managed) await assertInTreeBinderOff(c, ns);
    if (mounts()) {
      // The run's folder on the server, for the exports below.
      await runPod(c, s, ns, 'mkdir-run', `mkdir -p /mnt/root/${run} && chmod 0777 /mnt/root/${run}`, [
        nfsVolume(s, 'root', s.nfsRoot),
      ]);
    }
  });

  after(async function () {
    if (!started) return;
    this.timeout(120_000);
    for (const name of exportsMade) {
      await c.custom.deleteClusterCustomObject({ group, version, plural, name }).catch(() => undefined);
    }
    await c.core.deleteNamespace({ name: ns }).catch(() => undefined);
    for (const name of volumesMade) await c.core.deletePersistentVolume({ name }).catch(() => undefined);
    await c.storage.deleteStorageClass({ name: storageClass }).catch(() => undefined);
    await deleteMetricsReaders(c, s);
  });

  const dirOf = (name: string) => `${s.nfsRoot}/${run}/${name}`;
  /** Pods really run and can mount the NFS server: data is checked through them. */
  const mounts = () => s.realPods && !s.nfsSkip;
  /** Scrub Jobs mount the export: with real pods that cannot, the spec says why it is skipped. */
  function skipUnlessScrubsMount(ctx: Mocha.Context): void {
    if (!s.realPods || !s.nfsSkip) return;
    process.stderr.write(`      skipped: the scrub Job would mount NFS, and ${s.nfsSkip}\n`);
    ctx.skip();
  }

  /** An NfsExport of a fresh directory (made on the server first where pods are real). */
  async function makeExport(
    policy: 'Retain' | 'Recycle' | 'Delete',
    accessModes: string[],
  ): Promise<NfsExport> {
    const name = `${run}-${String(++n)}-${policy.toLowerCase()}`;
    if (mounts()) {
      await runPod(
        c,
        s,
        ns,
        `mkdir-${String(n)}`,
        `mkdir -p /mnt/root/${name} && chmod 0777 /mnt/root/${name}`,
        [nfsVolume(s, 'root', `${s.nfsRoot}/${run}`)],
      );
    }
    const body: NfsExport = {
      metadata: { name },
      spec: {
        server: s.nfsServer,
        path: dirOf(name),
        capacity: '1Gi',
        accessModes,
        persistentVolumeReclaimPolicy: policy,
        storageClassName: storageClass,
      },
    };
    exportsMade.push(name);
    return (await c.custom.createClusterCustomObject({
      group,
      version,
      plural,
      body: { apiVersion: `${group}/${version}`, kind: 'NfsExport', ...body },
    })) as NfsExport;
  }

  const readExport = async (name: string) =>
    (await c.custom.getClusterCustomObject({ group, version, plural, name })) as NfsExport;

  async function makeClaim(
    name: string,
    accessModes: string[],
    size = '1Gi',
  ): Promise<V1PersistentVolumeClaim> {
    return c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name },
        spec: { storageClassName: storageClass, accessModes, resources: { requests: { storage: size } } },
      },
    });
  }

  async function bound(name: string): Promise<V1PersistentVolumeClaim> {
    return until(`claim ${ns}/${name} Bound`, async () => {
      const pvc = await claim(c, ns, name);
      return pvc.status?.phase === 'Bound' ? pvc : undefined;
    });
  }

  /** A hand-written volume of the run's class on the NFS root, kept (Retain) and deleted by after(). */
  async function makeVolume(
    name: string,
    spec: { storage: string; accessModes: string[]; claimRef?: { namespace: string; name: string } },
    labels?: Record<string, string>,
  ): Promise<void> {
    volumesMade.push(name);
    await c.core.createPersistentVolume({
      body: {
        metadata: { name, ...(labels ? { labels } : {}) },
        spec: {
          capacity: { storage: spec.storage },
          accessModes: spec.accessModes,
          persistentVolumeReclaimPolicy: 'Retain',
          storageClassName: storageClass,
          nfs: { server: s.nfsServer, path: s.nfsRoot },
          ...(spec.claimRef ? { claimRef: spec.claimRef } : {}),
        },
      },
    });
  }

  async function exportPhase(name: string, phase: string): Promise<NfsExport> {
    return until(`NfsExport ${name} ${phase}`, async () => {
      const e = await readExport(name);
      return e.status?.phase === phase ? e : undefined;
    });
  }

  /** Writes files (a dotfile and a nested folder among them) through the claim, as an application would. */
  async function writeData(claimName: string): Promise<void> {
    if (!mounts()) return;
    await runPod(
      c,
      s,
      ns,
      `write-${claimName}`,
      'echo hello > /mnt/data/a.txt && echo hidden > /mnt/data/.dot && mkdir -p /mnt/data/sub/deeper && echo x > /mnt/data/sub/deeper/b && ls -A /mnt/data',
      [{ name: 'data', persistentVolumeClaim: { claimName } }],
    );
  }

  /** The names in an export's directory, read by mounting the server directly (real pods only). */
  async function listDir(exportName: string): Promise<string[]> {
    const log = await runPod(c, s, ns, `ls-${exportName}`.slice(0, 63), 'ls -A /mnt/dir', [
      nfsVolume(s, 'dir', dirOf(exportName)),
    ]);
    return log.split('\n').filter((l) => l !== '');
  }

  it('binds a claim to the volume of an NfsExport, and the export shows the claim', async () => {
    const e = await makeExport('Retain', ['ReadWriteMany']);
    const pvName = `nfsx-${e.metadata.name}`;
    const available = await until(`volume ${pvName} Available`, async () => {
      const pv = await volume(c, pvName);
      return pv?.status?.phase === 'Available' ? pv : undefined;
    });
    expect(available.spec?.nfs?.server).to.equal(s.nfsServer);
    expect(available.spec?.nfs?.path).to.equal(dirOf(e.metadata.name));
    expect(available.spec?.nfs?.readOnly ?? false).to.equal(false);
    expect(available.spec?.storageClassName).to.equal(storageClass);

    await makeClaim('share', ['ReadWriteMany'], '500Mi');
    const pvc = await bound('share');
    expect(pvc.spec?.volumeName).to.equal(pvName);
    expect(pvc.metadata?.annotations?.['pv.kubernetes.io/bind-completed']).to.equal('yes');
    const pv = await volume(c, pvName);
    expect(pv?.spec?.claimRef?.uid).to.equal(pvc.metadata?.uid);
    const shown = await exportPhase(e.metadata.name, 'Bound');
    expect(shown.status?.claim).to.equal(`${ns}/share`);
    expect(shown.status?.volumeName).to.equal(pvName);

    await writeData('share');
    if (mounts()) {
      const log = await runPod(c, s, ns, 'read-share', 'cat /mnt/data/a.txt', [
        { name: 'data', persistentVolumeClaim: { claimName: 'share' } },
      ]);
      expect(log.trim()).to.equal('hello');
    }

    // Retain: the claim goes, the volume is Released with its claimRef and its data.
    await c.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: 'share' });
    await until(
      `volume ${pvName} Released`,
      async () => (await volume(c, pvName))?.status?.phase === 'Released',
    );
    await exportPhase(e.metadata.name, 'Released');
    expect((await volume(c, pvName))?.spec?.claimRef?.name).to.equal('share');
    if (mounts()) expect(await listDir(e.metadata.name)).to.include.members(['a.txt', '.dot', 'sub']);
  });

  it('Recycle: scrubs a released volume with a Job and binds it again', async function () {
    skipUnlessScrubsMount(this);
    const e = await makeExport('Recycle', ['ReadWriteOnce']);
    const pvName = `nfsx-${e.metadata.name}`;
    await makeClaim('scratch', ['ReadWriteOnce']);
    const first = await bound('scratch');
    expect(first.spec?.volumeName).to.equal(pvName);
    await writeData('scratch');

    await c.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: 'scratch' });
    const recycled = await until(
      `volume ${pvName} Available again`,
      async () => {
        const pv = await volume(c, pvName);
        return pv?.status?.phase === 'Available' && !pv.spec?.claimRef ? pv : undefined;
      },
      5 * 60_000,
      1000,
    );
    // The volume is Available first; the event and the Job's deletion follow.
    await until('RecycleStarted and VolumeRecycled events', async () => {
      const events = await eventsAbout(c, 'default', pvName, recycled.metadata?.uid);
      const reasons = events.filter((ev) => reporter(ev) === operatorName).map((ev) => ev.reason);
      return reasons.includes('RecycleStarted') && reasons.includes('VolumeRecycled');
    });
    if (mounts()) expect(await listDir(e.metadata.name)).to.deep.equal([]);

    // The scrub Job is gone, and the volume serves a new claim.
    await until(`the scrub Job of ${pvName} deleted`, async () => {
      const jobs = await c.batch.listNamespacedJob({ namespace: s.operatorNamespace });
      return !jobs.items.some(
        (j) => j.metadata?.name?.startsWith(`recycle-${pvName}`) && !j.metadata.deletionTimestamp,
      );
    });
    await makeClaim('scratch-2', ['ReadWriteOnce']);
    expect((await bound('scratch-2')).spec?.volumeName).to.equal(pvName);
  });

  it('Delete: scrubs and deletes the volume of an export, then makes a fresh one', async function () {
    skipUnlessScrubsMount(this);
    const e = await makeExport('Delete', ['ReadWriteOnce']);
    const pvName = `nfsx-${e.metadata.name}`;
    await makeClaim('temp', ['ReadWriteOnce']);
    await bound('temp');
    const before = await volume(c, pvName);
    await writeData('temp');

    await c.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: 'temp' });
    const fresh = await until(
      `a new volume ${pvName}`,
      async () => {
        const pv = await volume(c, pvName);
        return pv && pv.metadata?.uid !== before?.metadata?.uid && pv.status?.phase === 'Available'
          ? pv
          : undefined;
      },
      5 * 60_000,
      1000,
    );
    expect(fresh.spec?.claimRef).to.equal(undefined);
    await exportPhase(e.metadata.name, 'Available');
    if (mounts()) expect(await listDir(e.metadata.name)).to.deep.equal([]);
  });

  it('binds a hand-written volume by label selector, and explains a claim nothing fits', async () => {
    const pvName = `${run}-static`;
    await makeVolume(pvName, { storage: '5Gi', accessModes: ['ReadWriteOnce'] }, { tier: 'gold', run });
    await c.core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: 'gold' },
        spec: {
          storageClassName: storageClass,
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: '2Gi' } },
          selector: { matchLabels: { tier: 'gold', run } },
        },
      },
    });
    expect((await bound('gold')).spec?.volumeName).to.equal(pvName);

    const tooBig = await makeClaim('too-big', ['ReadWriteOnce'], '100Ti');
    // The class has no provisioner and binds at once: upstream's ProvisioningFailed, then why nothing fits.
    // Beside the in-tree binder it is the one that says so, without the operator's why.
    const binder = s.managed ? inTreeBinder : operatorName;
    const event = await until('ProvisioningFailed on too-big', async () => {
      const events = await eventsAbout(c, ns, 'too-big', tooBig.metadata?.uid);
      return events.find((ev) => reporter(ev) === binder && ev.reason === 'ProvisioningFailed');
    });
    expect(event.message).to.contain(
      `no volume plugin matched name: kubernetes.io/no-provisioner${s.managed ? '' : '; no volume fits: '}`,
    );
    expect((await claim(c, ns, 'too-big')).status?.phase).to.equal('Pending');
  });

  it('shows the run in Prometheus metrics: one replica leads, and it did the reconciling', async () => {
    // A bound claim of its own, so the spec stands alone.
    await makeVolume(`${run}-metrics`, {
      storage: '1Gi',
      accessModes: ['ReadWriteMany'],
      claimRef: { namespace: ns, name: 'metrics' },
    });
    await makeClaim('metrics', ['ReadWriteMany']);
    await bound('metrics');
    const lead = `leader_election_master_status{name="${operatorName}"}`;
    const boundSeries = `pv_collector_bound_pvc_count{namespace="${ns}",storage_class="${storageClass}"}`;
    // The collector counts what the leader's cache holds when scraped.
    const replicas = await until(
      'the bound claim in the leader metrics',
      async () => {
        const all = await replicaMetrics(c, s);
        const leader = all.find((r) => sample(r.text, lead) === 1);
        return leader && (s.managed || sample(leader.text, boundSeries)) ? all : undefined;
      },
      30_000,
    );
    const leaders = replicas.filter((r) => sample(r.text, lead) === 1);
    expect(
      leaders.map((r) => r.source),
      `exactly one replica reports ${lead} 1 (of ${replicas.map((r) => r.source).join(', ')})`,
    ).to.have.length(1);
    for (const r of replicas) expect(sample(r.text, lead), `${r.source}: ${lead}`).to.be.oneOf([0, 1]);
    const leader = leaders[0]?.text ?? '';
    // Beside the in-tree binder the leader binds nothing; its NfsExport controller did the reconciling.
    const controller = s.managed ? 'nfsexport' : 'persistentvolumeclaim-binder';
    const claimsBound = sample(
      leader,
      `controller_runtime_reconcile_total{controller="${controller}",result="success"}`,
    );
    expect(claimsBound, `successful ${controller} reconciles on the leader`).to.be.above(0);
    if (s.managed) return; // the bound-claim gauges are the operator's binder's
    // The claims of this run still bound are counted by namespace and class.
    const boundClaims = sample(leader, boundSeries);
    process.stderr.write(
      `    metrics of ${String(replicas.length)} replica(s); leader ${leaders[0]?.source ?? ''}: ${String(claimsBound)} successful claim reconciles, ${String(boundClaims)} bound claims of this run\n`,
    );
    expect(boundClaims, `pv_collector_bound_pvc_count for ${ns}`).to.be.above(0);
  });

  it('serves /metrics over HTTPS only to a token allowed to read it; the probes stay open', async function () {
    if (s.metricsUrls.length > 0) {
      process.stderr.write(
        '      skipped: the replicas run out of cluster, over plain HTTP (E2E_METRICS_URLS)\n',
      );
      this.skip();
    }
    const [pod] = await operatorPods(c, s);
    if (!pod || !servesHttps(pod)) {
      process.stderr.write(
        '      skipped: the deployed operator serves plain HTTP (config/components/metrics-http)\n',
      );
      this.skip();
    }
    const name = pod.metadata?.name ?? '';
    const port = metricsPort(pod);
    const get = (path: string, token: string) => scrapePod(s, name, port, path, token);
    // The API server authenticates the token (TokenReview), then authorizes get on /metrics.
    expect((await get('/metrics', '')).status, 'no token').to.equal(401);
    expect((await get('/metrics', 'not-a-token')).status, 'a token the API server does not know').to.equal(
      401,
    );
    expect(
      (await get('/metrics', await metricsReaderToken(c, s, false))).status,
      'an unbound ServiceAccount',
    ).to.equal(403);
    // A binding just made may take a moment to reach the API server's authorizer.
    const token = await metricsReaderToken(c, s, true);
    const allowed = await until(
      'a ServiceAccount bound to pv-lifecycle-metrics-reader answered 200',
      async () => {
        const res = await get('/metrics', token);
        if (res.status !== 200) throw new Error(`HTTP ${String(res.status)}`);
        return res;
      },
      30_000,
      1000,
    );
    expect(allowed.body).to.match(/^leader_election_master_status\{name="pv-lifecycle-operator"\} [01]$/m);
    // The kubelet probes without a token.
    expect((await get('/healthz', '')).status, '/healthz').to.equal(200);
    expect((await get('/readyz', '')).status, '/readyz').to.equal(200);
  });
});
