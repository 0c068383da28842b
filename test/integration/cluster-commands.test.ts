// The Makefile's cluster commands as a user runs them: the in-tree binder
// switch, cluster-down, and Ctrl-C on `make run`. Each starts a cluster of its
// own beside the shared one.
import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

import { ApiextensionsV1Api, AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';

import type { ClusterState } from '../../cluster/local-cluster.ts';
import { isAlive } from '../../cluster/processes.ts';
import { isPortFree } from '../../cluster/ports.ts';
import { assertInTreeBinderOff, clients } from '../../e2e/support.ts';
import { repoRoot } from './cluster-hooks.ts';
import { matchingPair } from '../support/volumes.ts';
import { eventually } from '../support/wait.ts';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function make(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcessByStdio<null, Readable, Readable>; done: Promise<Finished> } {
  // Without KUBECONFIG, so `make run` starts a local control plane.
  const { KUBECONFIG: _kubeconfig, ...inherited } = process.env;
  const childEnv = { ...inherited, ...env };
  // Its own process group, as a terminal's foreground job has, so a signal
  // can reach make and everything under it the way Ctrl-C does.
  const child = spawn('make', ['--no-print-directory', ...args], {
    cwd: repoRoot,
    env: childEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Finished>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

function stateOf(name: string): ClusterState {
  return JSON.parse(readFileSync(join(repoRoot, '.cluster', name, 'state.json'), 'utf8')) as ClusterState;
}

async function expectGone(state: ClusterState): Promise<void> {
  for (const p of state.processes) {
    expect(isAlive(p.pid), `${p.name} (pid ${p.pid}) still running`).to.be.false;
  }
  for (const [name, port] of Object.entries(state.ports) as [string, number][]) {
    expect(await isPortFree(port), `${name} port ${port} still in use`).to.be.true;
  }
  expect(existsSync(state.dir), `${state.dir} still exists`).to.be.false;
}

describe('cluster commands', () => {
  it('KUBE_INTREE_BINDER=1 make cluster-up binds a matching pair; make cluster-down leaves nothing behind', async function () {
    this.timeout(180_000);
    const name = 'it-intree-binder';
    const up = await make(['cluster-up', `CLUSTER_NAME=${name}`], { KUBE_INTREE_BINDER: '1' }).done;
    expect(up.code, up.stderr).to.equal(0);
    const state = stateOf(name);
    try {
      const lastLine = up.stdout.trim().split('\n').pop();
      expect(lastLine).to.equal(join(repoRoot, '.cluster', name, 'kubeconfig'));
      expect(state.inTreeBinder).to.be.true;
      expect(up.stderr).to.contain('in-tree PV binder ON');

      const kc = new KubeConfig();
      kc.loadFromFile(lastLine ?? '');
      const core = kc.makeApiClient(CoreV1Api);
      const { volume, claim } = matchingPair('intree');
      await core.createPersistentVolume({ body: volume });
      await core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim });
      const bound = await eventually(
        'the in-tree binder to bind the claim',
        async () => {
          const pvc = await core.readNamespacedPersistentVolumeClaim({
            name: 'intree-pvc',
            namespace: 'default',
          });
          return pvc.status?.phase === 'Bound' ? pvc : undefined;
        },
        60_000,
      );
      expect(bound.spec?.volumeName).to.equal('intree-pv');
      const pv = await core.readPersistentVolume({ name: 'intree-pv' });
      expect(pv.spec?.claimRef?.uid).to.equal(bound.metadata?.uid);
      expect(pv.status?.phase).to.equal('Bound');

      // The end-to-end specs' first check tells this cluster apart, and says what to change.
      const refused = await assertInTreeBinderOff(clients(kc), 'default').then(
        () => '',
        (err: unknown) => (err as Error).message,
      );
      expect(refused).to.contain("the cluster's in-tree PV binder is on");
      expect(refused).to.contain('--controllers=*,-persistentvolume-binder-controller');
    } finally {
      const down = await make(['cluster-down', `CLUSTER_NAME=${name}`]).done;
      expect(down.code, down.stderr).to.equal(0);
    }
    await expectGone(state);
  });

  it('make deploy installs config/default with the chosen image, and make undeploy removes the operator but keeps the CRD', async function () {
    this.timeout(180_000);
    const name = 'it-deploy';
    const up = await make(['cluster-up', `CLUSTER_NAME=${name}`]).done;
    expect(up.code, up.stderr).to.equal(0);
    const state = stateOf(name);
    const kubeconfig = join(repoRoot, '.cluster', name, 'kubeconfig');
    try {
      const env = { KUBECONFIG: kubeconfig, DEPLOY_LEASE_WAIT: '1' };
      const deploy = await make(['deploy', 'IMAGE=registry.example.com/team/pvlo:1.2.3'], env).done;
      expect(deploy.code, deploy.stderr).to.equal(0);
      // kwok marks the pods Running, so the rollout finishes; no process runs to take the Lease.
      expect(deploy.stdout).to.contain('deployment "pv-lifecycle-operator" successfully rolled out');

      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfig);
      const apps = kc.makeApiClient(AppsV1Api);
      const d = await apps.readNamespacedDeployment({
        name: 'pv-lifecycle-operator',
        namespace: 'pv-lifecycle-system',
      });
      expect(d.spec?.template.spec?.containers[0]?.image).to.equal('registry.example.com/team/pvlo:1.2.3');
      expect(d.status?.readyReplicas).to.equal(2);

      const undeploy = await make(['undeploy'], env).done;
      expect(undeploy.code, undeploy.stderr).to.equal(0);
      const gone = await apps
        .readNamespacedDeployment({ name: 'pv-lifecycle-operator', namespace: 'pv-lifecycle-system' })
        .then(
          () => false,
          (err: unknown) => (err as { code?: number }).code === 404,
        );
      expect(gone, 'the Deployment is deleted').to.equal(true);
      const crd = await kc
        .makeApiClient(ApiextensionsV1Api)
        .readCustomResourceDefinition({ name: 'nfsexports.pvlifecycle.io' });
      expect(crd.metadata?.deletionTimestamp).to.equal(undefined);
    } finally {
      const down = await make(['cluster-down', `CLUSTER_NAME=${name}`]).done;
      expect(down.code, down.stderr).to.equal(0);
    }
    await expectGone(state);
  });

  it('make e2e-kind stops at once and says what it needs where no container engine answers', async function () {
    this.timeout(60_000);
    const started = Date.now();
    // An engine that is not there stands for a machine with neither docker nor podman.
    const r = await make(['e2e-kind'], { ENGINE: 'no-such-engine' }).done;
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('the kind end-to-end run needs a container engine');
    expect(r.stderr).to.contain('ENGINE=no-such-engine does not answer');
    expect(r.stderr).to.contain('apt-get install podman runc');
    expect(r.stderr).to.contain('Nothing was started');
    expect(Date.now() - started, 'at once').to.be.below(30_000);
  });

  it('make e2e-k3s is skipped with a message where no Docker-compatible engine answers', async function () {
    this.timeout(120_000);
    if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0) this.skip(); // it would really run here
    const r = await make(['e2e-k3s'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }).done;
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('e2e/k3s: skipped: the k3s end-to-end run needs a Docker-compatible engine');
  });

  it('make run starts a cluster and the operator, keeps them up until Ctrl-C, then stops both and frees every port', async function () {
    this.timeout(180_000);
    const name = 'it-run-sigint';
    const run = make(['run', `RUN_CLUSTER_NAME=${name}`]);
    const kubeconfig = join(repoRoot, '.cluster', name, 'kubeconfig');
    let out = '';
    let err = '';
    run.child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    run.child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await eventually(
      'make run to print the kubeconfig path',
      () => Promise.resolve(out.includes(kubeconfig) ? true : undefined),
      120_000,
    );
    const state = stateOf(name);
    expect(state.processes.map((p) => p.name)).to.have.members([
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kwok',
    ]);
    for (const p of state.processes) expect(isAlive(p.pid), p.name).to.be.true;
    // The operator runs against it, logging in the terminal format.
    await eventually(
      'the operator to sync its informers',
      () => Promise.resolve(err.includes('informers synced') ? true : undefined),
      60_000,
    );
    expect(err).to.match(/ info +pv-lifecycle-operator starting /);
    // The demo: the samples applied and bound, shown as kubectl shows them.
    await eventually(
      'the demo table',
      () => Promise.resolve(err.includes('The operator keeps running') ? true : undefined),
      60_000,
    );
    const table = err.slice(err.indexOf('$ kubectl get nfsexports,pv,pvc'));
    for (const name of ['shared-docs', 'build-cache', 'team-share']) {
      expect(table).to.match(new RegExp(`nfsexport\\.pvlifecycle\\.io/${name}\\s.*\\sBound\\s+default/`));
    }
    expect(table.match(/persistentvolumeclaim\/\S+\s+Bound/g)).to.have.length(3);
    // It did all that as its ServiceAccount, with config/rbac's rights only.
    expect(err).to.contain('the operator runs as ServiceAccount pv-lifecycle-system/pv-lifecycle-operator');
    expect(err).not.to.match(/is forbidden: User .{1,300}? cannot /);

    process.kill(-(run.child.pid ?? 0), 'SIGINT');
    const finished = await run.done;
    expect(finished.stderr).to.contain('shutting down signal=SIGINT');
    // One Ctrl-C is one signal to the operator: it stops gracefully, not as on a second one.
    expect(finished.stderr).not.to.contain('second signal');
    expect(finished.stderr).to.match(/ info +stopped/);
    expect(finished.stderr).to.contain('Stopped; every port is free.');
    await expectGone(state);
  });

  it('make run with KUBECONFIG uses that cluster, and Ctrl-C stops the operator but leaves the cluster running', async function () {
    this.timeout(240_000);
    const name = 'it-run-kubeconfig';
    const up = await make(['cluster-up', `CLUSTER_NAME=${name}`]).done;
    expect(up.code, up.stderr).to.equal(0);
    const state = stateOf(name);
    try {
      const kubeconfig = join(repoRoot, '.cluster', name, 'kubeconfig');
      // Another metrics port than the default, and no working kubectl on PATH
      // (as on a fresh machine; a stand-in that is "not found" comes first):
      // the one built with the control plane is used.
      const shims = mkdtempSync(join(tmpdir(), 'no-kubectl-'));
      writeFileSync(join(shims, 'kubectl'), '#!/bin/sh\nexit 127\n', { mode: 0o755 });
      const run = make(['run'], {
        KUBECONFIG: kubeconfig,
        RUN_METRICS_ADDRESS: '127.0.0.1:0',
        PATH: `${shims}:${process.env.PATH ?? ''}`,
      });
      let err = '';
      run.child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      await eventually(
        'the demo table',
        () => Promise.resolve(err.includes('The operator keeps running') ? true : undefined),
        120_000,
      );
      expect(err).to.contain(`Using the cluster in KUBECONFIG=${kubeconfig}.`);
      expect(err).to.contain('No kubectl on PATH: using the one built with the local control plane.');
      expect(err).not.to.contain('Starting a local control plane');
      const table = err.slice(err.indexOf('$ kubectl get nfsexports,pv,pvc'));
      expect(table.match(/persistentvolumeclaim\/\S+\s+Bound/g)).to.have.length(3);

      process.kill(-(run.child.pid ?? 0), 'SIGINT');
      const finished = await run.done;
      rmSync(shims, { recursive: true, force: true });
      expect(finished.stderr).to.contain('shutting down signal=SIGINT');
      expect(finished.stderr).not.to.contain('Stopping the local control plane');
      // The cluster was the user's: still up, with the demo's objects in it.
      for (const p of state.processes) expect(isAlive(p.pid), `${p.name} still running`).to.be.true;
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfig);
      const claims = await kc
        .makeApiClient(CoreV1Api)
        .listNamespacedPersistentVolumeClaim({ namespace: 'default' });
      expect(claims.items.map((c) => c.status?.phase)).to.deep.equal(['Bound', 'Bound', 'Bound']);
    } finally {
      const down = await make(['cluster-down', `CLUSTER_NAME=${name}`]).done;
      expect(down.code, down.stderr).to.equal(0);
    }
    await expectGone(state);
  });

  it('make image says clearly what it needs where no container engine answers', async function () {
    this.timeout(60_000);
    const done = await make(['image'], { ENGINE: 'no-such-engine' }).done;
    expect(done.code).to.equal(2);
    expect(done.stderr).to.contain('building the image needs a container engine');
    expect(done.stderr).to.contain('apt-get install podman');
  });
});
