import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { expect } from 'chai';

import {
  type ComponentContext,
  components,
  clientRateFlags,
  controllersFlag,
  kubeControllerManager,
  projectStagesDir,
} from '../../cluster/components.ts';

function context(inTreeBinder: boolean): ComponentContext {
  return {
    dir: '/tmp/c',
    binDir: '/cache/bin',
    stagesDir: '/cache/kwok-stages',
    ports: { etcdClient: 1, etcdPeer: 2, apiServer: 3, controllerManager: 4, scheduler: 5, kwok: 6 },
    pki: {
      caCert: '/tmp/c/ca.crt',
      caKey: '/tmp/c/ca.key',
      serverCert: '/tmp/c/apiserver.crt',
      serverKey: '/tmp/c/apiserver.key',
      serviceAccountKey: '/tmp/c/sa.key',
      tokenFile: '/tmp/c/tokens.csv',
      adminToken: 't',
    },
    kubeconfig: '/tmp/c/kubeconfig',
    inTreeBinder,
  };
}

describe('local control plane components', () => {
  it('disables only the PersistentVolume binder by default', () => {
    expect(controllersFlag(false)).to.equal('*,-persistentvolume-binder-controller');
    expect(kubeControllerManager(context(false)).args).to.include(
      '--controllers=*,-persistentvolume-binder-controller',
    );
  });

  it('runs every controller, the binder included, when the switch is on', () => {
    expect(kubeControllerManager(context(true)).args).to.include('--controllers=*');
  });

  it("keeps the controller manager's own client rate unless one is asked for", () => {
    const args = kubeControllerManager(context(true)).args;
    expect(args.filter((a) => a.startsWith('--kube-api-'))).to.deep.equal([]);
  });

  it('lifts the controller manager to the client rate asked for, with a burst of as many', () => {
    const args = kubeControllerManager({ ...context(true), controllerManagerQps: 5000 }).args;
    expect(args).to.include('--kube-api-qps=5000');
    expect(args).to.include('--kube-api-burst=5000');
  });

  it('refuses a client rate that is not a whole number from 1 to 100000', () => {
    for (const bad of [0, -5, 2.5, Number.NaN, 100_001]) {
      expect(() => clientRateFlags(bad), String(bad)).to.throw(/client rate must be a whole number/);
    }
    expect(clientRateFlags(1)).to.deep.equal(['--kube-api-qps=1', '--kube-api-burst=1']);
  });

  it('starts etcd, the apiserver, the controller manager, the scheduler and kwok in that order', () => {
    expect(components(context(false)).map((c) => c.name)).to.deep.equal([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
    ]);
  });

  it('binds every listener to the loopback address on the chosen ports', () => {
    const all = components(context(false)).flatMap((c) => c.args);
    const addresses = all.filter((a) =>
      /^--(bind-address|advertise-address|listen-[a-z-]+|server-address)=/.test(a),
    );
    expect(addresses).to.have.length.greaterThan(5);
    for (const a of addresses) {
      expect(a).to.match(/=(https?:\/\/)?127\.0\.0\.1(:\d+)?$/);
    }
    expect(all).to.include('--secure-port=3');
    expect(all).to.include('--server-address=127.0.0.1:6');
  });

  it('runs every binary from the cache directory', () => {
    for (const c of components(context(false))) {
      expect(c.command).to.equal(`/cache/bin/${c.name}`);
    }
  });

  it('gives kwok the node and pod stages and only fake nodes to manage', () => {
    const args = components(context(false)).find((c) => c.name === 'kwok')?.args ?? [];
    expect(args).to.include('--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake');
    expect(args).to.include('--config=/cache/kwok-stages/node-heartbeat-with-lease.yaml');
    // Job pods complete through the project's own stages, which tests can steer with a label.
    expect(args).not.to.include('--config=/cache/kwok-stages/pod-complete.yaml');
    for (const stage of [
      'pod-complete.yaml',
      'pod-complete-slow.yaml',
      'pod-fail.yaml',
      'pod-complete-upstream-recycler.yaml',
    ]) {
      expect(args).to.include(`--config=${join(projectStagesDir, stage)}`);
      expect(existsSync(join(projectStagesDir, stage)), stage).to.equal(true);
    }
  });
});
