import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import {
  type NfsExport,
  desiredVolume,
  exportLabel,
  exportOfVolume,
  exportPhase,
  planVolumeChange,
  setCondition,
  shortAccessModes,
  volumeNameFor,
} from '../../../src/nfs/export.ts';

const exp = (spec: Partial<NfsExport['spec']> = {}, labels?: Record<string, string>): NfsExport => ({
  metadata: { name: 'data', uid: 'export-uid', labels, generation: 3 },
  spec: {
    server: '10.0.0.5',
    path: '/exports/data',
    capacity: '1Gi',
    accessModes: ['ReadWriteMany'],
    ...spec,
  },
});

/** The volume as the API server returns it: readOnly false left out, capacity respelled. */
function stored(e: NfsExport, edit: (v: V1PersistentVolume) => void = () => undefined): V1PersistentVolume {
  const v = structuredClone(desiredVolume(e));
  if (v.spec?.nfs) delete v.spec.nfs.readOnly;
  v.metadata = { ...v.metadata, uid: 'pv-uid', resourceVersion: '7' };
  edit(v);
  return v;
}

const bound = (v: V1PersistentVolume) => {
  v.spec = { ...v.spec, claimRef: { namespace: 'ns', name: 'c', uid: 'claim-uid' } };
};

describe('NfsExport volumes', () => {
  it('declares the volume from the spec, with the export labels, owner and provisioner', () => {
    const v = desiredVolume(
      exp({ mountOptions: ['hard'], persistentVolumeReclaimPolicy: 'Recycle' }, { tier: 'gold' }),
    );
    expect(v.metadata?.name).to.equal('nfsx-data');
    expect(v.metadata?.labels).to.deep.equal({ tier: 'gold', 'pvlifecycle.io/nfs-export': 'data' });
    expect(v.metadata?.annotations).to.deep.equal({
      'pv.kubernetes.io/provisioned-by': 'pvlifecycle.io/nfs-export',
    });
    expect(v.metadata?.ownerReferences?.[0]).to.include({
      kind: 'NfsExport',
      uid: 'export-uid',
      controller: true,
    });
    expect(v.spec).to.deep.include({
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteMany'],
      nfs: { server: '10.0.0.5', path: '/exports/data', readOnly: false },
      persistentVolumeReclaimPolicy: 'Recycle',
      storageClassName: '',
      mountOptions: ['hard'],
      volumeMode: 'Filesystem',
    });
    expect(v.spec?.claimRef).to.equal(undefined);
  });

  it('keeps volume names within 253 characters', () => {
    expect(volumeNameFor('a'.repeat(253))).to.have.length.at.most(253);
    expect(volumeNameFor('a'.repeat(253))).not.to.equal(volumeNameFor(`${'a'.repeat(252)}b`));
  });

  // A label value: at most 63 characters of [-A-Za-z0-9_.], alphanumeric at both ends.
  const labelValuePattern = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
  const named = (name: string): NfsExport => ({ ...exp(), metadata: { ...exp().metadata, name } });

  for (const length of [1, 62, 63, 64, 100, 253]) {
    it(`labels the volume validly for a ${String(length)}-character name, and finds the export by its owner`, () => {
      // A DNS subdomain whose 46th character, where a shortened label value is cut, is a dot.
      const name = `${'a'.repeat(45)}.${'b'.repeat(300)}`.slice(0, length);
      const v = desiredVolume(named(name));
      const label = v.metadata?.labels?.[exportLabel] ?? '';
      expect(label).to.match(labelValuePattern);
      if (length <= 63) expect(label).to.equal(name);
      // Cut after 46 characters, the dot there trimmed, then the hash.
      else expect(label).to.match(new RegExp(`^${'a'.repeat(45)}-[0-9a-f]{16}$`));
      expect(exportOfVolume(v)).to.equal(name);
    });
  }

  it('gives long names that share their head different label values', () => {
    const head = 'x'.repeat(70);
    const a = desiredVolume(named(`${head}.a`)).metadata?.labels?.[exportLabel];
    const b = desiredVolume(named(`${head}.b`)).metadata?.labels?.[exportLabel];
    expect(a).not.to.equal(b);
  });

  it('finds the export of a volume only by a controller ownerReference of kind NfsExport', () => {
    const ref = { apiVersion: 'pvlifecycle.io/v1alpha1', kind: 'NfsExport', name: 'data', uid: 'u' };
    const pv = (refs: object[]): V1PersistentVolume => ({
      metadata: { labels: { [exportLabel]: 'data' }, ownerReferences: refs as never },
    });
    expect(exportOfVolume(pv([{ ...ref, controller: true }]))).to.equal('data');
    expect(exportOfVolume(pv([ref])), 'not the controller').to.equal(undefined);
    expect(exportOfVolume(pv([{ ...ref, controller: true, kind: 'ConfigMap' }]))).to.equal(undefined);
    expect(exportOfVolume(pv([{ ...ref, controller: true, apiVersion: 'other.io/v1' }]))).to.equal(undefined);
    expect(exportOfVolume(pv([])), 'a label alone is not enough').to.equal(undefined);
    expect(exportOfVolume(undefined)).to.equal(undefined);
  });

  const rows: [string, NfsExport, V1PersistentVolume, string][] = [
    ['nothing to do as stored by the API server', exp(), stored(exp()), 'none'],
    ['capacity respelled is the same', exp({ capacity: '1024Mi' }), stored(exp()), 'none'],
    [
      'a hand-edited capacity is put back',
      exp(),
      stored(exp(), (v) => (v.spec = { ...v.spec, capacity: { storage: '9Gi' } })),
      'update capacity',
    ],
    [
      'a capacity beyond an int64 of bytes is put back',
      exp(),
      stored(exp(), (v) => (v.spec = { ...v.spec, capacity: { storage: '1e10000000' } })),
      'update capacity',
    ],
    [
      'a capacity that is no quantity is put back, not thrown on',
      exp(),
      stored(exp(), (v) => (v.spec = { ...v.spec, capacity: { storage: 'lots' } })),
      'update capacity',
    ],
    [
      'mount options follow while bound',
      exp({ mountOptions: ['soft'] }),
      stored(exp(), bound),
      'update mountOptions',
    ],
    [
      'reclaim policy follows while bound',
      exp({ persistentVolumeReclaimPolicy: 'Delete' }),
      stored(exp(), bound),
      'update persistentVolumeReclaimPolicy',
    ],
    ['labels follow', exp({}, { zone: 'a' }), stored(exp()), 'update labels'],
    ['a new path recreates a free volume', exp({ path: '/exports/other' }), stored(exp()), 'recreate'],
    [
      'a new path waits while bound',
      exp({ path: '/exports/other' }),
      stored(exp(), bound),
      'refused server/path/readOnly',
    ],
    [
      'access modes change a free volume',
      exp({ accessModes: ['ReadWriteOnce'] }),
      stored(exp()),
      'update accessModes',
    ],
    [
      'access modes wait while bound',
      exp({ accessModes: ['ReadWriteOnce'] }),
      stored(exp(), bound),
      'refused accessModes',
    ],
    [
      'class waits while bound, capacity still follows',
      exp({ storageClassName: 'x', capacity: '2Gi' }),
      stored(exp(), bound),
      'update capacity refused storageClassName',
    ],
  ];
  for (const [name, e, v, expected] of rows) {
    it(`${name}: ${expected}`, () => {
      const c = planVolumeChange(e, v);
      const parts: string[] = [];
      if (c.recreate) parts.push('recreate');
      if (c.update)
        parts.push(`update ${c.drifted.filter((f) => !c.refused.includes(f) && f !== 'nfs').join(',')}`);
      if (c.refused.length) parts.push(`refused ${c.refused.join(',')}`);
      expect(parts.join(' ') || 'none').to.equal(expected);
      if (c.update) expect(c.update.spec?.claimRef).to.deep.equal(v.spec?.claimRef);
    });
  }

  it('reports the volume phase, Recycling while a scrub runs, Pending without a volume', () => {
    const v = (phase: string): V1PersistentVolume => ({ status: { phase } });
    expect(exportPhase(undefined, false)).to.equal('Pending');
    expect(exportPhase(v('Pending'), false)).to.equal('Pending');
    expect(exportPhase(v('Bound'), false)).to.equal('Bound');
    expect(exportPhase(v('Released'), true)).to.equal('Recycling');
    expect(exportPhase(v('Released'), false)).to.equal('Released');
  });

  it('keeps a condition transition time unless its status changes', () => {
    const t1 = new Date('2026-01-01T00:00:00Z');
    const t2 = new Date('2026-01-02T00:00:00Z');
    const a = setCondition([], { type: 'Ready', status: 'True', reason: 'VolumeReady', message: 'ok' }, t1);
    const b = setCondition(
      a,
      { type: 'Ready', status: 'True', reason: 'VolumeReady', message: 'still ok' },
      t2,
    );
    expect(b[0]?.lastTransitionTime).to.equal(t1.toISOString());
    const c = setCondition(b, { type: 'Ready', status: 'False', reason: 'X', message: 'no' }, t2);
    expect(c[0]?.lastTransitionTime).to.equal(t2.toISOString());
    expect(c).to.have.length(1);
  });

  it('writes access modes as kubectl does', () => {
    expect(shortAccessModes(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'])).to.equal(
      'RWO,ROX,RWX,RWOP',
    );
  });
});
