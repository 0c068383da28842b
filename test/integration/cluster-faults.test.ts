// The faults the chaos bench injects, on the shared local control plane: the
// kube-apiserver crashes and comes back on its port with its data; etcd
// paused holds writes until it is resumed.
import { CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';

import { testCluster } from './cluster-hooks.ts';

describe('local control plane faults', function () {
  this.timeout(120_000);
  const ns = 'cluster-faults';
  let core: CoreV1Api;

  before(async () => {
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  it('restarts the kube-apiserver after SIGKILL on the same port, with its data', async () => {
    const cluster = testCluster();
    const before = cluster.state.processes.find((p) => p.name === 'kube-apiserver')?.pid;
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'kept' } } });
    await cluster.restartComponent('kube-apiserver');
    const after = cluster.state.processes.find((p) => p.name === 'kube-apiserver')?.pid;
    expect(after).to.be.a('number').and.not.equal(before);
    // The same kubeconfig (server and port) reaches it, and the object is still there.
    const cm = await core.readNamespacedConfigMap({ name: 'kept', namespace: ns });
    expect(cm.metadata?.name).to.equal('kept');
  });

  it('holds a write while etcd is paused and completes it once etcd resumes', async () => {
    const cluster = testCluster();
    cluster.pauseComponent('etcd');
    let settled = false;
    let write: Promise<unknown>;
    try {
      write = core
        .createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'during-pause' } } })
        .finally(() => {
          settled = true;
        });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // A stopped etcd cannot commit it, and the apiserver gives up only after a minute.
      expect(settled).to.equal(false);
    } finally {
      cluster.resumeComponent('etcd');
    }
    await write;
    const cm = await core.readNamespacedConfigMap({ name: 'during-pause', namespace: ns });
    expect(cm.metadata?.name).to.equal('during-pause');
  });

  it('refuses to signal a component it does not have', () => {
    expect(() => {
      testCluster().pauseComponent('no-such-component');
    }).to.throw('has no component no-such-component');
  });
});
