// An operator process for reclaim tests: scrub Jobs in the operator's
// namespace, quick retries, and recycler pods that kwok finishes as asked
// (cluster/kwok-stages: ok at once, slow after 8 s, fail).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { operatorKubeconfig, repoRoot } from '../integration/cluster-hooks.ts';
import { OperatorProcess } from './operator-process.ts';

export const operatorNamespace = 'pv-lifecycle-system';

export type ScrubOutcome = 'ok' | 'slow' | 'fail';

/** name names the template and log files, so suites do not share them. */
export function startReclaimOperator(
  name: string,
  outcome: ScrubOutcome,
  maxRetries = 1,
): Promise<OperatorProcess> {
  const logs = join(repoRoot, '.cluster', 'test-logs');
  const args = [
    '--namespace',
    operatorNamespace,
    '--recycle-retry-base',
    '2s',
    '--recycle-max-retries',
    String(maxRetries),
  ];
  if (outcome !== 'ok') {
    const file = join(logs, `recycler-template-${name}-${outcome}.yaml`);
    writeFileSync(
      file,
      `metadata:\n  labels:\n    kwokoutcome: ${outcome}\nspec:\n  containers:\n    - name: scrub\n      image: busybox:1.37\n`,
    );
    args.push('--recycler-pod-template', file);
  }
  return OperatorProcess.start({
    kubeconfig: operatorKubeconfig(),
    args,
    logFile: join(logs, `operator-${name}-${outcome}.log`),
  });
}
