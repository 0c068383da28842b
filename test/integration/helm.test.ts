// The chart installed, upgraded and uninstalled with the real helm on the
// local control plane. Its pods are kwok's (no container runs), so the
// operator runs out of cluster with the flags of the installed Deployment and
// a token of the ServiceAccount the chart made: it must lead and do its work
// with the chart's RBAC alone. The release's name and namespace differ from
// config/'s, which the root hook installed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import {
  type ApiConstructor,
  type ApiType,
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { chartDir, ensureHelm, helm, parseManifests } from '../support/helm.ts';
import { kubectl } from '../support/kubectl.ts';
import { tokenKubeconfig } from '../support/operator-identity.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';
import { repoRoot, testCluster } from './cluster-hooks.ts';

const release = 'it-helm';
const ns = 'it-helm-system';
const name = `${release}-pv-lifecycle-operator`;
const exportApi = { group: 'pvlifecycle.io', version: 'v1alpha1', plural: 'nfsexports' };
const exportName = 'it-helm-export';

describe('Helm chart on the local control plane', function () {
  this.timeout(120_000);
  let helmBin = '';
  let operator: OperatorProcess | undefined;
  const cluster = () => testCluster();
  const api = <T extends ApiType>(c: ApiConstructor<T>) => cluster().kubeConfig().makeApiClient(c);
  const h = (args: string[]) =>
    helm(helmBin, [...args, '--namespace', 'default'], { kubeconfig: cluster().kubeconfig });
  const k = (args: string[], input?: string) => kubectl(cluster().kubectl, cluster().kubeconfig, args, input);

  before(function () {
    this.timeout(20 * 60_000);
    helmBin = ensureHelm();
  });

  after(async function () {
    this.timeout(60_000);
    await operator?.stop();
    await h(['uninstall', release, '--ignore-not-found', '--wait']).catch(() => undefined);
    // The export's finalizer is the operator's, which no longer runs.
    await k([
      'patch',
      'nfsexport',
      exportName,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]).catch(() => undefined);
    await k(['delete', 'nfsexport', exportName, '--ignore-not-found', '--wait=false']);
    await k(['delete', 'pv', `nfsx-${exportName}`, '--ignore-not-found', '--wait=false']);
    await k(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  });

  it("installs with its values; the operator leads as the chart's ServiceAccount and makes an export's volume", async () => {
    // The release record in default, the operator in the namespace the chart creates.
    const notes = await h([
      'install',
      release,
      chartDir,
      '--wait',
      '--timeout',
      '90s',
      '--set',
      `namespace.name=${ns}`,
      '--set',
      'image.tag=it-1',
      '--set',
      'replicas=1',
      '--set',
      'namespace.podSecurity.enforce=baseline',
      '--set',
      'leaderElection.leaseDuration=4s',
      '--set',
      'leaderElection.renewDeadline=3s',
      '--set',
      'leaderElection.retryPeriod=1s',
      '--set',
      'nfsProbe.interval=0',
    ]).catch(async (err: unknown) => {
      // --wait failed: say what the Deployment reports.
      throw new Error(
        `${(err as Error).message}\n${await k(['describe', 'deployment', '-n', ns]).catch(() => '')}`,
      );
    });
    expect(notes).to.contain(`kubectl get lease -n ${ns} pv-lifecycle-operator`);
    // The operator binds here: NOTES.txt says the cluster's own binder must be off.
    expect(notes).to.contain('--controllers=*,-persistentvolume-binder-controller');

    const namespace = await api(CoreV1Api).readNamespace({ name: ns });
    expect(namespace.metadata?.labels).to.include({
      'pod-security.kubernetes.io/enforce': 'baseline',
      'app.kubernetes.io/managed-by': 'Helm',
    });
    const d = await api(AppsV1Api).readNamespacedDeployment({ name, namespace: ns });
    const c = d.spec?.template.spec?.containers[0];
    expect(d.spec?.replicas).to.equal(1);
    // kwok's pods are Ready at once, so --wait saw the rollout finish.
    expect(d.status?.readyReplicas).to.equal(1);
    expect(c?.image).to.equal('pv-lifecycle-operator:it-1');
    expect(d.spec?.template.spec?.serviceAccountName).to.equal(name);
    expect(c?.args).to.include.members([
      '--leader-elect',
      '--leader-election-lease-duration=4s',
      '--probe-interval=0',
    ]);
    // The cluster-wide rules are config/rbac's, under the release's name.
    const rules = (await api(RbacAuthorizationV1Api).readClusterRole({ name })).rules;
    const configRole = parseManifests(await k(['kustomize', join(repoRoot, 'config', 'rbac')])).find(
      (m) => m.kind === 'ClusterRole' && m.metadata.name === 'pv-lifecycle-operator',
    );
    expect(rules).to.deep.equal(configRole?.rules);

    // The operator with the installed Deployment's flags (but where and how it
    // serves metrics: the harness binds them to 127.0.0.1 over HTTP, and reads
    // the leader gauge there; secure-metrics.test.ts covers --metrics-secure)
    // and the ServiceAccount's token.
    const token = (await k(['create', 'token', name, '-n', ns, '--duration', '1h'])).trim();
    const kubeconfig = join(repoRoot, '.cluster', 'test-logs', 'helm-operator.kubeconfig');
    mkdirSync(join(repoRoot, '.cluster', 'test-logs'), { recursive: true });
    writeFileSync(kubeconfig, tokenKubeconfig(cluster().kubeconfig, token), { mode: 0o600 });
    expect(c?.args).to.include('--metrics-secure');
    const args = (c?.args ?? []).filter(
      (a) => !a.startsWith('--metrics-bind-address') && a !== '--metrics-secure',
    );
    operator = await OperatorProcess.start({
      kubeconfig,
      args: [...args, '--namespace', ns],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-helm.log'),
    });
    await eventually('the operator leading', async () =>
      (await operator?.leaderStatus('pv-lifecycle-operator')) === 1 ? true : undefined,
    );
    const lease = await api(CoordinationV1Api).readNamespacedLease({
      name: 'pv-lifecycle-operator',
      namespace: ns,
    });
    expect(lease.spec?.holderIdentity).to.be.a('string').and.not.equal('');
    expect(lease.spec?.leaseDurationSeconds).to.equal(4);

    await api(CustomObjectsApi).createClusterCustomObject({
      ...exportApi,
      body: {
        apiVersion: 'pvlifecycle.io/v1alpha1',
        kind: 'NfsExport',
        metadata: { name: exportName },
        spec: {
          server: '127.0.0.1',
          path: `/${exportName}`,
          capacity: '1Gi',
          accessModes: ['ReadWriteOnce'],
        },
      },
    });
    await eventually('the export volume', () =>
      api(CoreV1Api)
        .readPersistentVolume({ name: `nfsx-${exportName}` })
        .then(
          (v) => v,
          () => undefined,
        ),
    );
  });

  it('upgrades: a changed value reaches the Deployment, the others are kept', async () => {
    const notes = await h([
      'upgrade',
      release,
      chartDir,
      '--reuse-values',
      '--wait',
      '--timeout',
      '90s',
      '--set',
      'replicas=2',
      '--set',
      'controllers=*\\,-binder',
    ]);
    const d = await api(AppsV1Api).readNamespacedDeployment({ name, namespace: ns });
    expect(d.spec?.replicas).to.equal(2);
    expect(notes).to.contain('binder is off').and.not.contain('-persistentvolume-binder-controller');
    expect(d.spec?.template.spec?.containers[0]?.args).to.include.members([
      '--controllers=*,-binder',
      '--leader-election-lease-duration=4s',
    ]);
    expect(d.spec?.template.spec?.containers[0]?.image).to.equal('pv-lifecycle-operator:it-1');
    const history = JSON.parse(await h(['history', release, '-o', 'json'])) as {
      revision: number;
      status: string;
    }[];
    expect(history.map((r) => [r.revision, r.status])).to.deep.equal([
      [1, 'superseded'],
      [2, 'deployed'],
    ]);
  });

  it('uninstalls the operator and keeps the CRD, the NfsExports, every volume and the namespace', async () => {
    await operator?.stop();
    const volumesBefore = (await api(CoreV1Api).listPersistentVolume()).items
      .map((v) => v.metadata?.name)
      .sort();
    expect(volumesBefore).to.include(`nfsx-${exportName}`);
    await h(['uninstall', release, '--wait']);
    await eventually('the Deployment gone', () =>
      api(AppsV1Api)
        .readNamespacedDeployment({ name, namespace: ns })
        .then(
          () => undefined,
          () => true,
        ),
    );
    const gone: (() => Promise<unknown>)[] = [
      () => api(RbacAuthorizationV1Api).readClusterRole({ name }),
      () => api(RbacAuthorizationV1Api).readClusterRole({ name: `${name}-namespace` }),
      () => api(RbacAuthorizationV1Api).readClusterRoleBinding({ name }),
      () => api(RbacAuthorizationV1Api).readClusterRole({ name: `${release}-pv-lifecycle-metrics-reader` }),
      () => api(CoreV1Api).readNamespacedServiceAccount({ name, namespace: ns }),
      () => api(CoreV1Api).readNamespacedService({ name: `${name}-metrics`, namespace: ns }),
    ];
    for (const read of gone) {
      const left = await read().then(
        () => 'still there',
        () => 'gone',
      );
      expect(left, String(read)).to.equal('gone');
    }
    await api(ApiextensionsV1Api).readCustomResourceDefinition({ name: 'nfsexports.pvlifecycle.io' });
    await api(CustomObjectsApi).getClusterCustomObject({ ...exportApi, name: exportName });
    const volumesAfter = (await api(CoreV1Api).listPersistentVolume()).items
      .map((v) => v.metadata?.name)
      .sort();
    expect(volumesAfter).to.deep.equal(volumesBefore);
    const namespace = await api(CoreV1Api).readNamespace({ name: ns });
    expect(namespace.status?.phase).to.equal('Active');
  });
});
