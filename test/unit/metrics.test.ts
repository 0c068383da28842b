import { createServer } from 'node:net';

import { expect } from 'chai';

import { type HttpServer, parseBindAddress, startHttpServer } from '../../src/runtime/http-server.ts';
import { Metrics, type VolumeCounts } from '../../src/runtime/metrics.ts';

/** The value of one sample line of the exposition text, e.g. `workqueue_depth{name="claims"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('counts reconciles by result, errors and their duration per controller', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const observer = metrics.reconcileObserver('claims');
    observer.observe('success', 0.02);
    observer.observe('error', 0.5);
    observer.observe('requeue_after', 0.01);
    const text = await metrics.scrape();
    expect(sample(text, 'controller_runtime_reconcile_total{controller="claims",result="success"}')).to.equal(
      1,
    );
    expect(sample(text, 'controller_runtime_reconcile_total{controller="claims",result="error"}')).to.equal(
      1,
    );
    expect(sample(text, 'controller_runtime_reconcile_total{controller="claims",result="requeue"}')).to.equal(
      0,
    );
    expect(sample(text, 'controller_runtime_reconcile_errors_total{controller="claims"}')).to.equal(1);
    expect(sample(text, 'controller_runtime_reconcile_time_seconds_count{controller="claims"}')).to.equal(3);
    expect(sample(text, 'controller_runtime_reconcile_time_seconds_sum{controller="claims"}')).to.be.closeTo(
      0.53,
      1e-9,
    );
  });

  it('records queue events in seconds and reads depth and in-flight work from a bound queue', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const observer = metrics.workQueueObserver('volumes');
    observer.onAdd();
    observer.onAdd();
    observer.onRetry();
    observer.onQueueDuration(250);
    observer.onWorkDuration(1500);
    const queue = { depth: 3, inFlightDurationsMs: () => [1000, 4000] };
    const unbind = metrics.bindQueue('volumes', queue);

    let text = await metrics.scrape();
    expect(sample(text, 'workqueue_adds_total{name="volumes"}')).to.equal(2);
    expect(sample(text, 'workqueue_retries_total{name="volumes"}')).to.equal(1);
    expect(sample(text, 'workqueue_queue_duration_seconds_sum{name="volumes"}')).to.equal(0.25);
    expect(sample(text, 'workqueue_work_duration_seconds_sum{name="volumes"}')).to.equal(1.5);
    expect(sample(text, 'workqueue_depth{name="volumes"}')).to.equal(3);
    expect(sample(text, 'workqueue_unfinished_work_seconds{name="volumes"}')).to.equal(5);
    expect(sample(text, 'workqueue_longest_running_processor_seconds{name="volumes"}')).to.equal(4);

    queue.depth = 0;
    queue.inFlightDurationsMs = () => [];
    text = await metrics.scrape();
    expect(sample(text, 'workqueue_depth{name="volumes"}')).to.equal(0);
    expect(sample(text, 'workqueue_longest_running_processor_seconds{name="volumes"}')).to.equal(0);

    unbind();
    text = await metrics.scrape();
    expect(sample(text, 'workqueue_depth{name="volumes"}')).to.be.undefined;
  });

  it('asks the volume count source once per scrape and drops series that are gone', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let calls = 0;
    let counts: VolumeCounts = {
      boundVolumes: [{ storageClass: 'fast', count: 4 }],
      unboundVolumes: [{ storageClass: '', count: 1 }],
      boundClaims: [{ namespace: 'team-a', storageClass: 'fast', count: 4 }],
      unboundClaims: [{ namespace: 'team-b', storageClass: 'slow', count: 2 }],
    };
    metrics.onCollectVolumeCounts(() => {
      calls++;
      return counts;
    });
    let text = await metrics.scrape();
    expect(calls).to.equal(1);
    expect(sample(text, 'pv_collector_bound_pv_count{storage_class="fast"}')).to.equal(4);
    expect(sample(text, 'pv_collector_unbound_pv_count{storage_class=""}')).to.equal(1);
    expect(sample(text, 'pv_collector_bound_pvc_count{namespace="team-a",storage_class="fast"}')).to.equal(4);
    expect(sample(text, 'pv_collector_unbound_pvc_count{namespace="team-b",storage_class="slow"}')).to.equal(
      2,
    );

    // Unlabelled, so prom-client reports 0 when the source leaves it out.
    expect(sample(text, 'pv_lifecycle_pending_claims_with_fitting_volume')).to.equal(0);

    counts = { ...counts, boundVolumes: [{ storageClass: 'slow', count: 1 }], pendingClaimsWithFit: 3 };
    await new Promise((resolve) => setImmediate(resolve));
    text = await metrics.scrape();
    expect(calls).to.equal(2);
    expect(sample(text, 'pv_collector_bound_pv_count{storage_class="fast"}')).to.be.undefined;
    expect(sample(text, 'pv_collector_bound_pv_count{storage_class="slow"}')).to.equal(1);
    expect(sample(text, 'pv_lifecycle_pending_claims_with_fitting_volume')).to.equal(3);
  });

  it("counts the event recorder's outcomes, dropped ones included, and the provisioner's operations", async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const events = metrics.eventObserver();
    events.onEvent('emitted');
    events.onEvent('dropped_queue');
    events.onEvent('dropped_queue');
    events.onWriteError('create');
    metrics.provisioningOperation('provision', true, 0.004);
    metrics.provisioningOperation('delete', false, 1);
    const text = await metrics.scrape();
    expect(sample(text, 'pv_lifecycle_events_total{outcome="dropped_queue"}')).to.equal(2);
    expect(sample(text, 'pv_lifecycle_events_total{outcome="emitted"}')).to.equal(1);
    expect(sample(text, 'pv_lifecycle_event_write_errors_total{operation="create"}')).to.equal(1);
    expect(
      sample(text, 'pv_lifecycle_provisioning_operations_total{operation="provision",result="succeeded"}'),
    ).to.equal(1);
    expect(
      sample(text, 'pv_lifecycle_provisioning_operations_total{operation="delete",result="failed"}'),
    ).to.equal(1);
    expect(
      sample(
        text,
        'volume_operation_total_errors{plugin_name="pvlifecycle.io/nfs",operation_name="volume_delete"}',
      ),
    ).to.equal(1);
  });

  it('counts retroactive StorageClass assignments and their failures', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.retroactiveStorageClass(true);
    metrics.retroactiveStorageClass(false);
    const text = await metrics.scrape();
    expect(sample(text, 'retroactive_storageclass_total')).to.equal(2);
    expect(sample(text, 'retroactive_storageclass_errors_total')).to.equal(1);
  });

  it('keeps separate registries per instance', async () => {
    new Metrics().reconcileObserver('a').observe('success', 1);
    const text = await new Metrics().scrape();
    expect(text).to.contain('process_cpu_seconds_total');
    expect(text).not.to.contain('controller="a"');
  });
});

describe('http server', () => {
  let server: HttpServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const url = (path: string) => `http://127.0.0.1:${server?.address.port ?? 0}${path}`;

  it('serves metrics in the Prometheus text format', async () => {
    const metrics = new Metrics();
    metrics.reconcileObserver('claims').observe('success', 0.1);
    metrics.bindQueue('claims', { depth: 7, inFlightDurationsMs: () => [] });
    metrics.onCollectVolumeCounts(() => ({
      boundVolumes: [{ storageClass: 'fast', count: 2 }],
      unboundVolumes: [],
      boundClaims: [],
      unboundClaims: [],
    }));
    server = await startHttpServer({ bindAddress: '127.0.0.1:0', metrics, readyChecks: () => true });
    expect(server.address.host).to.equal('127.0.0.1');
    expect(server.address.port).to.be.greaterThan(0);

    const res = await fetch(url('/metrics'));
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).to.contain('process_cpu_seconds_total');
    expect(text).to.match(/^nodejs_/m);
    expect(sample(text, 'controller_runtime_reconcile_total{controller="claims",result="success"}')).to.equal(
      1,
    );
    expect(sample(text, 'workqueue_depth{name="claims"}')).to.equal(7);
    expect(sample(text, 'pv_collector_bound_pv_count{storage_class="fast"}')).to.equal(2);
  });

  it('answers /readyz with 503 and the failing checks until they pass, and /healthz with 200', async () => {
    let synced = false;
    server = await startHttpServer({
      bindAddress: '127.0.0.1:0',
      metrics: new Metrics({ defaultMetrics: false }),
      readyChecks: { 'informers-synced': () => synced, 'leader-election': () => Promise.resolve(true) },
    });
    let res = await fetch(url('/readyz'));
    expect(res.status).to.equal(503);
    expect(await res.text()).to.equal('not ready: informers-synced\n');

    synced = true;
    res = await fetch(url('/readyz'));
    expect(res.status).to.equal(200);
    expect(await res.text()).to.equal('ok');

    res = await fetch(url('/healthz'));
    expect(res.status).to.equal(200);
    expect(await res.text()).to.equal('ok');
  });

  it('fails /healthz when a health check fails or throws, naming it', async () => {
    server = await startHttpServer({
      bindAddress: '127.0.0.1:0',
      metrics: new Metrics({ defaultMetrics: false }),
      readyChecks: () => true,
      healthChecks: {
        watchdog: () => {
          throw new Error('no reconcile for 10m');
        },
      },
    });
    const res = await fetch(url('/healthz'));
    expect(res.status).to.equal(503);
    expect(await res.text()).to.equal('unhealthy: watchdog: no reconcile for 10m\n');
  });

  it('answers 404 for other paths and 405 for other methods', async () => {
    server = await startHttpServer({
      bindAddress: '127.0.0.1:0',
      metrics: new Metrics({ defaultMetrics: false }),
      readyChecks: () => true,
    });
    expect((await fetch(url('/'))).status).to.equal(404);
    expect((await fetch(url('/metricsx'))).status).to.equal(404);
    const res = await fetch(url('/metrics'), { method: 'POST' });
    expect(res.status).to.equal(405);
    expect(res.headers.get('allow')).to.equal('GET, HEAD');
    // Query strings do not change the route.
    expect((await fetch(url('/healthz?verbose'))).status).to.equal(200);
  });

  it('frees the port on close, even with a keep-alive connection open', async () => {
    const first = await startHttpServer({
      bindAddress: '127.0.0.1:0',
      metrics: new Metrics({ defaultMetrics: false }),
      readyChecks: () => true,
    });
    const port = first.address.port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).to.equal(200);
    await first.close();
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => {
        probe.close(() => {
          resolve();
        });
      });
    });
    server = await startHttpServer({
      bindAddress: `127.0.0.1:${port}`,
      metrics: new Metrics({ defaultMetrics: false }),
      readyChecks: () => true,
    });
    expect(server.address.port).to.equal(port);
  });

  it('rejects a taken port', async () => {
    server = await startHttpServer({
      bindAddress: '127.0.0.1:0',
      metrics: new Metrics({ defaultMetrics: false }),
      readyChecks: () => true,
    });
    let error: unknown;
    try {
      await startHttpServer({
        bindAddress: `127.0.0.1:${server.address.port}`,
        metrics: new Metrics({ defaultMetrics: false }),
        readyChecks: () => true,
      });
    } catch (err) {
      error = err;
    }
    expect((error as { code?: string } | undefined)?.code).to.equal('EADDRINUSE');
  });

  it('parses host:port, [ipv6]:port and :port, and rejects anything else', () => {
    expect(parseBindAddress('127.0.0.1:8080')).to.deep.equal({ host: '127.0.0.1', port: 8080 });
    expect(parseBindAddress('[::1]:0')).to.deep.equal({ host: '::1', port: 0 });
    expect(parseBindAddress(':9090')).to.deep.equal({ host: undefined, port: 9090 });
    expect(parseBindAddress('localhost:1')).to.deep.equal({ host: 'localhost', port: 1 });
    for (const bad of ['0', '8080', 'host:', 'host:65536', '::1:80', 'a:b']) {
      expect(() => parseBindAddress(bad), bad).to.throw('invalid bind address');
    }
  });
});
