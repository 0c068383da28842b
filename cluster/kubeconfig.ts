// Renders the kubeconfig that kubectl, the control plane components, the
// operator and the tests use to reach the local apiserver.

export interface KubeconfigInput {
  clusterName: string;
  server: string;
  caBase64: string;
  user: string;
  token: string;
}

/**
 * Kubeconfig as JSON, which is valid YAML, so no YAML writer is needed and the
 * output is exact. kubectl and client-node both read it.
 */
export function renderKubeconfig(input: KubeconfigInput): string {
  const context = `${input.user}@${input.clusterName}`;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: input.clusterName,
        cluster: { server: input.server, 'certificate-authority-data': input.caBase64 },
      },
    ],
    users: [{ name: input.user, user: { token: input.token } }],
    contexts: [{ name: context, context: { cluster: input.clusterName, user: input.user } }],
    'current-context': context,
    preferences: {},
  };
  return JSON.stringify(config, null, 2) + '\n';
}
