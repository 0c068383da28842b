// The operator's own identity for tests: the ServiceAccount, roles and
// bindings of config/rbac, and a kubeconfig carrying a token of that
// ServiceAccount. Operators started by tests use it instead of the admin's
// credentials, so a permission missing from config/rbac fails a test.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { KubeConfig } from '@kubernetes/client-node';

import { kubectl } from './kubectl.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export const operatorServiceAccount = { namespace: 'pv-lifecycle-system', name: 'pv-lifecycle-operator' };

export interface ClusterAccess {
  /** The kubectl binary. */
  kubectl: string;
  /** An admin kubeconfig. */
  kubeconfig: string;
}

/**
 * Installs the namespace and config/rbac as a user does, asks the apiserver
 * for a token of the operator's ServiceAccount, and writes a kubeconfig with
 * it to file. Returns file.
 */
export async function installOperatorIdentity(access: ClusterAccess, file: string): Promise<string> {
  const k = (args: string[]) => kubectl(access.kubectl, access.kubeconfig, args);
  await k(['apply', '-f', join(repoRoot, 'config', 'manager', 'namespace.yaml')]);
  await k(['apply', '-k', join(repoRoot, 'config', 'rbac')]);
  const { namespace, name } = operatorServiceAccount;
  const token = (await k(['create', 'token', name, '-n', namespace, '--duration', '24h'])).trim();
  if (!token) throw new Error(`no token for ServiceAccount ${namespace}/${name}`);
  writeFileSync(file, tokenKubeconfig(access.kubeconfig, token), { mode: 0o600 });
  return file;
}

/** A kubeconfig for the admin's cluster (server and CA) that authenticates with token. */
export function tokenKubeconfig(adminKubeconfig: string, token: string): string {
  const admin = new KubeConfig();
  admin.loadFromFile(adminKubeconfig);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error(`${adminKubeconfig} has no current cluster`);
  const user = `${operatorServiceAccount.namespace}:${operatorServiceAccount.name}`;
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [cluster],
    users: [{ name: user, token }],
    contexts: [{ name: 'operator', cluster: cluster.name, user }],
    currentContext: 'operator',
  });
  return config.exportConfig();
}

/**
 * Lets the operator's ServiceAccount do in namespace what it does in its own
 * (Jobs, ConfigMaps, Leases): the RoleBinding config/rbac has for
 * pv-lifecycle-system, made for another namespace.
 */
export async function grantOperatorNamespace(access: ClusterAccess, namespace: string): Promise<void> {
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: operatorServiceAccount.name, namespace },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'pv-lifecycle-operator-namespace',
    },
    subjects: [{ kind: 'ServiceAccount', ...operatorServiceAccount }],
  };
  await kubectl(access.kubectl, access.kubeconfig, ['apply', '-f', '-'], JSON.stringify(binding));
}
