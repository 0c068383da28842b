import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { expect } from 'chai';

import type { PlannedEvent } from '../../../src/kube/planned-event.ts';

import type { Verdict } from '../../../src/nfs/conflict.ts';
import { type StoredExport, desiredVolume, exportFinalizer } from '../../../src/nfs/export.ts';
import type { Ready } from '../../../src/nfs/export-writes.ts';
import {
  type ExportFacts,
  type ExportPlan,
  claimToCheck,
  deletionRecheckMs,
  placementOf,
  planExport,
} from '../../../src/nfs/plan.ts';

const other = 'example.com/other';

function exp(edit: (e: StoredExport) => void = () => undefined): StoredExport {
  const e: StoredExport = {
    metadata: { name: 'data', uid: 'export-uid', generation: 2, finalizers: [other, exportFinalizer] },
    spec: { server: '10.0.0.5', path: '/exports/data', capacity: '1Gi', accessModes: ['ReadWriteMany'] },
  };
  edit(e);
  return e;
}

const deleting = (e: StoredExport) => {
  e.metadata.deletionTimestamp = new Date('2026-01-01T00:00:00Z');
};

/** The export's volume as stored; bound to ns/c (uid claim-uid), or pre-bound to it without uid. */
function vol(e: StoredExport, claim?: 'bound' | 'prebound'): V1PersistentVolume {
  const v = structuredClone(desiredVolume(e));
  v.metadata = { ...v.metadata, uid: 'pv-uid', resourceVersion: '7' };
  if (claim) {
    v.spec = {
      ...v.spec,
      claimRef: { namespace: 'ns', name: 'c', ...(claim === 'bound' ? { uid: 'claim-uid' } : {}) },
    };
  }
  v.status = { phase: claim ? 'Bound' : 'Available' };
  return v;
}

const claim = (uid = 'claim-uid', volumeName?: string): V1PersistentVolumeClaim => ({
  metadata: { namespace: 'ns', name: 'c', uid },
  spec: volumeName ? { volumeName } : {},
});

const ok: Verdict = { kind: 'ok' };
const conflict = (volume: 'none' | 'keep' | 'withdraw'): Verdict => ({
  kind: 'conflict',
  with: 'older',
  volume,
  message: `overlaps export older (${volume})`,
});

const plan = (f: Partial<ExportFacts> & { export: StoredExport }): ExportPlan =>
  planExport({ volume: undefined, verdict: ok, claim: undefined, ...f });

function as<A extends ExportPlan['action']>(p: ExportPlan, action: A): Extract<ExportPlan, { action: A }> {
  expect(p.action).to.equal(action);
  return p as Extract<ExportPlan, { action: A }>;
}

const notReady = (reason: string, message: string): Ready => ({
  type: 'Ready',
  status: 'False',
  reason,
  message,
});

const normal = (reason: string, note: string): PlannedEvent => ({ type: 'Normal', reason, note });

/** A bound volume of the export as it was: 2Gi, ReadWriteOnce (the mode may not change while bound). */
const grownAndNarrowed = () =>
  vol(
    exp((x) => {
      x.spec.capacity = '2Gi';
      x.spec.accessModes = ['ReadWriteOnce'];
    }),
    'bound',
  );

const conflictWarning = { type: 'Warning', reason: 'ExportConflict', note: 'overlaps export older (none)' };

