import type { V1StorageClass } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  classReclaimPolicy,
  parseParameters,
  provisionerName,
} from '../../../src/provisioning/parameters.ts';

const sc = (parameters: Record<string, string>, extra: Partial<V1StorageClass> = {}): V1StorageClass => ({
  metadata: { name: 'nfs' },
  provisioner: provisionerName,
  parameters,
  ...extra,
});

function problemOf(parameters: Record<string, string>): string {
  const parsed = parseParameters(sc(parameters));
  if (parsed.ok) throw new Error('expected a refusal');
  return parsed.problem;
}

describe('provisioning StorageClass parameters', () => {
  it('takes a pool export, with defaults for the rest', () => {
    const parsed = parseParameters(sc({ nfsExport: 'pool-a' }));
    expect(parsed.ok).to.equal(true);
    if (!parsed.ok) return;
    expect(parsed.config).to.deep.include({
      source: { nfsExport: 'pool-a' },
      onDelete: 'delete',
      mode: 0o777,
      uid: undefined,
      gid: undefined,
      existing: 'refuse',
    });
  });

  it('takes a server and path, mode, owner and choices', () => {
    const parsed = parseParameters(
      sc({
        server: 'nfs.example.com',
        path: '/exports/k8s',
        mode: '0750',
        uid: '1000',
        gid: '2000',
        onDelete: 'archive',
        existingDirectory: 'adopt',
        pathPattern: '${pvc.metadata.namespace}/${pvc.metadata.name}',
      }),
    );
    expect(parsed.ok).to.equal(true);
    if (!parsed.ok) return;
    expect(parsed.config).to.deep.include({
      source: { server: 'nfs.example.com', path: '/exports/k8s' },
      mode: 0o750,
      uid: 1000,
      gid: 2000,
      onDelete: 'archive',
      existing: 'adopt',
    });
    expect(parseParameters(sc({ server: '[fd00::1]', path: '/e' }))).to.deep.nested.include({
      'config.source.server': 'fd00::1',
    });
  });

  const refused: [Record<string, string>, RegExp][] = [
    [{ nfsExport: 'p', archiveOnDelete: 'true' }, /parameter "archiveOnDelete": unknown/],
    [{}, /parameter server: missing/],
    [{ server: 'a.example.com' }, /parameter path: missing/],
    [{ nfsExport: 'p', server: 'a.example.com' }, /parameter nfsExport: give either/],
    [{ nfsExport: 'Not_A_Name' }, /parameter nfsExport: "Not_A_Name" is not the name/],
    [{ server: 'bad host', path: '/e' }, /parameter server/],
    [{ server: 'a.example.com', path: 'relative' }, /parameter path: "relative" must be absolute/],
    [{ server: 'a.example.com', path: '/' }, /parameter path: "\/" may not be the root/],
    [{ server: 'a.example.com', path: '/e/../f' }, /parameter path: .* normal form/],
    [{ server: 'a.example.com', path: '/e/' }, /parameter path: .* normal form/],
    [
      { nfsExport: 'p', onDelete: 'shred' },
      /parameter onDelete: "shred" is not one of delete, retain, archive/,
    ],
    [{ nfsExport: 'p', existingDirectory: 'yes' }, /parameter existingDirectory/],
    [{ nfsExport: 'p', mode: '0999' }, /parameter mode/],
    [{ nfsExport: 'p', mode: 'rwx' }, /parameter mode/],
    [{ nfsExport: 'p', uid: '-1' }, /parameter uid/],
    [{ nfsExport: 'p', gid: '99999999999' }, /parameter gid/],
    [{ nfsExport: 'p', pathPattern: '${nope}' }, /parameter pathPattern: "\$\{nope\}" uses unknown variable/],
    [{ nfsExport: 'p', pathPattern: '../${pv.metadata.name}' }, /parameter pathPattern/],
  ];
  for (const [parameters, why] of refused) {
    it(`refuses ${JSON.stringify(parameters)}, naming the parameter`, () => {
      expect(problemOf(parameters)).to.match(why);
    });
  }

  it('reads the reclaim policy as the API defaults it', () => {
    expect(classReclaimPolicy(sc({}))).to.equal('Delete');
    expect(classReclaimPolicy(sc({}, { reclaimPolicy: 'Retain' }))).to.equal('Retain');
  });
});
