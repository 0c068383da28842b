// Hostile NFS servers against the operator process (with the Deployment's
// heap cap, --max-old-space-size=384) and a real API server: one server
// floods every probe with 64 MiB of zero-length fragments, one streams
// wrong-xid replies forever. Their exports say so in ServerReachable, their
// volumes get no new claims, and the operator stays up and keeps binding
// claims to an honest server's export. The three fake servers share one port
// on three loopback addresses, since --nfs-port is one for all exports.
import { join } from 'node:path';

import { CoreV1Api, CustomObjectsApi, EventsV1Api } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { encodeRecord } from '../../src/nfs/rpc.ts';
import {
  type FakeCall,
  type FakeRpcServer,
  acceptedReply,
  closedPort,
  nfsProgram,
  startFakeRpcServer,
} from '../support/fake-rpc-server.ts';
import { exportProbes, exportsApi } from '../support/export-probes.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';

const api = exportsApi;
const MiB = 1024 * 1024;

function* zeros(): Generator<Buffer> {
  const chunk = Buffer.alloc(64 * 1024);
  for (let sent = 0; sent < 64 * MiB; sent += chunk.length) yield chunk;
}

function* wrongXidReplies(call: FakeCall): Generator<Buffer> {
  const batch = Buffer.concat(
    Array.from({ length: 256 }, (_, i) => encodeRecord(acceptedReply((call.xid + 1 + i) >>> 0, 0))),
  );
  for (;;) yield batch;
}

/** The three servers on one port: taken on 127.0.0.1, then the same number on .2 and .3 (retried if taken). */
async function serversOnOnePort(): Promise<{
  port: number;
  zeros: FakeRpcServer;
  liar: FakeRpcServer;
  honest: FakeRpcServer;
}> {
  for (let attempt = 1; ; attempt++) {
    const flood = await startFakeRpcServer({ stream: () => zeros() });
    try {
      const liar = await startFakeRpcServer({ host: '127.0.0.2', port: flood.port, stream: wrongXidReplies });
      try {
        const honest = await startFakeRpcServer({
          host: '127.0.0.3',
          port: flood.port,
          programs: nfsProgram([4]),
        });
        return { port: flood.port, zeros: flood, liar, honest };
      } catch (err) {
        await liar.close();
        throw err;
      }
    } catch (err) {
      await flood.close();
      if (attempt === 5) throw err;
    }
  }
}

/** A sample from the operator's /metrics, by series name. */
async function metric(operator: OperatorProcess, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await operator.metrics());
  return m ? Number(m[1]) : Number.NaN;
}

describe('NfsExport probes of hostile NFS servers (operator process)', function () {
  this.timeout(90_000);
  let servers: Awaited<ReturnType<typeof serversOnOnePort>> | undefined;
  let operator: OperatorProcess | undefined;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let eventsApi: EventsV1Api;
  let pid = 0;
  const ns = 'nfs-hostile';
  const exportNames = ['hostile-zeros', 'hostile-xid', 'honest'];

  before(async function () {
    this.timeout(120_000);
    servers = await serversOnOnePort();
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      nodeArgs: ['--max-old-space-size=384', '--max-semi-space-size=8'],
      args: [
        '--probe-interval',
        '2s',
        '--probe-timeout',
        '1s',
        '--nfs-port',
        String(servers.port),
        '--portmapper-port',
        String(await closedPort()),
      ],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-nfs-hostile-probe.log'),
    });
    pid = operator.pid;
  });

  after(async function () {
    this.timeout(60_000);
    // Claims first, so no finalizer holds an export; then wait until the exports are gone, so
    // none is left behind to conflict with later tests' exports of the same servers and path.
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    for (const name of exportNames)
      await custom.deleteClusterCustomObject({ ...api, name }).catch(() => undefined);
    await eventually(
      'the exports gone',
      async () => {
        const left = await Promise.all(
          exportNames.map((name) =>
            custom.getClusterCustomObject({ ...api, name }).then(
              () => 1,
              () => 0,
            ),
          ),
        );
        return left.every((x) => x === 0) ? true : undefined;
      },
      40_000,
    ).catch(() => undefined);
    await operator?.stop();
    await Promise.all([servers?.zeros.close(), servers?.liar.close(), servers?.honest.close()]);
  });

  const { createExport, reachability, claim, phaseOf } = exportProbes(() => ({
    custom,
    core,
    namespace: ns,
  }));
  const blockedEvent = (claimName: string) =>
    eventually(`the event on ${claimName}`, async () =>
      (await eventsApi.listNamespacedEvent({ namespace: ns })).items.find(
        (x) => x.regarding?.name === claimName && x.reason === 'ProvisioningFailed',
      ),
    );

  it('marks an export whose server floods zero-length fragments Malformed, and binds no claim to it', async () => {
    await createExport('hostile-zeros', '127.0.0.1');
    const c = await reachability('hostile-zeros', 'Malformed');
    expect(c.status).to.equal('False');
    expect(c.message).to.equal(
      `127.0.0.1:${String(servers?.port)} broke ONC RPC record marking: empty fragment that is not the last (fragment header 0x00000000)`,
    );
    await claim('on-zeros', 'hostile-zeros');
    const e = await blockedEvent('on-zeros');
    expect(e.note).to.contain('nfsx-hostile-zeros: NFS server unreachable (Malformed: ');
    expect(await phaseOf('on-zeros')).to.equal('Pending');
  });

  it('marks an export whose server streams wrong-xid replies NotNfs', async () => {
    await createExport('hostile-xid', '127.0.0.2');
    const c = await reachability('hostile-xid', 'NotNfs');
    expect(c.status).to.equal('False');
    expect(c.message).to.match(/^127\.0\.0\.2:\d+ answered call \d+ with a reply to call \d+$/);
  });

  it('stays up under repeated floods and binds a fresh claim to an honest export', async () => {
    const heapBefore = await metric(operator as OperatorProcess, 'nodejs_heap_size_used_bytes');
    const accepted = (servers as NonNullable<typeof servers>).zeros.accepted;
    // Five more probes of the flooding server: 320 MiB offered, against a 384 MiB heap.
    await eventually('five more probes of the flooding server', () =>
      (servers?.zeros.accepted ?? 0) >= accepted + 5 ? true : undefined,
    );
    await createExport('honest', '127.0.0.3');
    const c = await reachability('honest', 'Reachable');
    expect(c.status).to.equal('True');
    await claim('on-honest', 'honest');
    await eventually('claim on-honest Bound', async () =>
      (await phaseOf('on-honest')) === 'Bound' ? true : undefined,
    );
    expect(operator?.running).to.be.true;
    expect(operator?.pid).to.equal(pid);
    expect(await operator?.metrics()).to.match(/pv_lifecycle_nfs_probe_total\{reason="Malformed"\} [1-9]/);
    expect(await phaseOf('on-zeros')).to.equal('Pending');
    const heapAfter = await metric(operator as OperatorProcess, 'nodejs_heap_size_used_bytes');
    const rss = await metric(operator as OperatorProcess, 'process_resident_memory_bytes');
    const offered = servers?.zeros.streamed ?? 0;
    console.log(
      `      flooding server: ${String(servers?.zeros.accepted)} probes, ${(offered / MiB).toFixed(1)} MiB written; ` +
        `operator heap ${(heapBefore / MiB).toFixed(1)} -> ${(heapAfter / MiB).toFixed(1)} MiB, rss ${(rss / MiB).toFixed(1)} MiB`,
    );
  });
});
