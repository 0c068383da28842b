// The local control plane is a real Kubernetes: CRDs are served, the in-tree
// PV binder is off, and Jobs run to completion on the kwok node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { BatchV1Api, CoreV1Api, CustomObjectsApi, VersionApi } from '@kubernetes/client-node';
import { expect } from 'chai';

import { repoRoot, testCluster } from './cluster-hooks.ts';
import { kubectl } from '../support/kubectl.ts';
import { matchingPair } from '../support/volumes.ts';
import { eventually, sleep } from '../support/wait.ts';

describe('local control plane', () => {
  it('runs the Kubernetes version pinned in cluster/go/go.mod', async () => {
    const goMod = readFileSync(join(repoRoot, 'cluster/go/go.mod'), 'utf8');
    const pinned = /^\s*(?:require\s+)?k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1];
    expect(pinned).to.match(/^v1\.\d+\.\d+$/);
    const info = await testCluster().kubeConfig().makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).to.equal(pinned);
  });

  it('serves a CustomResourceDefinition applied with kubectl', async () => {
    const c = testCluster();
    const applied = await kubectl(c.kubectl, c.kubeconfig, [
      'apply',
      '-f',
      join(repoRoot, 'test/fixtures/sample-crd.yaml'),
    ]);
    expect(applied).to.contain('probes.platform-test.pvlifecycle.io');
    await kubectl(c.kubectl, c.kubeconfig, [
      'wait',
      '--for=condition=Established',
      'crd/probes.platform-test.pvlifecycle.io',
      '--timeout=30s',
    ]);

    const probe = {
      apiVersion: 'platform-test.pvlifecycle.io/v1',
      kind: 'Probe',
      metadata: { name: 'hello', namespace: 'default' },
      spec: { message: 'served' },
    };
    await kubectl(c.kubectl, c.kubeconfig, ['apply', '-f', '-'], JSON.stringify(probe));
    const listed = JSON.parse(await kubectl(c.kubectl, c.kubeconfig, ['get', 'probes', '-o', 'json'])) as {
      items: { metadata: { name: string }; spec: { message: string } }[];
    };
    expect(listed.items.map((i) => [i.metadata.name, i.spec.message])).to.deep.equal([['hello', 'served']]);

    const custom = c.kubeConfig().makeApiClient(CustomObjectsApi);
    const fetched = (await custom.getNamespacedCustomObject({
      group: 'platform-test.pvlifecycle.io',
      version: 'v1',
      namespace: 'default',
      plural: 'probes',
      name: 'hello',
    })) as { spec: { message: string } };
    expect(fetched.spec.message).to.equal('served');

    // The schema is enforced: the apiserver really validates the new type.
    const tooLong = {
      ...probe,
      metadata: { name: 'invalid', namespace: 'default' },
      spec: { message: 'x'.repeat(65) },
    };
    let rejection = '';
    try {
      await kubectl(c.kubectl, c.kubeconfig, ['apply', '-f', '-'], JSON.stringify(tooLong));
    } catch (err) {
      rejection = (err as Error).message;
    }
    expect(rejection).to.contain('spec.message');
  });

  it('leaves a matching PersistentVolume and claim unbound for 10 s (in-tree binder off)', async function () {
    this.timeout(30_000);
    const c = testCluster();
    expect(c.state.inTreeBinder).to.be.false;
    const core = c.kubeConfig().makeApiClient(CoreV1Api);
    const { volume, claim } = matchingPair('unbound');
    await core.createPersistentVolume({ body: volume });
    await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim });

    const until = Date.now() + 10_000;
    let checks = 0;
    while (Date.now() < until) {
      const pv = await core.readPersistentVolume({ name: 'unbound-pv' });
      const pvc = await core.readNamespacedPersistentVolumeClaim({
        name: 'unbound-pvc',
        namespace: 'default',
      });
      expect(pv.spec?.claimRef, 'volume claimRef').to.be.undefined;
      expect(pv.status?.phase, 'volume phase').to.not.equal('Bound');
      expect(pvc.spec?.volumeName, 'claim volumeName').to.be.undefined;
      expect(pvc.status?.phase, 'claim phase').to.equal('Pending');
      checks++;
      await sleep(500);
    }
    expect(checks).to.be.greaterThan(10);
  });

  it('runs a Job to Complete on the kwok node', async () => {
    const kc = testCluster().kubeConfig();
    const batch = kc.makeApiClient(BatchV1Api);
    const core = kc.makeApiClient(CoreV1Api);
    await batch.createNamespacedJob({
      namespace: 'default',
      body: {
        metadata: { name: 'platform-check' },
        spec: {
          backoffLimit: 0,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [{ name: 'main', image: 'busybox:1.37', command: ['true'] }],
            },
          },
        },
      },
    });
    const job = await eventually('the Job to complete', async () => {
      const j = await batch.readNamespacedJob({ name: 'platform-check', namespace: 'default' });
      return j.status?.conditions?.some((cond) => cond.type === 'Complete' && cond.status === 'True')
        ? j
        : undefined;
    });
    expect(job.status?.succeeded).to.equal(1);
    const pods = await core.listNamespacedPod({
      namespace: 'default',
      labelSelector: 'job-name=platform-check',
    });
    expect(pods.items).to.have.length(1);
    expect(pods.items[0]?.spec?.nodeName).to.equal('kwok-node-0');
    expect(pods.items[0]?.status?.phase).to.equal('Succeeded');
  });
});
