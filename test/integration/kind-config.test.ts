// The kind cluster of `make e2e-kind` cannot be created here (no container
// engine), but its riskiest part can be checked: the kubeadm patches that turn
// the in-tree PV binder off. They are decoded strictly with kubeadm's own API
// types from the Kubernetes release the control plane is built from
// (cluster/go/kubeadmcheck), so a misspelt field, or a map where v1beta4 wants
// its list of {name, value}, fails here rather than on a CI machine with Docker.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { loadYaml } from '@kubernetes/client-node';
import { expect } from 'chai';

import { repoRoot } from './cluster-hooks.ts';

interface PatchReport {
  apiVersion: string;
  kind: string;
  controllerManagerArgs: Record<string, string>;
  failCgroupV1?: boolean;
}

const clusterFile = join(repoRoot, 'e2e', 'kind', 'cluster.yaml');

describe('kind cluster configuration (e2e/kind/cluster.yaml)', function () {
  // The first run compiles kubeadm's API packages (about 40 s on 2 cores).
  this.timeout(300_000);
  let dir = '';
  let checker = '';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubeadmcheck-'));
    checker = join(dir, 'kubeadmcheck');
    const build = spawnSync('go', ['build', '-o', checker, './kubeadmcheck'], {
      cwd: join(repoRoot, 'cluster', 'go'),
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -buildvcs=false', GOSUMDB: 'off' },
      encoding: 'utf8',
    });
    if (build.status !== 0) throw new Error(`go build ./kubeadmcheck failed:\n${build.stderr}`);
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const check = (file: string) => spawnSync(checker, [file], { encoding: 'utf8' });

  it('is a one-node kind v1alpha4 cluster', () => {
    const cluster = loadYaml<{ kind: string; apiVersion: string; nodes: { role: string }[] }>(
      readFileSync(clusterFile, 'utf8'),
    );
    expect(cluster.kind).to.equal('Cluster');
    expect(cluster.apiVersion).to.equal('kind.x-k8s.io/v1alpha4');
    expect(cluster.nodes.map((n) => n.role)).to.deep.equal(['control-plane']);
  });

  it('turns the binder off in both kubeadm API versions, keeping the controllers kubeadm enables', () => {
    const run = check(clusterFile);
    expect(run.status, run.stderr).to.equal(0);
    const reports = (JSON.parse(run.stdout) as PatchReport[]).filter(
      (r) => r.kind === 'ClusterConfiguration',
    );
    expect(reports.map((r) => r.apiVersion)).to.have.members([
      'kubeadm.k8s.io/v1beta4',
      'kubeadm.k8s.io/v1beta3',
    ]);
    for (const r of reports) {
      expect(r.kind).to.equal('ClusterConfiguration');
      const controllers = (r.controllerManagerArgs.controllers ?? '').split(',');
      expect(controllers, r.apiVersion).to.include.members([
        '*',
        'bootstrapsigner',
        'tokencleaner',
        '-persistentvolume-binder-controller',
      ]);
    }
  });

  it('lets the kubelet start on cgroup v1 hosts (failCgroupV1: false, a field kubelet v1beta1 knows)', () => {
    const run = check(clusterFile);
    expect(run.status, run.stderr).to.equal(0);
    const kubelet = (JSON.parse(run.stdout) as PatchReport[]).filter(
      (r) => r.kind === 'KubeletConfiguration',
    );
    expect(kubelet.map((r) => [r.apiVersion, r.failCgroupV1])).to.deep.equal([
      ['kubelet.config.k8s.io/v1beta1', false],
    ]);
  });

  it('refuses the map form of extraArgs under v1beta4, and a misspelt field', () => {
    const bad = (name: string, patch: string) => {
      const file = join(dir, `${name}.yaml`);
      writeFileSync(
        file,
        `kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nkubeadmConfigPatches:\n  - |\n${patch
          .split('\n')
          .map((l) => `    ${l}`)
          .join('\n')}\n`,
      );
      return check(file);
    };
    const mapForm = bad(
      'map-form',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n    controllers: "*"',
    );
    expect(mapForm.status).to.equal(1);
    expect(mapForm.stderr).to.match(/patch 0 \(kubeadm\.k8s\.io\/v1beta4\)/);
    const misspelt = bad(
      'misspelt',
      'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolerManager:\n  extraArgs: []',
    );
    expect(misspelt.status).to.equal(1);
    expect(misspelt.stderr).to.contain('controlerManager');
  });
});
