// pv_lifecycle_pending_claims_with_fitting_volume, which the
// PVLifecycleBindingStalled alert reads, on a real stall: an admission policy
// refuses the operator's writes of one volume, so a claim that fits it stays
// Pending. The gauge counts it, and stops counting it once the claim binds.
import { join } from 'node:path';

import { CoreV1Api, PatchStrategy, type V1PersistentVolume, setHeaderOptions } from '@kubernetes/client-node';
import { expect } from 'chai';

import { operatorKubeconfig, repoRoot, testCluster } from './cluster-hooks.ts';
import { kubectl } from '../support/kubectl.ts';
import { pv, pvc } from '../support/objects.ts';
import { OperatorProcess } from '../support/operator-process.ts';
import { eventually } from '../support/wait.ts';

const ns = 'binding-stalled';
const stallLabel = 'stall.example.com/refuse-updates';
const policyName = 'binding-stalled-metric';
const policy = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ${policyName}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: [v1]
        operations: [UPDATE]
        resources: [persistentvolumes]
  validations:
    - expression: "!has(object.metadata.labels) || !('${stallLabel}' in object.metadata.labels)"
      message: "test policy: volumes labelled ${stallLabel} cannot be updated"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ${policyName}}
spec:
  policyName: ${policyName}
  validationActions: [Deny]
`;

const patchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const gauge = (text: string): number | undefined => {
  const m = /^pv_lifecycle_pending_claims_with_fitting_volume (\S+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
};
const reconcileErrors = (text: string): number => {
  const m =
    /^controller_runtime_reconcile_errors_total\{controller="persistentvolumeclaim-binder"\} (\S+)$/m.exec(
      text,
    );
  return m ? Number(m[1]) : 0;
};

describe('the binding-stalled gauge (operator process, admission policy)', function () {
  this.timeout(90_000);
  let core: CoreV1Api;
  let operator: OperatorProcess;
  const k = (args: string[], input?: string) =>
    kubectl(testCluster().kubectl, testCluster().kubeconfig, args, input);

  before(async () => {
    core = testCluster().kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    operator = await OperatorProcess.start({
      kubeconfig: operatorKubeconfig(),
      args: ['--probe-interval', '0'],
      logFile: join(repoRoot, '.cluster', 'test-logs', 'operator-binding-stalled.log'),
    });
  });

  after(async function () {
    this.timeout(60_000);
    await k([
      'delete',
      'validatingadmissionpolicybinding,validatingadmissionpolicy',
      policyName,
      '--ignore-not-found',
    ]);
    await k(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    expect((await operator.stop()).code).to.equal(0);
  });

  it('counts a claim that fits a volume it cannot bind, and drops it once bound', async () => {
    await k(['apply', '-f', '-'], policy);
    // The policy takes effect a moment after it is created: wait until it refuses an update.
    const probe = pv(`${ns}-policy-probe`, {
      storageClass: 'binding-stalled-probe',
      labels: { [stallLabel]: '' },
    });
    delete probe.status;
    await core.createPersistentVolume({ body: probe });
    await eventually('the admission policy refusing updates', async () => {
      const body = { metadata: { labels: { [stallLabel]: '', touched: String(Date.now()) } } };
      return core
        .patchPersistentVolume({ name: probe.metadata?.name ?? '', body }, patchOptions)
        .then(() => undefined)
        .catch((err: unknown) => (/cannot be updated/.test(String(err)) ? true : undefined));
    });
    await core.deletePersistentVolume({ name: probe.metadata?.name ?? '' });

    const before = await operator.metrics();
    const baseline = gauge(before);
    expect(baseline, 'the gauge is exported').to.be.a('number');
    const volume: V1PersistentVolume = pv(`${ns}-refused`, {
      storageClass: 'binding-stalled',
      labels: { [stallLabel]: '' },
    });
    delete volume.status;
    await core.createPersistentVolume({ body: volume });
    const c = pvc('stalled', { storageClass: 'binding-stalled', namespace: ns });
    delete c.metadata?.uid;
    await core.createNamespacedPersistentVolumeClaim({ namespace: ns, body: c });

    await eventually('the gauge counting the stalled claim', async () =>
      gauge(await operator.metrics()) === (baseline ?? 0) + 1 ? true : undefined,
    );
    const during = await operator.metrics();
    expect(reconcileErrors(during), 'the refused bind is a reconcile error').to.be.greaterThan(
      reconcileErrors(before),
    );
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: 'stalled', namespace: ns });
    expect(claim.status?.phase).to.equal('Pending');

    await k(['delete', 'validatingadmissionpolicybinding,validatingadmissionpolicy', policyName]);
    await eventually(
      'the claim Bound once the policy is gone',
      async () => {
        const now = await core.readNamespacedPersistentVolumeClaim({ name: 'stalled', namespace: ns });
        return now.status?.phase === 'Bound' ? true : undefined;
      },
      60_000,
    );
    await eventually('the gauge back to its baseline', async () =>
      gauge(await operator.metrics()) === baseline ? true : undefined,
    );
    await core.deleteNamespacedPersistentVolumeClaim({ name: 'stalled', namespace: ns });
    await core.deletePersistentVolume({ name: volume.metadata?.name ?? '' });
  });
});
