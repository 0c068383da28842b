// config/ against a real apiserver: the install a user runs is accepted as a
// whole, the ServiceAccount can do what the operator does and nothing beyond,
// and the operator's pod would be admitted under Pod Security "restricted".
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { loadAllYaml, type V1Deployment, type V1Service } from '@kubernetes/client-node';
import { expect } from 'chai';

import { kubectl } from '../support/kubectl.ts';
import { operatorServiceAccount } from '../support/operator-identity.ts';
import { repoRoot, testCluster } from './cluster-hooks.ts';

describe('config/ manifests on a real apiserver', function () {
  this.timeout(60_000);
  const k = (args: string[], input?: string) =>
    kubectl(testCluster().kubectl, testCluster().kubeconfig, args, input);
  const as = `system:serviceaccount:${operatorServiceAccount.namespace}:${operatorServiceAccount.name}`;

  it('kubectl apply -k config/default is accepted as a whole (server-side dry run)', async () => {
    const out = await k([
      'apply',
      '-k',
      join(repoRoot, 'config', 'default'),
      '--dry-run=server',
      '-o',
      'name',
    ]);
    expect(out.trim().split('\n').sort()).to.deep.equal(
      [
        'clusterrole.rbac.authorization.k8s.io/pv-lifecycle-metrics-reader',
        'clusterrole.rbac.authorization.k8s.io/pv-lifecycle-operator',
        'clusterrole.rbac.authorization.k8s.io/pv-lifecycle-operator-namespace',
        'clusterrolebinding.rbac.authorization.k8s.io/pv-lifecycle-operator',
        'customresourcedefinition.apiextensions.k8s.io/nfsexports.pvlifecycle.io',
        'deployment.apps/pv-lifecycle-operator',
        'namespace/pv-lifecycle-system',
        'poddisruptionbudget.policy/pv-lifecycle-operator',
        'rolebinding.rbac.authorization.k8s.io/pv-lifecycle-operator',
        'service/pv-lifecycle-operator-metrics',
        'serviceaccount/pv-lifecycle-operator',
      ].sort(),
    );
  });

  it('config/managed renders config/default with --controllers=*,-binder added, and is accepted too', async () => {
    type Rendered = { kind: string; metadata: { name: string } } & Record<string, unknown>;
    const render = async (dir: string) =>
      loadAllYaml(await k(['kustomize', join(repoRoot, 'config', dir)])) as Rendered[];
    const plain = await render('default');
    const managed = await render('managed');
    const argsOf = (objects: Rendered[]) =>
      (objects.find((m) => m.kind === 'Deployment') as V1Deployment).spec?.template.spec?.containers[0]?.args;
    expect(argsOf(managed)).to.deep.equal([...(argsOf(plain) ?? []), '--controllers=*,-binder']);
    // Everything else is the same, object for object.
    const withoutArgs = (objects: Rendered[]) =>
      objects.map((m) => {
        const copy = structuredClone(m);
        if (copy.kind === 'Deployment')
          delete (copy as V1Deployment).spec?.template.spec?.containers[0]?.args;
        return JSON.stringify(copy);
      });
    expect(withoutArgs(managed)).to.deep.equal(withoutArgs(plain));
    const out = await k([
      'apply',
      '-k',
      join(repoRoot, 'config', 'managed'),
      '--dry-run=server',
      '-o',
      'name',
    ]);
    expect(out).to.contain('deployment.apps/pv-lifecycle-operator');
    expect(out.trim().split('\n')).to.have.length(plain.length);
  });

  it('config/components/metrics-http turns config/default to plain HTTP on :8080, and config/network-policy is accepted', async () => {
    type Rendered = { kind: string; metadata: { name: string } } & Record<string, unknown>;
    // A user's own kustomization: config/default with the component.
    // Kustomize takes only relative paths, so the kustomization sits in the repository.
    mkdirSync(join(repoRoot, '.cluster'), { recursive: true });
    const dir = mkdtempSync(join(repoRoot, '.cluster', 'metrics-http-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${relative(dir, join(repoRoot, 'config', 'default'))}`,
          'components:',
          `  - ${relative(dir, join(repoRoot, 'config', 'components', 'metrics-http'))}`,
          '',
        ].join('\n'),
      );
      const objects = loadAllYaml(await k(['kustomize', dir])) as Rendered[];
      const d = objects.find((m) => m.kind === 'Deployment') as V1Deployment;
      const c = d.spec?.template.spec?.containers[0];
      expect(c?.args).to.include('--metrics-bind-address=:8080').and.not.include('--metrics-secure');
      expect(c?.ports?.[0]?.containerPort).to.equal(8080);
      expect(c?.livenessProbe?.httpGet?.scheme).to.equal('HTTP');
      expect(c?.readinessProbe?.httpGet?.scheme).to.equal('HTTP');
      const svc = objects.find((m) => m.kind === 'Service') as V1Service;
      expect(svc.spec?.ports?.[0]?.port).to.equal(8080);
      const out = await k(['apply', '-k', dir, '--dry-run=server', '-o', 'name']);
      expect(out).to.contain('deployment.apps/pv-lifecycle-operator');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // The policy, in a namespace this cluster has (the server checks the rest).
    const policyYaml = readFileSync(join(repoRoot, 'config', 'network-policy', 'networkpolicy.yaml'), 'utf8');
    expect(policyYaml).to.contain('namespace: pv-lifecycle-system');
    const policy = await k(
      ['create', '--dry-run=server', '-o', 'name', '-f', '-'],
      policyYaml.replace('namespace: pv-lifecycle-system', 'namespace: default'),
    );
    expect(policy.trim()).to.equal('networkpolicy.networking.k8s.io/pv-lifecycle-operator');
  });

  /** kubectl auth can-i as the operator's ServiceAccount. */
  function can(verb: string, resource: string, namespace?: string): boolean {
    const args = ['auth', 'can-i', verb, resource, '--as', as];
    args.push(...(namespace ? ['-n', namespace] : ['--all-namespaces']));
    const cluster = testCluster();
    const done = spawnSync(cluster.kubectl, args, {
      env: { ...process.env, KUBECONFIG: cluster.kubeconfig },
      encoding: 'utf8',
    });
    // "yes" with exit 0, "no" with exit 1; anything else is a failure to ask.
    const answer = done.stdout.trim();
    if ((done.status === 0 && answer === 'yes') || (done.status === 1 && answer.startsWith('no'))) {
      return answer === 'yes';
    }
    throw new Error(`kubectl ${args.join(' ')}: exit ${String(done.status)} ${done.stdout} ${done.stderr}`);
  }

  it('lets the ServiceAccount do what the operator does', () => {
    const allowed: [string, string, string?][] = [
      ['watch', 'persistentvolumes'],
      ['update', 'persistentvolumes'],
      ['update', 'persistentvolumes/status'],
      ['create', 'persistentvolumes'],
      ['delete', 'persistentvolumes'],
      ['update', 'persistentvolumeclaims'],
      ['update', 'persistentvolumeclaims/status'],
      ['watch', 'storageclasses.storage.k8s.io'],
      ['list', 'pods'],
      ['create', 'events.events.k8s.io'],
      ['patch', 'events.events.k8s.io'],
      ['update', 'nfsexports.pvlifecycle.io'],
      ['update', 'nfsexports.pvlifecycle.io/status'],
      ['create', 'jobs.batch', 'pv-lifecycle-system'],
      ['delete', 'jobs.batch', 'pv-lifecycle-system'],
      ['create', 'persistentvolumeclaims', 'pv-lifecycle-system'],
      ['update', 'leases.coordination.k8s.io', 'pv-lifecycle-system'],
      ['get', 'configmaps', 'pv-lifecycle-system'],
      ['list', 'events', 'pv-lifecycle-system'],
    ];
    for (const [verb, resource, ns] of allowed) {
      expect(can(verb, resource, ns), `${verb} ${resource} ${ns ?? '(all namespaces)'}`).to.equal(true);
    }
  });

  it("lets the ServiceAccount watch events.k8s.io events everywhere (the in-tree binder's), and no more of core events", () => {
    for (const verb of ['list', 'watch']) expect(can(verb, 'events.events.k8s.io'), verb).to.equal(true);
    expect(can('delete', 'events.events.k8s.io')).to.equal(false);
    expect(can('list', 'events', 'default')).to.equal(false);
  });

  it('refuses the ServiceAccount everything else we checked', () => {
    const refused: [string, string, string?][] = [
      ['get', 'secrets', 'pv-lifecycle-system'],
      ['list', 'secrets'],
      ['delete', 'persistentvolumeclaims'],
      ['create', 'persistentvolumeclaims', 'default'],
      ['patch', 'persistentvolumes'],
      ['create', 'pods', 'pv-lifecycle-system'],
      ['delete', 'pods'],
      ['create', 'jobs.batch', 'default'],
      ['update', 'leases.coordination.k8s.io', 'kube-system'],
      ['get', 'configmaps', 'default'],
      ['list', 'events', 'default'],
      ['delete', 'nfsexports.pvlifecycle.io'],
      ['create', 'nfsexports.pvlifecycle.io'],
      ['delete', 'storageclasses.storage.k8s.io'],
      ['update', 'clusterroles.rbac.authorization.k8s.io'],
      ['create', 'serviceaccounts/token', 'pv-lifecycle-system'],
    ];
    for (const [verb, resource, ns] of refused) {
      expect(can(verb, resource, ns), `${verb} ${resource} ${ns ?? '(all namespaces)'}`).to.equal(false);
    }
  });

  it("the operator's pod is admitted where Pod Security enforces restricted", async () => {
    const ns = `psa-restricted-${String(process.pid)}`;
    await k(['create', 'namespace', ns]);
    await k(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    const rendered = loadAllYaml(await k(['kustomize', join(repoRoot, 'config', 'default')])) as {
      kind: string;
    }[];
    const deployment = rendered.find((m) => m.kind === 'Deployment') as V1Deployment;
    const template = deployment.spec?.template;
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'operator-psa-check', namespace: ns, labels: template?.metadata?.labels },
      spec: { ...template?.spec, serviceAccountName: 'default' },
    };
    // A pod that breaks "restricted" is refused with "violates PodSecurity".
    const out = await k(['create', '--dry-run=server', '-f', '-', '-o', 'name'], JSON.stringify(pod));
    expect(out.trim()).to.equal('pod/operator-psa-check');

    // And the check can fail: the same pod with privilege escalation allowed is refused.
    const bad = structuredClone(pod);
    const c = bad.spec.containers?.[0];
    if (c?.securityContext) c.securityContext.allowPrivilegeEscalation = true;
    let refused = '';
    await k(['create', '--dry-run=server', '-f', '-'], JSON.stringify(bad)).catch((err: unknown) => {
      refused = (err as Error).message;
    });
    expect(refused).to.contain('violates PodSecurity "restricted');
    await k(['delete', 'namespace', ns, '--wait=false']);
  });
});
