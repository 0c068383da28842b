import type { V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { annProvisionedBy, annReclaimPolicy, ourProvisioner } from '../../../src/kube/annotations.ts';
import { effectiveReclaimPolicy } from '../../../src/kube/reclaim-policy.ts';

function volume(spec: string | undefined, annotations: Record<string, string> = {}): V1PersistentVolume {
  return {
    metadata: { name: 'v', annotations },
    spec: { persistentVolumeReclaimPolicy: spec, nfs: { server: '127.0.0.1', path: '/x' } },
  };
}
const ours = (value: string) => ({ [annProvisionedBy]: ourProvisioner, [annReclaimPolicy]: value });

describe('the effective reclaim policy of a volume', () => {
  it('is the spec when there is no annotation, absent read as Retain', () => {
    expect(effectiveReclaimPolicy(volume('Recycle'))).to.deep.equal({ policy: 'Recycle', from: 'spec' });
    expect(effectiveReclaimPolicy(volume(undefined))).to.deep.equal({ policy: 'Retain', from: 'spec' });
    // An unknown spec value is passed on as written: the reclaimer fails it as upstream does.
    expect(effectiveReclaimPolicy(volume('Scrub')).policy).to.equal('Scrub');
  });

  for (const value of ['Retain', 'Recycle', 'Delete']) {
    it(`is the annotation's ${value} on a Retain volume this operator made`, () => {
      expect(effectiveReclaimPolicy(volume('Retain', ours(value)))).to.deep.equal({
        policy: value,
        from: 'annotation',
      });
    });
  }

  it('is the spec when the spec is not Retain: that is what the in-tree controller acts on', () => {
    expect(effectiveReclaimPolicy(volume('Delete', ours('Recycle')))).to.deep.equal({
      policy: 'Delete',
      from: 'spec',
    });
  });

  it("ignores the annotation on a volume this operator did not make, and says so: a forged one scrubs nobody's data", () => {
    const forged: Record<string, string>[] = [
      { [annReclaimPolicy]: 'Recycle' },
      { [annReclaimPolicy]: 'Delete', [annProvisionedBy]: 'nfs.csi.k8s.io' },
    ];
    for (const annotations of forged) {
      const got = effectiveReclaimPolicy(volume('Retain', annotations));
      expect(got.policy).to.equal('Retain');
      expect(got.problem).to.match(
        /^annotation pvlifecycle\.io\/reclaim-policy="(Recycle|Delete)" ignored: only volumes this operator made \(pv\.kubernetes\.io\/provisioned-by: pvlifecycle\.io\/nfs-export\)/,
      );
    }
  });

  for (const bad of ['recycle', 'Scrub', '', ' Recycle', 'Recycle,Delete']) {
    it(`treats ${JSON.stringify(bad)} as Retain and says why`, () => {
      const got = effectiveReclaimPolicy(volume('Retain', ours(bad)));
      expect(got.policy).to.equal('Retain');
      expect(got.problem).to.equal(
        `annotation pvlifecycle.io/reclaim-policy=${JSON.stringify(bad)} is not one of Retain, Recycle, Delete; ` +
          'the volume is treated as Retain: nothing scrubs or deletes it',
      );
    });
  }

  it('quotes a long or hostile value shortened and escaped', () => {
    const got = effectiveReclaimPolicy(volume('Retain', ours(`Recycle\n${'x'.repeat(10_000)}`)));
    expect(got.policy).to.equal('Retain');
    expect(got.problem).to.contain(`="Recycle\\n${'x'.repeat(56)}" (cut short) is not one of`);
    expect(got.problem?.length).to.be.below(300);
  });
});
