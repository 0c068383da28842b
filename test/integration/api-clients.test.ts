// The operator's API clients against the real API server behind a proxy that
// can cut the network without closing anything: a request into the black
// hole fails at its time limit instead of hanging, abandonAll() ends the ones
// in flight at once, and a thawed network serves requests as before.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import {
  ApiClients,
  credentialsRefreshMs,
  isAbandoned,
  RequestAbandoned,
} from '../../src/runtime/api-clients.ts';
import { apiMessage, apiStatus, isConflict, isNotFound } from '../../src/kube/api-errors.ts';
import { coreWrites, corePath } from '../../src/kube/core-writes.ts';
import { tokenKubeconfig } from '../support/operator-identity.ts';
import { eventually } from '../support/wait.ts';
import { apiServerOf, FreezableProxy } from '../support/tcp-proxy.ts';

describe('API clients (time limits and abandonment)', function () {
  this.timeout(60_000);
  let proxy: FreezableProxy;
  let kubeConfig: KubeConfig;

  before(async () => {
    proxy = await FreezableProxy.start(apiServerOf(testCluster().kubeConfig()));
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(
      proxy.kubeconfigVia(
        testCluster().kubeconfig,
        join(repoRoot, '.cluster', 'test-logs', `api-clients-${String(process.pid)}.kubeconfig`),
      ),
    );
  });

  afterEach(() => {
    proxy.thaw();
  });

  after(async () => {
    await proxy.close();
  });

  /** How a request ends: its value or error, and after how long. */
  async function timed<T>(request: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
    const start = Date.now();
    try {
      const value = await request;
      return { ms: Date.now() - start, value };
    } catch (error) {
      return { ms: Date.now() - start, error };
    }
  }

  it('answers through the proxy, naming the operator as user agent (the field manager of its writes)', async () => {
    const core = new ApiClients(kubeConfig, {
      timeoutMs: 5_000,
      userAgent: 'pv-lifecycle-operator/0.0.0-test',
    }).make(CoreV1Api);
    const created = await core.createNamespacedConfigMap({
      namespace: 'default',
      dryRun: 'All',
      body: { metadata: { name: 'user-agent-check' }, data: { a: 'b' } },
    });
    expect(created.metadata?.managedFields?.map((f) => f.manager)).to.deep.equal(['pv-lifecycle-operator']);
  });

  it('keeps its connections: many requests, one after another and a few at once, share a handful of sockets', async () => {
    const sockets = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    // Straight to the API server: through the proxy each connection would be two more sockets here.
    const clients = new ApiClients(testCluster().kubeConfig(), { timeoutMs: 10_000 });
    const core = clients.make(CoreV1Api);
    const before = sockets();
    for (let i = 0; i < 30; i++) await core.readNamespace({ name: 'default' });
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let i = 0; i < 10; i++) await core.readNamespace({ name: 'default' });
      }),
    );
    // A new connection per request left some 60 sockets open for the keep-alive time.
    expect(sockets() - before).to.be.at.most(4);
  });

  it('reads the kubeconfig credentials afresh within seconds: a revoked token is refused, a restored one works', async () => {
    // The operator's ServiceAccount token; the ApiClients keep this KubeConfig and read it again.
    const original = readFileSync(operatorKubeconfig(), 'utf8');
    const kc = new KubeConfig();
    kc.loadFromString(original);
    const core = new ApiClients(kc, { timeoutMs: 10_000 }).make(CoreV1Api);
    const list = async () => {
      try {
        await core.listPersistentVolume({ limit: 1 });
        return 'ok';
      } catch (e) {
        if (apiStatus(e) === 401) return 'unauthorized';
        throw e;
      }
    };
    expect(await list()).to.equal('ok');
    kc.loadFromString(tokenKubeconfig(testCluster().kubeconfig, 'not-a-valid-token'));
    const deadline = credentialsRefreshMs + 5_000;
    await eventually(
      'the changed token to be used',
      async () => ((await list()) === 'unauthorized' ? true : undefined),
      deadline,
    );
    kc.loadFromString(original);
    await eventually(
      'the restored token to be used',
      async () => ((await list()) === 'ok' ? true : undefined),
      deadline,
    );
  });

  it('sends plain JSON: the answer as the API server wrote it, and failures as the generated clients throw them', async () => {
    const clients = new ApiClients(kubeConfig, { timeoutMs: 5_000 });
    const core = clients.make(CoreV1Api);
    const name = `json-${String(process.pid)}`;
    const created = await core.createPersistentVolume({
      body: {
        metadata: { name, labels: { test: 'json' } },
        spec: {
          capacity: { storage: '1Gi' },
          accessModes: ['ReadWriteOnce'],
          hostPath: { path: '/tmp/json' },
          storageClassName: 'json',
        },
      },
    });
    try {
      const writes = coreWrites(clients);
      const body = {
        ...created,
        metadata: { ...created.metadata, labels: { test: 'json', changed: 'yes' } },
      };
      const written = await writes.replacePersistentVolume({ name, body });
      expect(written.metadata?.labels).to.deep.equal({ test: 'json', changed: 'yes' });
      // Timestamps as the server wrote them (strings), not decoded into Dates.
      expect(written.metadata?.creationTimestamp).to.be.a('string');
      const status = await writes.replacePersistentVolumeStatus({
        name,
        body: { ...written, status: { phase: 'Available' } },
      });
      expect(status.status?.phase).to.equal('Available');
      // A stale resourceVersion: a conflict, told apart as the generated client's is.
      const stale = await writes.replacePersistentVolume({ name, body }).catch((e: unknown) => e);
      expect(isConflict(stale), String(stale)).to.equal(true);
      expect(apiMessage(stale)).to.contain('the object has been modified');
      const missing = await clients
        .sendJson('GET', corePath('persistentvolumes', `${name}-missing`))
        .catch((e: unknown) => e);
      expect(isNotFound(missing)).to.equal(true);
      // Names are escaped into the path, never read as more of it.
      const odd = await clients
        .sendJson('GET', corePath('persistentvolumes', '../namespaces'))
        .catch((e: unknown) => e);
      expect(isNotFound(odd), String(odd)).to.equal(true);
      // The time limit and abandonment hold as for the generated clients.
      proxy.freeze();
      const limited = new ApiClients(kubeConfig, { timeoutMs: 1_000 });
      const cut = await timed(limited.sendJson('GET', corePath('persistentvolumes', name)));
      expect(cut.ms, 'held past its limit (a handshake undici waits out)').to.be.below(5_000);
      expect(cut.error).to.be.instanceOf(RequestAbandoned);
      expect(isAbandoned(cut.error)).to.equal(false);
      // Abandoned while in flight: at once, not at its 30 s limit.
      const slow = new ApiClients(kubeConfig, { timeoutMs: 30_000 });
      const inFlight = timed(slow.sendJson('GET', corePath('persistentvolumes', name)));
      setTimeout(() => {
        slow.abandonAll('the test is done waiting');
      }, 300);
      const ended = await inFlight;
      expect(isAbandoned(ended.error), String(ended.error)).to.equal(true);
      expect(ended.ms).to.be.below(10_000);
      limited.abandonAll('done');
      const later = await limited
        .sendJson('GET', corePath('persistentvolumes', name))
        .catch((e: unknown) => e);
      expect(isAbandoned(later)).to.equal(true);
      proxy.thaw();
    } finally {
      proxy.thaw();
      await core.deletePersistentVolume({ name });
    }
  });

  it('gives up a request the network swallows at its time limit, and works again once the network is back', async () => {
    const clients = new ApiClients(kubeConfig, { timeoutMs: 1_000 });
    const core = clients.make(CoreV1Api);
    await core.readNamespace({ name: 'default' }); // it answers; then the cut, of the connection it keeps too
    proxy.freeze();
    const cut = await timed(core.readNamespace({ name: 'default' }));
    expect(cut.error, 'the request succeeded through a frozen network').to.be.instanceOf(RequestAbandoned);
    expect(apiMessage(cut.error)).to.equal('no answer from the API server within 1s');
    expect(isAbandoned(cut.error), 'a timeout is not an abandonment').to.equal(false);
    expect(cut.ms).to.be.at.least(900);
    proxy.thaw();
    const again = await timed(core.readNamespace({ name: 'default' }));
    expect(again.error).to.equal(undefined);
    expect(again.value?.metadata?.name).to.equal('default');
  });

  it('abandonAll ends the requests in flight at once, and fails later ones without sending them', async () => {
    const clients = new ApiClients(kubeConfig, { timeoutMs: 30_000 });
    const core = clients.make(CoreV1Api);
    proxy.freeze();
    const inFlight = timed(core.listNamespace());
    setTimeout(() => {
      clients.abandonAll('the test is done waiting');
    }, 300);
    const ended = await inFlight;
    expect(ended.error).to.be.instanceOf(RequestAbandoned);
    expect(apiMessage(ended.error)).to.equal('request abandoned: the test is done waiting');
    expect(isAbandoned(ended.error)).to.equal(true);
    expect(ended.ms, 'it waited for its own 30 s limit instead').to.be.below(10_000);
    expect(clients.abandoned).to.equal(true);
    proxy.thaw();
    const later = await timed(core.readNamespace({ name: 'default' }));
    expect(later.error).to.be.instanceOf(RequestAbandoned);
    // Clients made elsewhere are not touched.
    const other = new ApiClients(kubeConfig, { timeoutMs: 5_000 }).make(CoreV1Api);
    expect((await other.readNamespace({ name: 'default' })).metadata?.name).to.equal('default');
  });

  it('keeps nothing of a plain JSON request once it is answered (a retained signal leaked each one)', async function () {
    this.timeout(120_000);
    // gc() for this test only, and last in the file so that a forced collection touches no other
    // test's clients: measure what stays reachable, not what is merely not yet collected.
    setFlagsFromString('--expose_gc');
    const gc = runInNewContext('gc') as () => void;
    const clients = new ApiClients(testCluster().kubeConfig(), { timeoutMs: 30_000 });
    const burst = async (n: number) => {
      for (let i = 0; i < n; i += 20) {
        await Promise.all(
          Array.from({ length: 20 }, () => clients.sendJson('GET', '/api/v1/namespaces/default')),
        );
      }
    };
    await burst(200); // warm: connections, code, caches
    gc();
    const before = process.memoryUsage().heapUsed;
    await burst(3000);
    gc();
    const grown = (process.memoryUsage().heapUsed - before) / (1 << 20);
    // Each retained request held about 10 KiB: 3,000 of them are ~28 MiB.
    expect(grown, `heap grew ${grown.toFixed(1)} MiB over 3,000 requests`).to.be.below(8);
  });
});
