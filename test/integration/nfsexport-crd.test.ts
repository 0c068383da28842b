// The NfsExport API as installed with `kubectl apply -k config/crd`: the real API
// server rejects bad input with a message naming the field, accepts the
// valid samples, and kubectl shows the columns and the field descriptions.
import { join } from 'node:path';

import { expect } from 'chai';

import { repoRoot, testCluster } from './cluster-hooks.ts';
import { kubectl } from '../support/kubectl.ts';

interface Spec {
  [key: string]: unknown;
}

const valid: Spec = {
  server: 'nfs.example.com',
  path: '/exports/data',
  capacity: '1Gi',
  accessModes: ['ReadWriteOnce'],
};

describe('NfsExport API (CRD)', function () {
  this.timeout(60_000);
  const k = (args: string[], input?: string) =>
    kubectl(testCluster().kubectl, testCluster().kubeconfig, args, input);
  let n = 0;
  const apply = (spec: Spec, name = `crd-test-${String(++n)}`) =>
    k(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'pvlifecycle.io/v1alpha1', kind: 'NfsExport', metadata: { name }, spec }),
    );

  before(async () => {
    await k(['apply', '-k', join(repoRoot, 'config', 'crd')]);
    await k(['wait', '--for=condition=Established', 'crd/nfsexports.pvlifecycle.io', '--timeout=30s']);
  });

  const invalid: [string, Spec, RegExp][] = [
    ['no server', { ...valid, server: undefined }, /spec\.server: Required value/],
    [
      'empty server',
      { ...valid, server: '' },
      /spec\.server: Invalid value: "": spec\.server in body should be at least 1 chars long/,
    ],
    [
      'server with a space',
      { ...valid, server: 'nfs server' },
      /spec\.server: Invalid value: "nfs server": must be a DNS host name/,
    ],
    ['server with a scheme', { ...valid, server: 'nfs://host' }, /spec\.server: .*must be a DNS host name/],
    [
      'server label too long',
      { ...valid, server: `${'a'.repeat(64)}.example.com` },
      /spec\.server: .*must be a DNS host name/,
    ],
    ['server with a port', { ...valid, server: 'host:2049' }, /spec\.server: .*must be a DNS host name/],
    ['no path', { ...valid, path: undefined }, /spec\.path: Required value/],
    [
      'relative path',
      { ...valid, path: 'exports/data' },
      /spec\.path: Invalid value: "exports\/data": must be an absolute path/,
    ],
    [
      'path with ..',
      { ...valid, path: '/exports/../etc' },
      /spec\.path: Invalid value: "\/exports\/\.\.\/etc": must not contain a '\.\.' segment/,
    ],
    [
      'path ending in ..',
      { ...valid, path: '/exports/..' },
      /spec\.path: .*must not contain a '\.\.' segment/,
    ],
    [
      'path with a comma',
      { ...valid, path: '/a,b' },
      /spec\.path: .*must not contain a comma or a control character/,
    ],
    ['no capacity', { ...valid, capacity: undefined }, /spec\.capacity: Required value/],
    ['zero capacity', { ...valid, capacity: '0' }, /spec\.capacity: .*must be a positive quantity/],
    ['negative capacity', { ...valid, capacity: '-1Gi' }, /spec\.capacity: .*must be a positive quantity/],
    [
      'capacity not a quantity',
      { ...valid, capacity: 'ten gigs' },
      /spec\.capacity: .*must be a positive quantity/,
    ],
    ['no access modes', { ...valid, accessModes: undefined }, /spec\.accessModes: Required value/],
    [
      'empty access modes',
      { ...valid, accessModes: [] },
      /spec\.accessModes: .*should have at least 1 items/,
    ],
    [
      'duplicate access modes',
      { ...valid, accessModes: ['ReadWriteOnce', 'ReadWriteOnce'] },
      /spec\.accessModes\[1\]: Duplicate value: "ReadWriteOnce"/,
    ],
    [
      'short access mode',
      { ...valid, accessModes: ['RWO'] },
      /spec\.accessModes\[0\]: Unsupported value: "RWO"/,
    ],
    [
      'unknown reclaim policy',
      { ...valid, persistentVolumeReclaimPolicy: 'Scrub' },
      /spec\.persistentVolumeReclaimPolicy: Unsupported value: "Scrub": supported values: "Retain", "Recycle", "Delete"/,
    ],
    [
      'storage class with capitals',
      { ...valid, storageClassName: 'Fast' },
      /spec\.storageClassName: .*must be a lower-case DNS subdomain/,
    ],
    [
      'mount option with a comma',
      { ...valid, mountOptions: ['nfsvers=4.1,hard'] },
      /spec\.mountOptions\[0\]: .*one option per item, without commas, spaces or control characters/,
    ],
    [
      'empty mount option',
      { ...valid, mountOptions: [''] },
      /spec\.mountOptions\[0\]: .*at least 1 chars long/,
    ],
    [
      'readOnly not a boolean',
      { ...valid, readOnly: 'yes' },
      /spec\.readOnly: Invalid value: "string": spec\.readOnly in body must be of type boolean/,
    ],
  ];
  for (const [name, spec, message] of invalid) {
    it(`rejects ${name}, naming the field`, async () => {
      let error = '';
      try {
        await apply(spec);
      } catch (err) {
        error = (err as Error).message;
      }
      expect(error, 'the API server accepted it').to.match(/is invalid/);
      expect(error).to.match(message);
    });
  }

  it('accepts a valid export and fills in the defaults', async () => {
    await apply({ ...valid, server: '10.0.0.5', mountOptions: ['nfsvers=4.1', 'hard'] }, 'crd-valid');
    const got = JSON.parse(await k(['get', 'nfsexport', 'crd-valid', '-o', 'json'])) as { spec: Spec };
    expect(got.spec).to.deep.include({ persistentVolumeReclaimPolicy: 'Retain', readOnly: false });
    await apply({ ...valid, server: 'fd00::5' }, 'crd-valid-v6');
  });

  it('refuses to change server or path while the volume is bound', async () => {
    await apply(valid, 'crd-bound');
    // What the controller reports once a claim is bound.
    const bound = JSON.stringify({ status: { phase: 'Bound', claim: 'ns/c' } });
    await k(['patch', 'nfsexport', 'crd-bound', '--subresource=status', '--type=merge', '-p', bound]);
    let error = '';
    try {
      await apply({ ...valid, path: '/exports/other' }, 'crd-bound');
    } catch (err) {
      error = (err as Error).message;
    }
    expect(error).to.match(
      /spec: Invalid value: .*spec\.server and spec\.path cannot change while the volume is bound/,
    );
    // Safe changes still go through.
    await apply({ ...valid, capacity: '2Gi' }, 'crd-bound');
  });

  it('lists exports with kubectl get: server, path, capacity, modes, reclaim, phase, claim, provisioned, age', async () => {
    await apply(valid, 'crd-columns');
    const table = await k(['get', 'nfsexports', 'crd-columns']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s{2,}/)).to.deep.equal([
      'NAME',
      'SERVER',
      'PATH',
      'CAPACITY',
      'ACCESS MODES',
      'RECLAIM',
      'PHASE',
      'CLAIM',
      'PROVISIONED',
      'AGE',
    ]);
    expect(row).to.match(/^crd-columns\s+nfs\.example\.com\s+\/exports\/data\s+1Gi\s+Retain\s+\d+s$/);
    const wide = await k(['get', 'nfsx', 'crd-columns', '-o', 'wide']);
    expect(wide.split('\n')[0]).to.match(/VOLUME\s+REACHABLE$/);
  });

  it('documents every field for kubectl explain', async () => {
    const spec = await k(['explain', 'nfsexport.spec']);
    for (const field of [
      'server',
      'path',
      'readOnly',
      'capacity',
      'accessModes',
      'persistentVolumeReclaimPolicy',
      'storageClassName',
      'mountOptions',
    ]) {
      expect(spec).to.match(new RegExp(`\\n  ${field}\\s`), field);
    }
    expect(spec.replace(/\s+/g, ' ')).to.contain('Deleting an NfsExport never deletes data on the server');
    const status = await k(['explain', 'nfsexport.status.conditions']);
    expect(status).to.contain('ServerReachable');
  });

  after(async () => {
    await k(['delete', 'nfsexports', '--all', '--wait=false']).catch(() => undefined);
  });
});
