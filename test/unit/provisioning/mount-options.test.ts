// The NFS version and ports the provisioner takes from mountOptions, and
// when a failed NFSv4 connect means "use v3": pure functions.
import type { V1StorageClass } from '@kubernetes/client-node';
import { expect } from 'chai';

import { NfsRpcError, v4NotOffered } from '../../../src/nfs/dir/errors.ts';
import { Nfs3Error } from '../../../src/nfs/v3/errors.ts';
import { Nfs4Error } from '../../../src/nfs/v4/errors.ts';
import { parseMountOptions } from '../../../src/provisioning/mount-options.ts';
import { parseParameters, provisionerName } from '../../../src/provisioning/parameters.ts';
import { recordedDirectory } from '../../../src/provisioning/plan.ts';

const mountOf = (options: string[] | undefined) => {
  const parsed = parseMountOptions(options);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.mount;
};
const problemOf = (options: string[]) => {
  const parsed = parseMountOptions(options);
  if (parsed.ok) throw new Error('expected a refusal');
  return parsed.problem;
};

describe('NFS mount options for the provisioner', () => {
  it('is auto without a version, and reads nfsvers, vers, port and mountport, the last one winning', () => {
    expect(mountOf(undefined)).to.deep.equal({ version: 'auto' });
    expect(mountOf(['hard', 'timeo=600'])).to.deep.equal({ version: 'auto' });
    expect(mountOf(['nfsvers=4.1'])).to.deep.equal({ version: 4 });
    for (const v of ['4', '4.0', '4.2']) expect(mountOf([`vers=${v}`]).version).to.equal(4);
    expect(mountOf(['nfsvers=3', 'port=2050', 'mountport=20048'])).to.deep.equal({
      version: 3,
      port: 2050,
      mountPort: 20048,
    });
    // One item may hold several, as the kubelet joins them with commas.
    expect(mountOf(['hard,nfsvers=4,vers=3 , port=1', 'port=0'])).to.deep.equal({ version: 3 });
    expect(mountOf(['mountport=5', 'mountport=0'])).to.deep.equal({ version: 'auto' });
  });

  it('refuses bad values, naming the option', () => {
    expect(problemOf(['nfsvers=5'])).to.equal('"nfsvers=5": "5" is not one of 3, 4, 4.0, 4.1, 4.2');
    expect(problemOf(['vers=2'])).to.match(/^"vers=2": "2" is not one of/);
    expect(problemOf(['nfsvers'])).to.equal('"nfsvers" needs a value');
    expect(problemOf(['port=65536'])).to.equal('"port=65536": "65536" is not a port from 0 to 65535');
    expect(problemOf(['mountport=-1'])).to.match(/^"mountport=-1"/);
    expect(problemOf(['port=1e3'])).to.match(/not a port/);
    expect(problemOf([`nfsvers=${'9'.repeat(10_000)}`]).length).to.be.below(200);
    expect(problemOf([Array.from({ length: 300 }, () => 'hard').join(',')])).to.match(
      /more than 256 options/,
    );
  });

  it('refuses a class whose mountOptions are bad with mountOptions in the problem', () => {
    const sc: V1StorageClass = {
      metadata: { name: 'nfs' },
      provisioner: provisionerName,
      parameters: { server: 'nfs.example.com', path: '/exports' },
      mountOptions: ['hard', 'mountport=http'],
    };
    const parsed = parseParameters(sc);
    expect(parsed).to.deep.equal({
      ok: false,
      problem: 'mountOptions: "mountport=http": "http" is not a port from 0 to 65535',
    });
    const fine = parseParameters({ ...sc, mountOptions: ['nfsvers=3', 'mountport=20048'] });
    expect(fine.ok && fine.config.mount).to.deep.equal({ version: 3, mountPort: 20048 });
  });

  it('falls back to v3 only when the server says v4 is not there for the export', () => {
    const mismatch = (low: number, high: number) =>
      new NfsRpcError('x', { reply: { xid: 1, status: 'accepted', acceptStat: 'PROG_MISMATCH', low, high } });
    expect(v4NotOffered(mismatch(2, 3))).to.equal(true);
    expect(v4NotOffered(mismatch(3, 3))).to.equal(true);
    expect(v4NotOffered(mismatch(3, 4))).to.equal(false);
    expect(v4NotOffered(new Nfs4Error(2, 'LOOKUP', 'of export /srv'))).to.equal(true);
    for (const other of [
      new NfsRpcError('refused'),
      new NfsRpcError('x', { reply: { xid: 1, status: 'accepted', acceptStat: 'PROG_UNAVAIL' } }),
      new NfsRpcError('x', {
        reply: { xid: 1, status: 'denied', rejectStat: 'AUTH_ERROR', authStat: 'AUTH_TOOWEAK' },
      }),
      new Nfs4Error(13, 'LOOKUP', 'of export /srv'),
      new Nfs4Error(2, 'PUTROOTFH', 'of export /srv'),
      new Nfs3Error(2, 'LOOKUP', 'x'),
      new Error('other'),
    ]) {
      expect(v4NotOffered(other), other.message).to.equal(false);
    }
  });

  it('reads the version and ports back from a volume: v4 when it has none, its handle bounded by the version', () => {
    const pv = (annotations: Record<string, string>, mountOptions?: string[]) => ({
      metadata: {
        annotations: {
          'pvlifecycle.io/nfs-directory': 'd',
          'pvlifecycle.io/nfs-handle': Buffer.alloc(100, 1).toString('base64'),
          ...annotations,
        },
      },
      spec: { nfs: { server: 's', path: '/e/d' }, ...(mountOptions ? { mountOptions } : {}) },
    });
    expect(recordedDirectory(pv({}))).to.deep.include({ version: 4 });
    expect(recordedDirectory(pv({ 'pvlifecycle.io/nfs-version': '3' }))).to.deep.equal({
      problem: 'annotation pvlifecycle.io/nfs-handle is missing or not a file handle (NFSv3: 1 to 64 bytes)',
    });
    const small = { 'pvlifecycle.io/nfs-handle': Buffer.from('h').toString('base64') };
    expect(
      recordedDirectory(
        pv({ ...small, 'pvlifecycle.io/nfs-version': '3' }, ['nfsvers=3', 'port=2050', 'mountport=20048']),
      ),
    ).to.deep.include({ version: 3, port: 2050, mountPort: 20048 });
    expect(recordedDirectory(pv({ 'pvlifecycle.io/nfs-version': '4.1' }))).to.deep.equal({
      problem: 'annotation pvlifecycle.io/nfs-version="4.1" is not 3 or 4',
    });
    expect(recordedDirectory(pv(small, ['port=x']))).to.deep.equal({
      problem: 'spec.mountOptions: "port=x": "x" is not a port from 0 to 65535',
    });
  });
});
