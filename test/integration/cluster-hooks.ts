// Mocha root hooks: one local control plane for the whole integration run,
// stopped at the end (and killed with the test process if that dies first).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LocalCluster } from '../../cluster/local-cluster.ts';
import { inTreeBinderOn, upstreamBinder } from '../support/binder-under-test.ts';
import { installCrds } from '../support/kubectl.ts';
import { installOperatorIdentity } from '../support/operator-identity.ts';
import { OperatorProcess } from '../support/operator-process.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

let cluster: LocalCluster | undefined;
let operatorConfig: string | undefined;

/** The cluster the root hook started; throws outside an integration run. */
export function testCluster(): LocalCluster {
  if (!cluster) {
    throw new Error('no local control plane: run integration tests with .mocharc.integration.json');
  }
  return cluster;
}

/**
 * A kubeconfig with a token of the operator's ServiceAccount (config/rbac):
 * operators started by tests use it, not the admin's credentials.
 */
export function operatorKubeconfig(): string {
  if (!operatorConfig)
    throw new Error('no operator identity: run integration tests with .mocharc.integration.json');
  return operatorConfig;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(15 * 60_000); // the first run may still have to build the control plane
    const started = Date.now();
    // TEST_CLUSTER_NAME lets two integration runs share a machine; TEST_BINDER=intree
    // (make test-upstream) runs the controller manager's own PV binder instead of the operator,
    // KUBE_INTREE_BINDER=1 (make test-managed) beside it.
    cluster = await LocalCluster.start({
      dir: join(repoRoot, '.cluster', process.env.TEST_CLUSTER_NAME ?? 'test'),
      inTreeBinder: inTreeBinderOn,
    });
    const binderNote = upstreamBinder
      ? ' (in-tree PV binder on, operator starts skipped)'
      : inTreeBinderOn
        ? ' (in-tree PV binder on)'
        : '';
    process.stderr.write(
      `  local control plane up in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cluster.state.server}` +
        `${binderNote}\n`,
    );
    // As a user installs the operator: its CRDs first.
    await installCrds(cluster.kubectl, cluster.kubeconfig, '30s');
    // Then its namespace, ServiceAccount and roles; the operator runs with that account's token.
    operatorConfig = await installOperatorIdentity(
      cluster,
      join(dirname(cluster.kubeconfig), 'operator.kubeconfig'),
    );
  },
  // The operators run with the ServiceAccount's token: a request the apiserver
  // refused means config/rbac lacks a permission, and fails the test.
  afterEach(): void {
    const refused = [...OperatorProcess.started].flatMap((p) => p.forbidden.splice(0));
    for (const p of OperatorProcess.started) if (!p.running) OperatorProcess.started.delete(p);
    if (refused.length > 0) {
      throw new Error(
        `the operator was refused ${String(refused.length)} request(s) (missing RBAC in config/rbac?):\n` +
          refused.slice(0, 5).join('\n'),
      );
    }
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await cluster?.stop();
    cluster = undefined;
    operatorConfig = undefined;
  },
};
