// Mocha root hooks: one local control plane for the whole integration run,
// stopped at the end (and killed with the test process if that dies first).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LocalCluster } from '../../cluster/local-cluster.ts';
import { kubectl } from '../support/kubectl.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

let cluster: LocalCluster | undefined;

/** The cluster the root hook started; throws outside an integration run. */
export function testCluster(): LocalCluster {
  if (!cluster) {
    throw new Error('no local control plane: run integration tests with .mocharc.integration.json');
  }
  return cluster;
}

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(15 * 60_000); // the first run may still have to build the control plane
    const started = Date.now();
    // TEST_CLUSTER_NAME lets two integration runs share a machine.
    cluster = await LocalCluster.start({
      dir: join(repoRoot, '.cluster', process.env.TEST_CLUSTER_NAME ?? 'test'),
    });
    process.stderr.write(
      `  local control plane up in ${((Date.now() - started) / 1000).toFixed(1)} s at ${cluster.state.server}\n`,
    );
    // As a user installs the operator: its CRDs first.
    await kubectl(cluster.kubectl, cluster.kubeconfig, ['apply', '-f', join(repoRoot, 'crds')]);
    await kubectl(cluster.kubectl, cluster.kubeconfig, [
      'wait',
      '--for=condition=Established',
      'crd/nfsexports.pvlifecycle.io',
      '--timeout=30s',
    ]);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await cluster?.stop();
    cluster = undefined;
  },
};
