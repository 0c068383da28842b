// The edge between the benches and the local control plane: its processes'
// ids and the API server's own /metrics.
import type { KubeConfig } from '@kubernetes/client-node';

import { httpGet } from '../../cluster/http.ts';
import type { LocalCluster } from '../../cluster/local-cluster.ts';

/** The pid of one of the control plane's processes (setpriv execs the component, so it is its own). */
export function componentPid(cluster: LocalCluster, name: string): number {
  const pid = cluster.state.processes.find((p) => p.name === name)?.pid;
  if (pid === undefined) throw new Error(`the local control plane has no ${name} process`);
  return pid;
}

/** The API server's /metrics, read with the kubeconfig's CA and token. */
export async function scrapeApiServer(kc: KubeConfig): Promise<string> {
  const cluster = kc.getCurrentCluster();
  const token = kc.getCurrentUser()?.token;
  if (!cluster?.caData || !token) throw new Error('the kubeconfig has no CA data or no token for /metrics');
  const res = await httpGet(`${cluster.server}/metrics`, {
    ca: Buffer.from(cluster.caData, 'base64'),
    token,
    timeoutMs: 60_000,
  });
  if (res.status !== 200)
    throw new Error(`GET /metrics answered ${String(res.status)}: ${res.body.slice(0, 200)}`);
  return res.body;
}
