import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { expect } from 'chai';

import { type ClaimPlan, pendingClaimsWithFit, planClaim } from '../../../src/binding/claim-sync.ts';
import { eventNote } from '../../../src/kube/planned-event.ts';
import { VolumeIndex } from '../../../src/binding/volume-index.ts';
import { pv, pvc } from '../../support/objects.ts';

function storageClass(
  name: string,
  opts: { provisioner?: string; wffc?: boolean; isDefault?: boolean; created?: string } = {},
): V1StorageClass {
  return {
    metadata: {
      name,
      creationTimestamp: new Date(opts.created ?? '2026-01-01T00:00:00Z'),
      annotations: opts.isDefault ? { 'storageclass.kubernetes.io/is-default-class': 'true' } : undefined,
    },
    provisioner: opts.provisioner ?? 'example.com/nfs',
    volumeBindingMode: opts.wffc ? 'WaitForFirstConsumer' : 'Immediate',
  };
}

function plan(
  claim: V1PersistentVolumeClaim,
  volumes: V1PersistentVolume[] = [],
  classes: V1StorageClass[] = [],
): ClaimPlan {
  const index = new VolumeIndex();
  for (const v of volumes) index.upsert(v);
  const byName = new Map(classes.map((c) => [c.metadata?.name ?? '', c]));
  return planClaim(claim, { volumes: index, classes: { get: (n) => byName.get(n), list: () => classes } });
}

const bound = (
  claim: V1PersistentVolumeClaim,
  volumeName: string,
  byController = true,
): V1PersistentVolumeClaim => ({
  ...claim,
  metadata: {
    ...claim.metadata,
    annotations: {
      'pv.kubernetes.io/bind-completed': 'yes',
      ...(byController ? { 'pv.kubernetes.io/bound-by-controller': 'yes' } : {}),
    },
  },
  spec: { ...claim.spec, volumeName },
});

function summary(p: ClaimPlan): string {
  switch (p.action) {
    case 'bind':
      return `bind ${p.volume.metadata?.name ?? ''}${p.chosen ? ' (chosen)' : ''}`;
    case 'pending':
      return `pending${p.provisioner ? ` provisioner=${p.provisioner}` : ''}${p.event ? ` ${p.event.type} ${p.event.reason}: ${eventNote(p.event)}` : ''}`;
    case 'assignDefaultClass':
      return `default class ${p.storageClass}`;
    case 'lost':
      return `lost ${p.event.reason}: ${p.event.note}`;
  }
}

const c = pvc('c');
const ref = (uid?: string) => ({ namespace: 'ns', name: 'c', uid });

