// Sizes beyond any volume, as a tenant or an administrator can write them:
// the apiserver accepts a claim requesting 1e10000000 bytes and a volume of
// that capacity (and respells both as 10e9999999). The operator reports each
// once, naming the field and the object's own text, never offers the volume,
// and goes on binding ordinary claims. The NfsExport API refuses such
// capacities itself.
import { join } from 'node:path';

import {
  CoreV1Api,
  EventsV1Api,
  type EventsV1Event,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { kubectl } from '../support/kubectl.ts';
import { type ClaimSpec, type VolumeSpec, pv, pvc } from '../support/objects.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually, sleep } from '../support/wait.ts';

const hostile = '1e10000000';

describe('hostile quantities (operator process)', function () {
  // The apiserver itself takes seconds to parse each hostile object it is sent.
  this.timeout(120_000);
  let core: CoreV1Api;
  let eventsApi: EventsV1Api;
  let operator: OperatorProcess;
  const ns = 'hostile-quantity';
  const cls = 'class-hostile-quantity';

  before(async () => {
    const kc = testCluster().kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    eventsApi = kc.makeApiClient(EventsV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: ['--workers', '4', '--resync-period', '1s'],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-hostile-quantity.log'),
    });
  });

  after(async () => {
    const status = await operator.stop();
    expect(status.code, `operator exit after SIGTERM:\n${operator.tail()}`).to.equal(0);
  });

  const volume = (name: string, s: VolumeSpec = {}): Promise<V1PersistentVolume> => {
    const v = pv(`${ns}-${name}`, { storageClass: cls, ...s });
    delete v.status;
    return core.createPersistentVolume({ body: v });
  };
  const claim = (name: string, s: ClaimSpec = {}): Promise<V1PersistentVolumeClaim> => {
    const c = pvc(name, { storageClass: cls, namespace: ns, ...s });
    delete c.metadata?.uid;
    return core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });
  };
  const eventsAbout = async (name: string, namespace: string): Promise<EventsV1Event[]> =>
    (await eventsApi.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.name === name);
  const eventAbout = (name: string, reason: string, namespace: string) =>
    eventually(
      `${reason} event about ${name}`,
      async () => (await eventsAbout(name, namespace)).find((e) => e.reason === reason),
      60_000,
    );
  const boundVolume = (claimName: string, timeoutMs: number) =>
    eventually(
      `${claimName} Bound`,
      async () => {
        const c = await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns });
        return c.status?.phase === 'Bound' ? c.spec?.volumeName : undefined;
      },
      timeoutMs,
    );

  it('reports a claim and a volume beyond int64 bytes once, naming the field, and binds others meanwhile', async () => {
    const hugeClaim = await claim('huge', { size: hostile });
    const hugeVolume = await volume('huge', { size: hostile });
    // Stored respelled; the events quote the object's own text.
    const claimText = hugeClaim.spec?.resources?.requests?.storage ?? '';
    const volumeText = hugeVolume.spec?.capacity?.storage ?? '';
    expect(claimText).to.match(/^1+0*e\d+$/);
    expect(volumeText).to.match(/^1+0*e\d+$/);

    const claimEvent = await eventAbout('huge', 'FailedBinding', ns);
    expect(claimEvent.type).to.equal('Warning');
    expect(claimEvent.note).to.equal(
      `spec.resources.requests.storage "${claimText}" is more than any volume can hold (the limit is 2^63-1 bytes, just under 8Ei)`,
    );
    const volumeEvent = await eventAbout(hugeVolume.metadata?.name ?? '', 'InvalidCapacity', 'default');
    expect(volumeEvent.type).to.equal('Warning');
    expect(volumeEvent.note).to.equal(
      `spec.capacity.storage "${volumeText}" is beyond 2^63-1 bytes, just under 8Ei; the volume is not offered to any claim`,
    );

    // An ordinary claim binds an ordinary volume within seconds, while both exist.
    const started = Date.now();
    await volume('ordinary', { size: '1Gi' });
    await claim('ordinary', { size: '1Gi' });
    expect(await boundVolume('ordinary', 15_000)).to.equal(`${ns}-ordinary`);
    console.log(`      ordinary claim bound ${String(Date.now() - started)} ms after its volume was created`);

    // A claim no ordinary volume fits is told why, the huge volume named among the candidates
    // (ProvisioningFailed: the test's class exists only on its volumes).
    await claim('big', { size: '2Ei' });
    const explained = await eventAbout('big', 'ProvisioningFailed', ns);
    expect(explained.note).to.contain(
      `${ns}-huge: capacity "${volumeText}" is beyond 2^63-1 bytes, just under 8Ei`,
    );

    // Several resyncs later: still unbound, and nothing said again.
    await sleep(5_000);
    const c = await core.readNamespacedPersistentVolumeClaim({ name: 'huge', namespace: ns });
    expect(c.status?.phase).to.equal('Pending');
    const v = await core.readPersistentVolume({ name: `${ns}-huge` });
    expect(v.spec?.claimRef).to.equal(undefined);
    expect((await eventsAbout('huge', ns)).filter((e) => e.reason === 'FailedBinding')).to.have.length(1);
    const warnings = operator.entries.filter(
      (e) => e.message === 'volume not offered: unusable capacity' && e.volume === `${ns}-huge`,
    );
    expect(warnings, 'InvalidCapacity said once over several resyncs').to.have.length(1);
    // Measured, not asserted: the operator's event loop while both exist.
    const lag = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await operator.metrics())?.[1];
    console.log(`      operator event-loop lag, max since start: ${lag ?? 'not reported'} s`);
  });
});

