// Dynamic provisioning as a user sees it: a StorageClass of provisioner
// pvlifecycle.io/nfs, a claim that gets a directory of its own and binds (by
// whichever binder the cluster runs), and the directory gone once the claim
// is deleted. Runs where the runner serves NFS from this machine and says
// where its files are (E2E_NFS_EXPORT_DIR, make e2e with nfs-ganesha), since
// the directory is checked on the server's disk; skipped elsewhere.
import { lstat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { expect } from 'chai';

import {
  claim,
  clients,
  type Clients,
  eventsAbout,
  operatorName,
  reporter,
  settings,
  until,
  volume,
} from './support.ts';

const provisioner = 'pvlifecycle.io/nfs';

describe('dynamic NFS provisioning end to end', function () {
  this.timeout(5 * 60_000);
  const exportDir = process.env.E2E_NFS_EXPORT_DIR ?? '';
  const run = `e2e-prov-${Date.now().toString(36)}`;
  let c: Clients | undefined;

  before(async function () {
    if (!exportDir) {
      process.stderr.write(
        '    (provisioning specs skipped: E2E_NFS_EXPORT_DIR names no NFS server files here)\n',
      );
      this.skip();
    }
    c = clients();
    const s = settings();
    await c.core.createNamespace({ body: { metadata: { name: run } } });
    await c.storage.createStorageClass({
      body: {
        metadata: { name: run },
        provisioner,
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'Immediate',
        parameters: { server: s.nfsServer, path: s.nfsRoot, pathPattern: `${run}/\${pvc.metadata.name}` },
      },
    });
  });

  after(async function () {
    if (!c) return;
    await c.storage.deleteStorageClass({ name: run }).catch(() => undefined);
    await c.core.deleteNamespace({ name: run }).catch(() => undefined);
  });

  const exists = (path: string) =>
    lstat(path).then(
      () => true,
      () => false,
    );

  it('provisions a directory per claim, binds it, and deletes exactly it with the claim', async () => {
    if (!c) throw new Error('no clients: the before hook did not run');
    const k = c;
    await k.core.createNamespacedPersistentVolumeClaim({
      namespace: run,
      body: {
        metadata: { name: 'data' },
        spec: {
          storageClassName: run,
          accessModes: ['ReadWriteMany'],
          resources: { requests: { storage: '1Gi' } },
        },
      },
    });
    const bound = await until('the claim Bound', async () => {
      const x = await claim(k, run, 'data');
      return x.status?.phase === 'Bound' && x;
    });
    const pv = await volume(k, bound.spec?.volumeName ?? '');
    expect(pv?.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).to.equal(provisioner);
    const dir = join(exportDir, run, 'data');
    expect(await exists(dir)).to.equal(true);
    await writeFile(join(dir, 'written-by-a-pod'), 'data');
    const events = await eventsAbout(k, run, 'data');
    const made = events.find((e) => e.reason === 'ProvisioningSucceeded');
    expect(made && reporter(made)).to.equal(operatorName);

    await k.core.deleteNamespacedPersistentVolumeClaim({ namespace: run, name: 'data' });
    await until('the volume deleted', async () => (await volume(k, pv?.metadata?.name ?? '')) === undefined);
    expect(await exists(dir)).to.equal(false);
    // Its parent, made for the pattern's first level, is never removed.
    expect(await exists(join(exportDir, run))).to.equal(true);
  });
});
