// Dynamic provisioning over NFSv3 against real nfs-ganesha: a class whose
// mountOptions say nfsvers=3, port= and mountport= gets its directories made
// and deleted over v3 on those ports (the operator's own --nfs-port points
// nowhere), and a class without a version on a v3-only server falls back to
// v3, MOUNT found through the loopback rpcbind, while one on a server that
// serves the export over v4 uses v4. The version is recorded on the volume;
// a bad mount option is refused naming it.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { CoreV1Api, EventsV1Api, StorageV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { closedPort } from '../support/fake-rpc-server.ts';
import { type NfsServer, startNfsServer } from '../support/nfs-server.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { provisioningClaims } from '../support/provisioning-claims.ts';
import { eventually } from '../support/wait.ts';

const provisioner = 'pvlifecycle.io/nfs';

describe('dynamic NFS provisioning over NFSv3 (operator process, nfs-ganesha)', function () {
  this.timeout(90_000);
  let both: NfsServer | undefined;
  let only: NfsServer | undefined;
  let operator: OperatorProcess | undefined;
  let core: CoreV1Api;
  let storage: StorageV1Api;
  let eventsApi: EventsV1Api;
  const ns = 'provisioning-nfs3';
  const { claim, boundVolume, volumeGone } = provisioningClaims(() => core, ns);
  const log = join(repoRoot, '.cluster', 'test-logs', 'operator-provisioning-nfs3.log');

  before(async function () {
    this.timeout(10 * 60_000); // the first run may install nfs-ganesha
    both = await startNfsServer(this, 'nfs3-provisioning', await closedPort(), { protocols: [3, 4] });
    only = await startNfsServer(this, 'nfs3-provisioning-only', await closedPort(), { protocols: [3] });
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    storage = kc.makeApiClient(StorageV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const classes: [string, string, string[]][] = [
      [
        'nfs3-explicit',
        both.exportDir,
        ['hard', `nfsvers=3,port=${String(both.port)}`, `mountport=${String(both.mountPort)}`],
      ],
      ['nfs3-fallback', only.exportDir, [`port=${String(only.port)}`]],
      ['nfs3-server-v4', '/export', [`port=${String(both.port)}`]],
      ['nfs3-bad-option', both.exportDir, ['nfsvers=5']],
    ];
    for (const [name, path, mountOptions] of classes) {
      await storage.createStorageClass({
        body: {
          metadata: { name },
          provisioner,
          parameters: { server: '127.0.0.1', path, mode: '0750', uid: '1234', gid: '5678' },
          reclaimPolicy: 'Delete',
          mountOptions,
        },
      });
    }
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: [
        ...(testCluster().state.inTreeBinder ? ['--controllers=*,-binder'] : []),
        // Nothing listens there: the classes' port= must be what is used.
        '--nfs-port',
        String(await closedPort()),
        '--probe-interval',
        '0',
        '--probe-timeout',
        '2s',
      ],
      logFile: log,
    });
  });

  after(async function () {
    this.timeout(30_000);
    await operator?.stop();
    await only?.stop();
    await both?.stop();
  });

  async function provisionAndDelete(
    name: string,
    className: string,
    server: NfsServer,
    version: 3 | 4 = 3,
  ): Promise<void> {
    await claim(name, className);
    const pv = await boundVolume(name);
    const annotations = pv.metadata?.annotations ?? {};
    expect(annotations['pvlifecycle.io/nfs-version']).to.equal(String(version));
    const handle = Buffer.from(annotations['pvlifecycle.io/nfs-handle'] ?? '', 'base64');
    expect(handle.length).to.be.within(1, version === 3 ? 64 : 128);
    const dir = annotations['pvlifecycle.io/nfs-directory'] ?? '(none)';
    const exportPath = version === 3 ? server.exportDir : '/export';
    expect(pv.spec?.nfs).to.deep.equal({ server: '127.0.0.1', path: `${exportPath}/${dir}` });
    const st = await stat(join(server.exportDir, dir));
    expect(st.mode & 0o7777).to.equal(0o750);
    expect([st.uid, st.gid]).to.deep.equal([1234, 5678]);
    await core.deleteNamespacedPersistentVolumeClaim({ name, namespace: ns });
    await volumeGone(pv.metadata?.name ?? '');
    expect(await readdir(server.exportDir)).to.not.include(dir);
  }

  it('provisions and deletes over NFSv3 on the ports the class mountOptions give', async () => {
    await provisionAndDelete('explicit', 'nfs3-explicit', both as NfsServer);
  });

  it('falls back to NFSv3 on a server without v4, MOUNT found through rpcbind', async () => {
    await provisionAndDelete('fallback', 'nfs3-fallback', only as NfsServer);
  });

  it('uses NFSv4 without a version where the server serves the export over v4, on the port= given', async () => {
    await provisionAndDelete('server-v4', 'nfs3-server-v4', both as NfsServer, 4);
  });

  it('refuses a bad nfsvers in the class mountOptions, naming it', async () => {
    await claim('bad-option', 'nfs3-bad-option');
    const event = await eventually('ProvisioningFailed naming the mount option', async () =>
      (await eventsApi.listEventForAllNamespaces({ fieldSelector: 'regarding.name=bad-option' })).items.find(
        (e) => e.reason === 'ProvisioningFailed',
      ),
    );
    expect(event.note).to.equal(
      'StorageClass nfs3-bad-option: mountOptions: "nfsvers=5": "5" is not one of 3, 4, 4.0, 4.1, 4.2',
    );
  });
});