describe('planExport', () => {
  describe('a volume of the name that is not the export’s', () => {
    const foreign = (): V1PersistentVolume => ({
      metadata: { name: 'nfsx-data', uid: 'x' },
      spec: { claimRef: { namespace: 'ns', name: 'c', uid: 'claim-uid' } },
    });

    it('is reported and never adopted', () => {
      const e = exp();
      const p = as(plan({ export: e, volume: foreign() }), 'nameTaken');
      expect(p.ready).to.deep.equal(
        notReady(
          'VolumeNameTaken',
          'a PersistentVolume named nfsx-data exists and does not belong to this export',
        ),
      );
    });

    it('is reported also while the export is being deleted, and never deleted', () => {
      const e = exp(deleting);
      expect(plan({ export: e, volume: foreign(), claim: undefined }).action).to.equal('nameTaken');
    });

    it('counts as foreign when another export owns it', () => {
      const e = exp();
      const v = vol(exp((x) => (x.metadata.name = 'else')));
      v.metadata = { ...v.metadata, name: 'nfsx-data' };
      expect(plan({ export: e, volume: v }).action).to.equal('nameTaken');
    });
  });

  describe('deletion', () => {
    it('does nothing once the finalizer is gone', () => {
      const e = exp((x) => {
        deleting(x);
        x.metadata.finalizers = [other];
      });
      expect(plan({ export: e, volume: vol(e) })).to.deep.equal({ action: 'none' });
    });

    it('removes only its finalizer when there is no volume', () => {
      const e = exp(deleting);
      const p = as(plan({ export: e }), 'removeFinalizer');
      expect(p.release.metadata.finalizers).to.deep.equal([other]);
      expect(p.release.spec).to.deep.equal(e.spec);
    });

    it('waits while the claim of the claimRef holds the volume, and looks again', () => {
      const e = exp(deleting);
      const p = as(plan({ export: e, volume: vol(e, 'bound'), claim: claim() }), 'deletionBlocked');
      expect(p.requeueAfterMs).to.equal(deletionRecheckMs).and.equal(30_000);
      expect(p.ready).to.deep.equal(
        notReady('DeletionBlocked', 'deletion waits until claim ns/c no longer uses volume nfsx-data'),
      );
    });

    it('waits for any claim of the name while the claimRef has no uid (a pre-binding)', () => {
      const e = exp(deleting);
      expect(plan({ export: e, volume: vol(e, 'prebound'), claim: claim('any') }).action).to.equal(
        'deletionBlocked',
      );
    });

    const deletes: [string, (e: StoredExport) => V1PersistentVolume, V1PersistentVolumeClaim | undefined][] =
      [
        ['the claim is gone', (e) => vol(e, 'bound'), undefined],
        ['a claim of that name is another (new uid)', (e) => vol(e, 'bound'), claim('new-uid')],
        ['the claim is bound to another volume', (e) => vol(e, 'bound'), claim('claim-uid', 'elsewhere')],
        ['the volume has no claimRef', (e) => vol(e), claim()],
      ];
    for (const [why, volume, c] of deletes) {
      it(`deletes the volume by uid, then the finalizer, when ${why}`, () => {
        const e = exp(deleting);
        const p = as(plan({ export: e, volume: volume(e), claim: c }), 'deleteVolume');
        expect(p).to.deep.include({
          volumeName: 'nfsx-data',
          uid: 'pv-uid',
          what: 'delete PersistentVolume nfsx-data',
        });
        expect(p.release.metadata.finalizers).to.deep.equal([other]);
      });
    }
  });

  it('adds the finalizer first, keeping the others', () => {
    const e = exp((x) => (x.metadata.finalizers = [other]));
    const p = as(plan({ export: e, volume: vol(e) }), 'addFinalizer');
    expect(p.body.metadata.finalizers).to.deep.equal([other, exportFinalizer]);
    expect(e.metadata.finalizers).to.deep.equal([other]);
  });

  describe('without conflict', () => {
    const ready = {
      type: 'Ready',
      status: 'True',
      reason: 'VolumeReady',
      message: 'PersistentVolume nfsx-data matches the spec',
    };

    it('creates the volume as declared when there is none', () => {
      const e = exp();
      const p = as(plan({ export: e }), 'createVolume');
      expect(p.body).to.deep.equal(desiredVolume(e));
      expect(p).to.deep.include({ ready, what: 'create PersistentVolume nfsx-data', events: [] });
      expect(p.done).to.deep.equal(normal('VolumeCreated', 'created PersistentVolume nfsx-data'));
    });

    it('only writes the status when the volume matches', () => {
      const e = exp();
      expect(plan({ export: e, volume: vol(e) })).to.deep.equal({ action: 'status', ready, events: [] });
    });

    it('makes a free volume anew when its NFS source changed', () => {
      const e = exp();
      const v = vol(exp((x) => (x.spec.path = '/exports/old')));
      const p = as(plan({ export: e, volume: v }), 'recreateVolume');
      expect(p.volume).to.equal(v);
      expect(p).to.deep.include({ what: 'replace PersistentVolume nfsx-data', events: [] });
      expect(p.done).to.deep.equal(
        normal('VolumeReplaced', 'the NFS source changed: PersistentVolume nfsx-data is made anew'),
      );
    });

    it('brings a drifted volume in line, naming what changes', () => {
      const e = exp();
      const v = vol(exp((x) => (x.spec.capacity = '2Gi')));
      const p = as(plan({ export: e, volume: v }), 'updateVolume');
      expect(p.body.spec?.capacity).to.deep.equal({ storage: '1Gi' });
      expect(p).to.deep.include({ ready, drift: ['capacity'], what: 'update PersistentVolume nfsx-data' });
      expect(p.done).to.deep.equal(normal('VolumeUpdated', 'PersistentVolume nfsx-data updated: capacity'));
    });

    const refused = notReady(
      'UnsafeChangeRefused',
      'accessModes cannot change while claim ns/c holds the volume; the change applies once the volume is free',
    );

    it('takes the safe changes of a bound volume and says which wait for it to be free', () => {
      const e = exp();
      const v = grownAndNarrowed();
      const p = as(plan({ export: e, volume: v }), 'updateVolume');
      expect(p.drift).to.deep.equal(['capacity']);
      expect(p.body.spec?.accessModes).to.deep.equal(['ReadWriteOnce']);
      expect(p.ready).to.deep.equal(refused);
    });

    it('only reports a change that must wait when nothing else differs', () => {
      const e = exp();
      const v = vol(
        exp((x) => (x.spec.accessModes = ['ReadWriteOnce'])),
        'bound',
      );
      expect(plan({ export: e, volume: v })).to.deep.equal({ action: 'status', ready: refused, events: [] });
    });
  });

  describe('in conflict', () => {
    const ready = (volume: 'none' | 'keep' | 'withdraw'): Ready =>
      notReady('ExportConflict', `overlaps export older (${volume})`);

    it('makes no volume, and warns', () => {
      const e = exp();
      expect(plan({ export: e, verdict: conflict('none') })).to.deep.equal({
        action: 'status',
        ready: ready('none'),
        events: [conflictWarning],
      });
    });

    it('warns once: not while Ready already says the same', () => {
      const e = exp((x) => {
        x.status = { conditions: [{ ...ready('none'), lastTransitionTime: '2026-01-01T00:00:00Z' }] };
      });
      expect(as(plan({ export: e, verdict: conflict('none') }), 'status').events).to.deep.equal([]);
    });

    it('warns again when the message changes', () => {
      const e = exp((x) => {
        x.status = { conditions: [{ ...ready('keep'), lastTransitionTime: '2026-01-01T00:00:00Z' }] };
      });
      expect(as(plan({ export: e, verdict: conflict('none') }), 'status').events).to.deep.equal([
        conflictWarning,
      ]);
    });

    it('withdraws an unbound volume, saying the data stays', () => {
      const e = exp();
      const v = vol(e);
      const p = as(plan({ export: e, volume: v, verdict: conflict('withdraw') }), 'withdraw');
      expect(p.volume).to.equal(v);
      expect(p).to.deep.include({ ready: ready('withdraw'), what: 'delete PersistentVolume nfsx-data' });
      expect(p.events.map((x) => x.reason)).to.deep.equal(['ExportConflict']);
      expect(p.done).to.deep.equal(
        normal(
          'VolumeWithdrawn',
          'unbound PersistentVolume nfsx-data deleted: the export conflicts with older (the data on the server is untouched)',
        ),
      );
    });

    it('has nothing to withdraw without a volume', () => {
      const e = exp();
      expect(plan({ export: e, verdict: conflict('withdraw') }).action).to.equal('status');
    });

    it('keeps a bound volume in line, Ready saying the conflict (not a refused change)', () => {
      const e = exp();
      const v = grownAndNarrowed();
      const p = as(plan({ export: e, volume: v, verdict: conflict('keep') }), 'updateVolume');
      expect(p.ready).to.deep.equal(ready('keep'));
      expect(p.drift).to.deep.equal(['capacity']);
      const same = vol(
        exp((x) => (x.spec.accessModes = ['ReadWriteOnce'])),
        'bound',
      );
      expect(plan({ export: e, volume: same, verdict: conflict('keep') })).to.deep.include({
        action: 'status',
        ready: ready('keep'),
      });
    });
  });
});