describe('claim sync plan', () => {
  const rows: [string, ClaimPlan, string | RegExp][] = [
    // Unbound, no volumeName
    ['a free volume that fits is bound', plan(c, [pv('v')]), 'bind v (chosen)'],
    [
      'no volume and no class: FailedBinding naming the nearest candidates',
      plan(c, [
        pv('small', { size: '500Mi' }),
        pv('rox', { modes: ['ReadOnlyMany'] }),
        pv('fast', { storageClass: 'fast' }),
      ]),
      'pending Normal FailedBinding: no persistent volumes available for this claim and no storage class is set: small: too small (500Mi < 1Gi); rox: lacks ReadWriteOnce; fast: storage class "fast"',
    ],
    ['no volume at all', plan(c), /FailedBinding: .*no persistent volumes exist$/],
    [
      'nil class gets the default class retroactively',
      plan(pvc('c', { storageClass: null }), [], [storageClass('std', { isDefault: true })]),
      'default class std',
    ],
    [
      'the newest default class wins',
      plan(
        pvc('c', { storageClass: null }),
        [],
        [
          storageClass('old', { isDefault: true, created: '2025-01-01T00:00:00Z' }),
          storageClass('new', { isDefault: true, created: '2026-06-01T00:00:00Z' }),
        ],
      ),
      'default class new',
    ],
    [
      'equally old default classes: the lowest name wins',
      plan(
        pvc('c', { storageClass: null }),
        [],
        [storageClass('b', { isDefault: true }), storageClass('a', { isDefault: true })],
      ),
      'default class a',
    ],
    [
      'class "" is never defaulted',
      plan(pvc('c', { storageClass: '' }), [], [storageClass('std', { isDefault: true })]),
      /^pending Normal FailedBinding/,
    ],
    [
      'a nil-class claim takes a classless volume before any defaulting',
      plan(pvc('c', { storageClass: null }), [pv('v')], [storageClass('std', { isDefault: true })]),
      'bind v (chosen)',
    ],
    [
      'WaitForFirstConsumer without a selected node waits',
      plan(
        pvc('c', { storageClass: 'local' }),
        [pv('v', { storageClass: 'local' })],
        [storageClass('local', { wffc: true })],
      ),
      'pending Normal WaitForFirstConsumer: waiting for first consumer to be created before binding',
    ],
    [
      'WaitForFirstConsumer finishes a bind the scheduler started',
      plan(
        pvc('c', { storageClass: 'local' }),
        [pv('v', { storageClass: 'local', claimRef: ref('uid-c') })],
        [storageClass('local', { wffc: true })],
      ),
      'bind v',
    ],
    [
      'a class with a provisioner: wait for it',
      plan(pvc('c', { storageClass: 'nfs' }), [], [storageClass('nfs', { provisioner: 'example.com/nfs' })]),
      /^pending provisioner=example\.com\/nfs Normal ExternalProvisioning: Waiting for a volume to be created either by the external provisioner 'example\.com\/nfs'/,
    ],
    [
      'a class that does not exist',
      plan(pvc('c', { storageClass: 'manual' })),
      /^pending Warning ProvisioningFailed: storageclass\.storage\.k8s\.io "manual" not found/,
    ],
    [
      'a no-provisioner class with Immediate binding fails, and explains the miss',
      plan(
        pvc('c', { storageClass: 'static' }),
        [pv('v', { storageClass: 'static', size: '1Mi' })],
        [storageClass('static', { provisioner: 'kubernetes.io/no-provisioner' })],
      ),
      'pending Warning ProvisioningFailed: no volume plugin matched name: kubernetes.io/no-provisioner; no volume fits: v: too small (1Mi < 1Gi)',
    ],
    [
      'an in-tree name nothing provisions any more fails as upstream says',
      plan(
        pvc('c', { storageClass: 'old' }),
        [],
        [storageClass('old', { provisioner: 'kubernetes.io/glusterfs' })],
      ),
      'pending Warning ProvisioningFailed: no volume plugin matched name: kubernetes.io/glusterfs; no volume fits: no persistent volumes exist',
    ],
    [
      'the in-tree NFS plugin cannot provision',
      plan(
        pvc('c', { storageClass: 'nfs' }),
        [],
        [storageClass('nfs', { provisioner: 'kubernetes.io/nfs' })],
      ),
      'pending Warning ProvisioningFailed: no provisionable volume plugin matched; no volume fits: no persistent volumes exist',
    ],
    [
      'the in-tree hostPath provisioner is off: the claim is annotated, and the failure said',
      plan(
        pvc('c', { storageClass: 'hp' }),
        [],
        [storageClass('hp', { provisioner: 'kubernetes.io/host-path' })],
      ),
      'pending provisioner=kubernetes.io/host-path Warning ProvisioningFailed: Failed to create provisioner: provisioning in volume plugin "kubernetes.io/host-path" is disabled; no volume fits: no persistent volumes exist',
    ],
    [
      'an in-tree name migrated to CSI waits for the CSI driver',
      plan(
        pvc('c', { storageClass: 'ebs' }),
        [],
        [storageClass('ebs', { provisioner: 'kubernetes.io/aws-ebs' })],
      ),
      /^pending provisioner=ebs\.csi\.aws\.com Normal ExternalProvisioning: Waiting for a volume to be created either by the external provisioner 'ebs\.csi\.aws\.com'/,
    ],
    [
      'a name that only looks in-tree is external',
      plan(
        pvc('c', { storageClass: 'x' }),
        [],
        [storageClass('x', { provisioner: 'kubernetes.io.example.com/x' })],
      ),
      /^pending provisioner=kubernetes\.io\.example\.com\/x Normal ExternalProvisioning/,
    ],
    [
      'an invalid selector is reported, not thrown',
      plan(pvc('c', { selector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }), [
        pv('v'),
      ]),
      /^pending Warning FailedBinding: invalid label selector/,
    ],
    // A request no volume can meet: said at once, without walking the volumes.
    [
      'a request beyond an int64 of bytes',
      plan(pvc('c', { size: '1e10000000' }), [pv('v', { size: '8Ei' }), pv('w', { size: '7Ei' })]),
      'pending Warning FailedBinding: spec.resources.requests.storage "1e10000000" is more than any volume can hold (the limit is 2^63-1 bytes, just under 8Ei)',
    ],
    [
      'a long request is shown shortened',
      plan(pvc('c', { size: `1${'0'.repeat(100_000)}` }), [pv('v')]),
      `pending Warning FailedBinding: spec.resources.requests.storage "1${'0'.repeat(23)}…" is more than any volume can hold (the limit is 2^63-1 bytes, just under 8Ei)`,
    ],
    [
      'a request that is not a quantity is reported, not thrown',
      plan(pvc('c', { size: '1 Gi' }), [pv('v')]),
      'pending Warning FailedBinding: spec.resources.requests.storage "1 Gi" is not a quantity',
    ],
    [
      'a negative request',
      plan(pvc('c', { size: '-1Gi' }), [pv('v')]),
      'pending Warning FailedBinding: spec.resources.requests.storage "-1Gi" is negative',
    ],
    [
      'a request beyond an int64 of bytes, naming its volume',
      plan(pvc('c', { size: '9223372036854775808', volumeName: 'v' }), [pv('v', { size: '8Ei' })]),
      'pending Warning FailedBinding: spec.resources.requests.storage "9223372036854775808" is more than any volume can hold (the limit is 2^63-1 bytes, just under 8Ei)',
    ],
    [
      'the largest request there is still binds a volume that large',
      plan(pvc('c', { size: '9223372036854775807' }), [pv('v', { size: '9223372036854775807' })]),
      'bind v (chosen)',
    ],
    // Unbound, volumeName set
    ['named volume missing: stay Pending quietly', plan(pvc('c', { volumeName: 'v' })), 'pending'],
    ['named free volume that fits', plan(pvc('c', { volumeName: 'v' }), [pv('v')]), 'bind v'],
    [
      'named free volume too small',
      plan(pvc('c', { volumeName: 'v', size: '2Gi' }), [pv('v')]),
      'pending Warning VolumeMismatch: Cannot bind to requested volume "v": requested PV is too small',
    ],
    [
      'named volume with a capacity beyond an int64 of bytes',
      plan(pvc('c', { volumeName: 'v' }), [pv('v', { size: '1e10000000' })]),
      'pending Warning VolumeMismatch: Cannot bind to requested volume "v": the volume\'s spec.capacity.storage "1e10000000" is beyond 2^63-1 bytes, just under 8Ei',
    ],
    [
      'named volume with another class',
      plan(pvc('c', { volumeName: 'v' }), [pv('v', { storageClass: 'x' })]),
      'pending Warning VolumeMismatch: Cannot bind to requested volume "v": storageClassName does not match',
    ],
    [
      'named volume already claimed by this claim',
      plan(pvc('c', { volumeName: 'v' }), [pv('v', { claimRef: ref('uid-c') })]),
      'bind v',
    ],
    [
      'named volume pre-bound to this claim without uid',
      plan(pvc('c', { volumeName: 'v' }), [pv('v', { claimRef: ref() })]),
      'bind v',
    ],
    [
      'named volume bound to another claim',
      plan(pvc('c', { volumeName: 'v' }), [
        pv('v', { claimRef: { namespace: 'ns', name: 'other', uid: 'u' } }),
      ]),
      'pending Warning FailedBinding: volume "v" already bound to a different claim.',
    ],
    // Bound (bind-completed)
    [
      'bound with both sides complete: idempotent bind',
      plan(bound(c, 'v'), [pv('v', { phase: 'Bound', claimRef: ref('uid-c') })]),
      'bind v',
    ],
    ['bound but the volume lost its claimRef: bind again', plan(bound(c, 'v'), [pv('v')]), 'bind v'],
    [
      'bound without volumeName',
      plan(bound(c, '')),
      'lost ClaimLost: Bound claim has lost reference to PersistentVolume. Data on the volume is lost!',
    ],
    [
      'bound to a missing volume',
      plan(bound(c, 'v')),
      'lost ClaimLost: Bound claim has lost its PersistentVolume. Data on the volume is lost!',
    ],
    [
      'bound to a volume that names another claim uid',
      plan(bound(c, 'v'), [pv('v', { claimRef: { namespace: 'ns', name: 'c', uid: 'someone-else' } })]),
      'lost ClaimMisbound: Two claims are bound to the same volume, this one is bound incorrectly',
    ],
    // Crash repair
    [
      'crash after write 1: the claim finds the volume that names it',
      plan(c, [pv('v', { claimRef: ref('uid-c') }), pv('better', { size: '1Gi' })]),
      'bind v',
    ],
    [
      'crash after write 2: same, with the volume already Bound',
      plan(c, [pv('v', { phase: 'Bound', claimRef: ref('uid-c') })]),
      'bind v',
    ],
    [
      'crash after write 3: the bound claim completes its status',
      plan(bound(c, 'v'), [pv('v', { phase: 'Bound', claimRef: ref('uid-c') })]),
      'bind v',
    ],
  ];
  for (const [name, p, want] of rows) {
    it(name, () => {
      if (typeof want === 'string') expect(summary(p)).to.equal(want);
      else expect(summary(p)).to.match(want);
    });
  }
});

