import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { type StoredExport, exportFinalizer } from '../../../src/nfs/export.ts';
import {
  type Ready,
  type StatusFacts,
  canonical,
  deleteExactly,
  exportWithFinalizer,
  exportWithStatus,
  exportWithoutFinalizer,
  hasFinalizer,
} from '../../../src/nfs/export-writes.ts';

const other = 'example.com/other';

const exp = (finalizers?: string[]): StoredExport => ({
  metadata: { name: 'data', uid: 'export-uid', generation: 4, resourceVersion: '9', finalizers },
  spec: {
    server: '10.0.0.5',
    path: '/exports/data',
    capacity: '1Gi',
    accessModes: ['ReadWriteMany', 'ReadOnlyMany'],
  },
});

describe('NfsExport writes', () => {
  describe('the finalizer', () => {
    it('is added after the others, on a copy', () => {
      const e = exp([other]);
      const body = exportWithFinalizer(e);
      expect(body?.metadata.finalizers).to.deep.equal([other, exportFinalizer]);
      expect(body?.metadata.resourceVersion).to.equal('9');
      expect(e.metadata.finalizers).to.deep.equal([other]);
      expect(exportWithFinalizer(exp())?.metadata.finalizers).to.deep.equal([exportFinalizer]);
    });

    it('is not added twice', () => {
      expect(exportWithFinalizer(exp([exportFinalizer]))).to.equal(undefined);
    });

    it('is removed alone, on a copy', () => {
      const e = exp([other, exportFinalizer]);
      expect(exportWithoutFinalizer(e)?.metadata.finalizers).to.deep.equal([other]);
      expect(e.metadata.finalizers).to.deep.equal([other, exportFinalizer]);
    });

    it('is not removed when absent', () => {
      expect(exportWithoutFinalizer(exp([other]))).to.equal(undefined);
      expect(exportWithoutFinalizer(exp())).to.equal(undefined);
    });

    it('is seen among others', () => {
      expect(hasFinalizer(exp([other, exportFinalizer]))).to.equal(true);
      expect(hasFinalizer(exp([other]))).to.equal(false);
      expect(hasFinalizer({ spec: exp().spec })).to.equal(false);
    });
  });

  describe('the status', () => {
    const ready: Ready = { type: 'Ready', status: 'True', reason: 'VolumeReady', message: 'fine' };
    const reachable: Ready = { type: 'ServerReachable', status: 'True', reason: 'Reachable', message: 'ok' };
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-02T00:00:00Z');
    const volume = (phase: string, bound = false): V1PersistentVolume => ({
      metadata: { name: 'nfsx-data' },
      spec: bound ? { claimRef: { namespace: 'ns', name: 'c', uid: 'u' } } : {},
      status: { phase },
    });
    const facts = (f: Partial<StatusFacts> = {}): StatusFacts => ({
      volume: volume('Bound', true),
      ready,
      reachable,
      scrubbing: false,
      now: t1,
      ...f,
    });

    it('shows the phase, volume, claim, short access modes and both conditions, at the generation', () => {
      const body = exportWithStatus(exp(), facts());
      expect(body).to.deep.include({ apiVersion: 'pvlifecycle.io/v1alpha1', kind: 'NfsExport' });
      expect(body?.status).to.deep.equal({
        phase: 'Bound',
        volumeName: 'nfsx-data',
        claim: 'ns/c',
        accessModes: 'RWX,ROX',
        observedGeneration: 4,
        conditions: [
          { ...ready, observedGeneration: 4, lastTransitionTime: t1.toISOString() },
          { ...reachable, observedGeneration: 4, lastTransitionTime: t1.toISOString() },
        ],
      });
    });

    it('shows the pool count, the space and SpaceSufficient once the space was read', () => {
      const space = { totalBytes: 100 * 2 ** 30, freeBytes: 40 * 2 ** 30, availBytes: 30 * 2 ** 30 };
      const body = exportWithStatus(
        exp(),
        facts({ provisioned: 3, space: { ...space, promisedBytes: 31 * 2 ** 30 } }),
      );
      expect(body?.status).to.deep.include({
        provisionedVolumes: 3,
        space: {
          totalBytes: 100 * 2 ** 30,
          usedBytes: 60 * 2 ** 30,
          availableBytes: 30 * 2 ** 30,
          promisedBytes: 31 * 2 ** 30,
        },
      });
      expect(body?.status?.conditions?.[2]).to.deep.include({
        type: 'SpaceSufficient',
        status: 'False',
        reason: 'Overcommitted',
        message:
          '30.0 GiB available of 100.0 GiB; its volumes were promised 31.0 GiB: they may run out of space (NFS does not reserve it)',
      });
      const enough = exportWithStatus(exp(), facts({ space: { ...space, promisedBytes: 30 * 2 ** 30 } }));
      expect(enough?.status?.conditions?.[2]).to.deep.include({ status: 'True', reason: 'Enough' });
      expect(enough?.status).not.to.have.property('provisionedVolumes');
    });

    it('writes nothing when the status says so already, whatever the time', () => {
      const e = exp();
      e.status = exportWithStatus(e, facts())?.status;
      expect(exportWithStatus(e, facts({ now: t2 }))).to.equal(undefined);
    });

    it('keeps a condition’s transition time unless its status changes', () => {
      const e = exp();
      e.status = exportWithStatus(e, facts())?.status;
      const message = exportWithStatus(e, facts({ ready: { ...ready, message: 'other' }, now: t2 }));
      expect(message?.status?.conditions?.[0]?.lastTransitionTime).to.equal(t1.toISOString());
      const flipped = exportWithStatus(e, facts({ ready: { ...ready, status: 'False' }, now: t2 }));
      expect(flipped?.status?.conditions?.[0]?.lastTransitionTime).to.equal(t2.toISOString());
    });

    it('is Pending without a volume, with no claim and no probe condition before a probe', () => {
      const status = exportWithStatus(
        exp(),
        facts({ volume: undefined, reachable: undefined, scrubbing: true }),
      )?.status;
      expect(status).to.deep.include({ phase: 'Pending', volumeName: undefined, claim: undefined });
      expect(status?.conditions?.map((c) => c.type)).to.deep.equal(['Ready']);
    });

    it('shows Recycling while a scrub Job runs for a released volume', () => {
      const e = exp();
      expect(
        exportWithStatus(e, facts({ volume: volume('Released', true), scrubbing: true }))?.status?.phase,
      ).to.equal('Recycling');
      expect(exportWithStatus(e, facts({ volume: volume('Released', true) }))?.status?.phase).to.equal(
        'Released',
      );
    });
  });

  it('deletes a volume exactly as seen: its uid and resourceVersion as preconditions', () => {
    expect(deleteExactly({ metadata: { name: 'v', uid: 'u', resourceVersion: '5' } })).to.deep.equal({
      preconditions: { uid: 'u', resourceVersion: '5' },
    });
  });

  it('compares as the API stores: key order and undefined values do not count, array order does', () => {
    expect(canonical({ a: 1, b: { d: [2, 1], c: undefined } })).to.equal(
      canonical({ b: { d: [2, 1] }, a: 1 }),
    );
    expect(canonical({ d: [1, 2] })).not.to.equal(canonical({ d: [2, 1] }));
  });
});
