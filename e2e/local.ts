// `make e2e`: the end-to-end specs on the local control plane (built from Go
// modules, in-tree PV binder off, kwok node), with nfs-ganesha on loopback as
// the NFS server the operator probes, and two operator replicas out of cluster
// with the ServiceAccount's token. kwok runs no containers, so pods are not
// real here (E2E_REAL_PODS=0): scrub Jobs complete through kwok's stages and
// the specs check the API side of every step. kind (make e2e-kind) runs the
// same specs with real pods.
//
//   node --import tsx e2e/local.ts
//
// Exit code: mocha's, or 1 when setting up failed.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { freePorts } from '../cluster/ports.ts';
import { exitWith, repoRoot, runSpecsWithOperator } from './harness.ts';

const run = promisify(execFile);
const say = (line: string) => process.stderr.write(`e2e/local: ${line}\n`);
/** E2E_MODE=managed: the in-tree binder on and the operator beside it (--controllers=*,-binder). */
const managed = process.env.E2E_MODE === 'managed';
const dir = join(repoRoot, '.cluster', process.env.E2E_CLUSTER_NAME ?? (managed ? 'e2e-managed' : 'e2e'));
const nfsDir = join(repoRoot, '.cluster', managed ? 'e2e-managed-nfs' : 'e2e-nfs');
const nfsScript = join(repoRoot, 'scripts', 'nfs-server.sh');

/** nfs-ganesha on 127.0.0.1:port, or why there is none (scripts/nfs-server.sh exit 3). */
async function startNfs(port: number): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await run('bash', [nfsScript, 'start', nfsDir, String(port)]);
    return { ok: true };
  } catch (err) {
    const failure = err as { code?: unknown; stderr?: string; message: string };
    const why = (failure.stderr ?? '').trim() || failure.message;
    if (failure.code === 3) return { ok: false, why };
    throw new Error(`scripts/nfs-server.sh start failed: ${why}`, { cause: err });
  }
}

async function main(): Promise<number> {
  say(`starting the local control plane in ${dir}`);
  const cluster = await LocalCluster.start({
    dir,
    tieToParent: true,
    inTreeBinder: managed,
    log: (line) => say(`  ${line}`),
  });
  let nfs = false;
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    void cluster.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const [nfsPort, closedPort] = await freePorts(2);
    const started = await startNfs(nfsPort ?? 0);
    nfs = started.ok;
    let nfsServer: string;
    let nfsRoot: string;
    let probeArgs: string[];
    if (started.ok) {
      say(`nfs-ganesha serves /export on 127.0.0.1:${String(nfsPort)}; the operator probes it every 5 s`);
      nfsServer = '127.0.0.1';
      nfsRoot = '/export';
      // NFSv4 only: no portmapper, so that port is a closed one and the probe says so at once.
      probeArgs = [
        '--probe-interval',
        '5s',
        '--nfs-port',
        String(nfsPort),
        '--portmapper-port',
        String(closedPort),
      ];
    } else {
      say(`no NFS server here (${started.why}); running with probes off and a server that never answers`);
      nfsServer = '192.0.2.1';
      nfsRoot = '/exports';
      probeArgs = ['--probe-interval', '0'];
    }
    return await runSpecsWithOperator({
      adminKubeconfig: cluster.kubeconfig,
      kubectl: cluster.kubectl,
      dir: join(repoRoot, '.cluster', 'test-logs', managed ? 'e2e-local-managed' : 'e2e-local'),
      nfsServer,
      nfsRoot,
      realPods: false,
      ...(started.ok ? { nfsExportDir: join(nfsDir, 'export') } : {}),
      operatorArgs: [...(managed ? ['--controllers=*,-binder'] : []), ...probeArgs],
      managed,
      say,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (nfs) {
      await run('bash', [nfsScript, 'stop', nfsDir]).catch(() => undefined);
      rmSync(nfsDir, { recursive: true, force: true });
    }
    say('stopping the local control plane');
    await cluster.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) exitWith(main(), say);