describe('claimToCheck', () => {
  it('names the claim of the export’s own volume while the export is being deleted', () => {
    const e = exp(deleting);
    expect(claimToCheck(e, vol(e, 'bound'))).to.deep.equal({ namespace: 'ns', name: 'c' });
    expect(claimToCheck(e, vol(e, 'prebound'))).to.deep.equal({ namespace: 'ns', name: 'c' });
  });

  it('names none otherwise: no deletion, no finalizer, no volume or claimRef, a foreign volume', () => {
    const e = exp(deleting);
    expect(claimToCheck(exp(), vol(exp(), 'bound'))).to.equal(undefined);
    const released = exp((x) => {
      deleting(x);
      x.metadata.finalizers = [];
    });
    expect(claimToCheck(released, vol(released, 'bound'))).to.equal(undefined);
    expect(claimToCheck(e, undefined)).to.equal(undefined);
    expect(claimToCheck(e, vol(e))).to.equal(undefined);
    const foreign = vol(
      exp((x) => (x.metadata.name = 'else')),
      'bound',
    );
    expect(claimToCheck(e, foreign)).to.equal(undefined);
  });

  it('names none for a claimRef without a name or namespace', () => {
    const e = exp(deleting);
    for (const ref of [{ namespace: 'ns' }, { name: 'c' }, { namespace: '', name: 'c' }]) {
      const v = vol(e);
      v.spec = { ...v.spec, claimRef: ref };
      expect(claimToCheck(e, v)).to.equal(undefined);
    }
  });
});

describe('placementOf', () => {
  it('takes the creation time as a Date or as text, and the volume’s claim', () => {
    const at = '2026-01-01T00:00:00Z';
    const e = exp((x) => (x.metadata.creationTimestamp = new Date(at)));
    expect(placementOf(e, vol(e, 'bound'))).to.deep.equal({
      name: 'data',
      createdMs: Date.parse(at),
      server: '10.0.0.5',
      path: '/exports/data',
      volume: { name: 'nfsx-data', claim: 'ns/c' },
    });
    const text = exp((x) => (x.metadata.creationTimestamp = at as unknown as Date));
    expect(placementOf(text, vol(text)).createdMs).to.equal(Date.parse(at));
    expect(placementOf(text, vol(text)).volume).to.deep.equal({ name: 'nfsx-data', claim: undefined });
  });

  it('has no volume without one, and a missing creation time is NaN (the newest)', () => {
    const p = placementOf(exp(), undefined);
    expect(p.volume).to.equal(undefined);
    expect(Number.isNaN(p.createdMs)).to.equal(true);
  });
});
