// Knowing the server is there: the operator probes each export's server (a
// real nfs-ganesha on loopback, a port nothing listens on, a name that does
// not resolve), reports ServerReachable, and does not bind new claims to a
// volume whose server does not answer. Skipped, saying why, where the NFS
// server cannot be provided (see scripts/nfs-server.sh).
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';

import { CoreV1Api, CustomObjectsApi, EventsV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';
import { exportProbes } from '../support/export-probes.ts';
import type { NfsExport } from '../../src/nfs/export.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

describe('NfsExport server probes (operator process, nfs-ganesha)', function () {
  this.timeout(60_000);
  let server: NfsServer | undefined;
  let operator: OperatorProcess | undefined;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let eventsApi: EventsV1Api;
  const ns = 'nfs-probe';

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    server = await startNfsServer(this, 'nfs-operator', await closedPort());
    const port = server.port;
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: [
        '--probe-interval',
        '2s',
        '--probe-timeout',
        '1s',
        '--nfs-port',
        String(port),
        '--portmapper-port',
        String(await closedPort()),
      ],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-nfs-probe.log'),
    });
  });

  after(async function () {
    this.timeout(30_000);
    await operator?.stop();
    await server?.stop();
  });

  const { createExport, reachability, claim, phaseOf } = exportProbes(() => ({
    custom,
    core,
    namespace: ns,
  }));

  it('marks a served export Reachable and binds claims to it', async () => {
    await createExport('probe-up', '127.0.0.1', 'probe-up');
    const c = await reachability('probe-up', 'Reachable');
    expect(c.status).to.equal('True');
    expect(c.message).to.match(/answers NFS version 4/);
    await claim('up', 'probe-up');
    await eventually('claim Bound', async () => ((await phaseOf('up')) === 'Bound' ? true : undefined));
  });

  it("reports the export's space over NFSv4 and whether it covers what its volumes were promised", async () => {
    const read = async () =>
      (await custom.getClusterCustomObject({
        group: 'pvlifecycle.io',
        version: 'v1alpha1',
        plural: 'nfsexports',
        name: 'probe-up',
      })) as NfsExport;
    const e = await eventually('the space in the status', async () => {
      const x = await read();
      return x.status?.space && x.status.conditions?.some((c) => c.type === 'SpaceSufficient')
        ? x
        : undefined;
    });
    const fs = await statfs(server?.exportDir ?? '/');
    const total = fs.blocks * fs.bsize;
    expect(Math.abs((e.status?.space?.totalBytes ?? 0) - total)).to.be.below(total * 0.05);
    expect(e.status?.space?.promisedBytes).to.equal(2 ** 30);
    expect(e.status?.conditions?.find((c) => c.type === 'SpaceSufficient')).to.include({
      status: 'True',
      reason: 'Enough',
    });
    expect(await operator?.metrics()).to.match(
      /pv_lifecycle_nfs_export_bytes\{export="probe-up",kind="total"\} [1-9]/,
    );
    // More than the disk holds: the export says its volumes may run out.
    await custom.patchClusterCustomObject({
      group: 'pvlifecycle.io',
      version: 'v1alpha1',
      plural: 'nfsexports',
      name: 'probe-up',
      body: [{ op: 'replace', path: '/spec/capacity', value: '1Ei' }],
    });
    const over = await eventually('SpaceSufficient False', async () => {
      const c = (await read()).status?.conditions?.find((x) => x.type === 'SpaceSufficient');
      return c?.status === 'False' ? c : undefined;
    });
    expect(over.reason).to.equal('Overcommitted');
    expect(over.message).to.match(
      /GiB available of .* GiB; its volumes were promised 1073741824\.0 GiB: they may run out/,
    );
  });

  it('marks a closed port ConnectionRefused and does not bind new claims to its volume', async () => {
    // 127.0.0.2 is loopback too, but the server listens on 127.0.0.1 only.
    await createExport('probe-refused', '127.0.0.2', 'probe-refused');
    const c = await reachability('probe-refused', 'ConnectionRefused');
    expect(c.status).to.equal('False');
    await claim('refused', 'probe-refused');
    // The class exists nowhere but on the export, so upstream's reason is ProvisioningFailed.
    const e = await eventually('the explaining event', async () =>
      (await eventsApi.listNamespacedEvent({ namespace: ns })).items.find(
        (x) => x.regarding?.name === 'refused' && x.reason === 'ProvisioningFailed',
      ),
    );
    expect(e.note).to.contain('nfsx-probe-refused: NFS server unreachable (ConnectionRefused');
    await sleep(3000);
    expect(await phaseOf('refused')).to.equal('Pending');
  });

  it('marks a name that does not resolve HostNotFound', async () => {
    await createExport('probe-nohost', 'nfs.no-such-host.invalid', 'probe-nohost');
    const c = await reachability('probe-nohost', 'HostNotFound');
    expect(c.status).to.equal('False');
    expect(await operator?.metrics()).to.match(/pv_lifecycle_nfs_probe_total\{reason="HostNotFound"\} [1-9]/);
  });
});