describe('claim sync: unusable sizes', () => {
  it('does not walk the volumes for a request beyond any volume', () => {
    const p = plan(pvc('c', { size: '1e10000000' }), [pv('v')]);
    expect(p.action === 'pending' && p.event?.explain).to.equal(undefined);
  });

  it('skips a volume with an unusable capacity and binds the next that fits', () => {
    const volumes = [
      pv('huge', { size: '1e10000000' }),
      pv('bad', { size: 'lots' }),
      pv('zero', { size: '0' }),
      pv('ok', { size: '2Gi' }),
    ];
    expect(summary(plan(pvc('c'), volumes))).to.equal('bind ok (chosen)');
    expect(summary(plan(pvc('c', { size: '4Gi' }), volumes))).to.equal(
      'pending Normal FailedBinding: no persistent volumes available for this claim and no storage class is set: ' +
        'ok: too small (2Gi < 4Gi); bad: capacity "lots" is not a quantity; huge: capacity "1e10000000" is beyond 2^63-1 bytes, just under 8Ei; 1 other: unusable capacity',
    );
  });
});

describe('claim sync: volumes held back (an NFS server that does not answer)', () => {
  const down = (v: V1PersistentVolume) =>
    v.metadata?.labels?.server === 'down' ? 'NFS server unreachable (Timeout: no answer)' : undefined;
  const run = (claim: V1PersistentVolumeClaim, volumes: V1PersistentVolume[]) => {
    const index = new VolumeIndex();
    for (const v of volumes) index.upsert(v);
    return planClaim(claim, {
      volumes: index,
      classes: { get: () => undefined, list: () => [] },
      blocked: down,
    });
  };

  it('skips a held-back volume for the next best one', () => {
    const p = run(pvc('c'), [pv('a', { labels: { server: 'down' } }), pv('b', { size: '2Gi' })]);
    expect(summary(p)).to.equal('bind b (chosen)');
  });

  it('stays Pending when only held-back volumes fit, and says why first', () => {
    const p = run(pvc('c'), [pv('a', { labels: { server: 'down' } }), pv('small', { size: '1Mi' })]);
    expect(summary(p)).to.equal(
      'pending Normal FailedBinding: no persistent volumes available for this claim and no storage class is set: ' +
        'a: NFS server unreachable (Timeout: no answer); small: too small (1Mi < 1Gi)',
    );
  });

  it('never holds back a volume pre-bound to the claim', () => {
    const p = run(pvc('c'), [
      pv('mine', { labels: { server: 'down' }, claimRef: { namespace: 'ns', name: 'c', uid: 'uid-c' } }),
    ]);
    expect(summary(p)).to.equal('bind mine');
  });
});

