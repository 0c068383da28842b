// Secure metrics (--metrics-secure): HTTPS with a certificate the operator
// signs itself, /metrics only for bearer tokens the real API server
// authenticates (TokenReview) and authorizes for "get" on /metrics
// (SubjectAccessReview), and the probes open to the kubelet.
import { join } from 'node:path';

import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { OperatorProcess } from '../support/operator-process.ts';

describe('secure metrics (operator process, --metrics-secure)', function () {
  this.timeout(60_000);
  const ns = 'secure-metrics';
  let operator: OperatorProcess | undefined;
  let core: CoreV1Api;

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    for (const name of ['scraper', 'stranger']) {
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    }
    // config/rbac's reader role, bound to the scraper only.
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'secure-metrics-scraper' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'pv-lifecycle-metrics-reader',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: ns }],
      },
    });
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: ['--metrics-secure', '--probe-interval', '0'],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-secure-metrics.log'),
    });
  });

  after(async () => {
    if (operator) expect((await operator.stop()).code).to.equal(0);
    await testCluster()
      .kubeConfig()
      .makeApiClient(RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: 'secure-metrics-scraper' })
      .catch(() => undefined);
  });

  const tokenOf = async (name: string) =>
    (
      await core.createNamespacedServiceAccountToken({
        name,
        namespace: ns,
        body: { spec: { expirationSeconds: 600 } },
      })
    ).status?.token ?? '';

  it('serves HTTPS and keeps the probes open', async () => {
    expect(operator?.metricsUrl).to.match(/^https:/);
    expect((await operator?.get('/healthz'))?.status).to.equal(200);
    expect((await operator?.get('/readyz'))?.status).to.equal(200);
  });

  it('answers 401 without a token or with one the API server does not know', async () => {
    const none = await operator?.get('/metrics');
    expect(none?.status).to.equal(401);
    expect(await none?.text()).to.contain('a bearer token is required');
    const forged = await operator?.get('/metrics', { Authorization: 'Bearer not-a-real-token' });
    expect(forged?.status).to.equal(401);
  });

  it('answers 403 to a user without get on /metrics, naming the user', async () => {
    const res = await operator?.get('/metrics', { Authorization: `Bearer ${await tokenOf('stranger')}` });
    expect(res?.status).to.equal(403);
    expect(await res?.text()).to.contain(`system:serviceaccount:${ns}:stranger may not get /metrics`);
  });

  it('serves the metrics to a scraper bound to pv-lifecycle-metrics-reader, scrape after scrape', async () => {
    const auth = { Authorization: `Bearer ${await tokenOf('scraper')}` };
    for (let i = 0; i < 3; i++) {
      const res = await operator?.get('/metrics', auth);
      expect(res?.status).to.equal(200);
      expect(await res?.text()).to.contain('controller_runtime_reconcile_total');
    }
  });
});