describe('NfsExport capacity limits (CRD)', function () {
  this.timeout(60_000);
  const k = (args: string[], input?: string) =>
    kubectl(testCluster().kubectl, testCluster().kubeconfig, args, input);
  const dryRun = (capacity: string | number) =>
    k(
      ['create', '--dry-run=server', '-f', '-'],
      JSON.stringify({
        apiVersion: 'pvlifecycle.io/v1alpha1',
        kind: 'NfsExport',
        metadata: { name: 'capacity-limit' },
        spec: { server: 'nfs.example.com', path: '/exports/data', capacity, accessModes: ['ReadWriteOnce'] },
      }),
    );
  const limit =
    /spec\.capacity: Invalid value: .*at most 9223372036854775807 bytes \(2\^63-1, just under 8Ei\)/;

  const refused: [string, string | number, RegExp][] = [
    ['one byte over', '9223372036854775808', limit],
    ['half a byte over', '9223372036854775807.5', limit],
    ['8Ei (2^63 bytes)', '8Ei', limit],
    ['1024Ei (the apiserver caps binary values at 2^63-1)', '1024Ei', limit],
    [
      'an exact binary spelling of the limit (indistinguishable from a capped one)',
      '9007199254740991.9990234375Ki',
      limit,
    ],
    ['1e19', '1e19', limit],
    ['1e10000000', '1e10000000', limit],
    // Refused by the exponent check before the apiserver's quantity() would run out of time.
    ['1e100000000', '1e100000000', limit],
    ['1e-100000000', '1e-100000000', limit],
    ['65 characters', `${'0'.repeat(62)}1Gi`, /spec\.capacity: Too long: may not be more than 64 bytes/],
  ];
  for (const [name, capacity, message] of refused) {
    it(`refuses ${name}`, async () => {
      let error = '';
      try {
        await dryRun(capacity);
      } catch (err) {
        error = (err as Error).message;
      }
      expect(error).to.match(message);
    });
  }

  for (const capacity of ['9223372036854775807', '7.99Ei', '5e18', '1Gi']) {
    it(`accepts ${capacity}`, async () => {
      expect(await dryRun(capacity)).to.contain('created (server dry run)');
    });
  }
  it('accepts the limit as a JSON integer', async () => {
    // JSON.stringify cannot write 2^63-1 exactly; write the integer by hand.
    const body = `{"apiVersion":"pvlifecycle.io/v1alpha1","kind":"NfsExport","metadata":{"name":"capacity-int"},"spec":{"server":"nfs.example.com","path":"/exports/data","capacity":9223372036854775807,"accessModes":["ReadWriteOnce"]}}`;
    expect(await k(['create', '--dry-run=server', '-f', '-'], body)).to.contain('created (server dry run)');
  });
});