describe('claim sync: WaitForFirstConsumer', () => {
  it('marks the plan as awaiting a consumer, so its pods can be named (WaitForPodScheduled)', () => {
    const p = plan(pvc('c', { storageClass: 'local' }), [], [storageClass('local', { wffc: true })]);
    expect(p.action === 'pending' && p.awaitsConsumer).to.equal(true);
    const immediate = plan(pvc('c'), []);
    expect(immediate.action === 'pending' && immediate.awaitsConsumer).to.not.equal(true);
  });
});

describe("claim sync: the explanation reads the matcher's context (fit.ts)", () => {
  it('says a free volume of a WaitForFirstConsumer class is left to the scheduler, not that none exist', () => {
    const claim = pvc('c', { storageClass: 'local' });
    claim.metadata = { ...claim.metadata, annotations: { 'volume.kubernetes.io/selected-node': 'node-1' } };
    const p = plan(
      claim,
      [pv('v', { storageClass: 'local' }), pv('small', { storageClass: 'local', size: '1Mi' })],
      [storageClass('local', { wffc: true, provisioner: 'kubernetes.io/no-provisioner' })],
    );
    expect(summary(p)).to.equal(
      'pending Warning ProvisioningFailed: no volume plugin matched name: kubernetes.io/no-provisioner; no volume fits: ' +
        'v: left to the scheduler (WaitForFirstConsumer); small: too small (1Mi < 1Gi)',
    );
  });

  it('checks a volume pre-bound to the claim for size, not for its class', () => {
    const p = plan(pvc('c', { size: '2Gi' }), [pv('mine', { storageClass: 'gold', claimRef: ref() })]);
    expect(summary(p)).to.match(/: mine: too small \(1Gi < 2Gi\)$/);
  });
});

describe('pendingClaimsWithFit (the binding-stalled gauge)', () => {
  const world = (volumes: V1PersistentVolume[], busy?: (v: V1PersistentVolume) => string | undefined) => {
    const index = new VolumeIndex();
    for (const v of volumes) index.upsert(v);
    return { volumes: index, classes: { get: () => undefined, list: () => [] }, busy };
  };

  it('counts only claims not Bound that the binder would bind now', () => {
    const volumes = [pv('small', { size: '1Gi' }), pv('rwx', { size: '10Gi', modes: ['ReadWriteMany'] })];
    const claims = [
      pvc('fits', { size: '1Gi' }),
      pvc('too-big', { size: '5Gi' }),
      pvc('wrong-mode', { size: '1Gi', modes: ['ReadOnlyMany'] }),
      { ...pvc('already', { size: '1Gi' }), status: { phase: 'Bound' } },
      { ...pvc('lost', { size: '1Gi' }), status: { phase: 'Lost' } },
      {
        ...pvc('going', { size: '1Gi' }),
        metadata: { ...pvc('going').metadata, deletionTimestamp: new Date() },
      },
    ];
    expect(pendingClaimsWithFit(claims, world(volumes))).to.equal(1);
    expect(pendingClaimsWithFit(claims, world([]))).to.equal(0);
  });

  it('does not count a claim whose only volume is still being scrubbed', () => {
    const claims = [pvc('c', { volumeName: 'scrubbing' })];
    const volumes = [pv('scrubbing')];
    expect(pendingClaimsWithFit(claims, world(volumes))).to.equal(1);
    expect(
      pendingClaimsWithFit(
        claims,
        world(volumes, () => 'scrub Job running'),
      ),
    ).to.equal(0);
  });

  it('does not count a claim whose selector is invalid', () => {
    const bad = pvc('bad', { selector: { matchExpressions: [{ key: 'k', operator: 'Bogus' }] } });
    expect(pendingClaimsWithFit([bad, pvc('ok')], world([pv('v')]))).to.equal(1);
  });
});
