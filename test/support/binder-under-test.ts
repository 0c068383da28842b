// Which binder the binding and reclaim suites exercise. TEST_BINDER=intree
// (make test-upstream) starts the control plane with kube-controller-manager's
// own PV binder and turns the suites' operator starts into no-ops, so the same
// tests observe upstream's behaviour through the same API.
import type { OperatorProcess } from './operator-process.ts';

export type Binder = 'operator' | 'intree';

/** Reads TEST_BINDER: unset or "operator" is this operator; "intree" the controller manager's. */
export function parseTestBinder(value: string | undefined): Binder {
  if (value === undefined || value === '' || value === 'operator') return 'operator';
  if (value === 'intree') return 'intree';
  throw new Error(`TEST_BINDER must be "operator" or "intree", not ${JSON.stringify(value.slice(0, 40))}`);
}

export const testBinder: Binder = parseTestBinder(process.env.TEST_BINDER);
export const upstreamBinder = testBinder === 'intree';

/** KUBE_INTREE_BINDER as cluster/cli.ts reads it. */
export function envWantsInTreeBinder(value: string | undefined): boolean {
  return ['1', 'true', 'yes'].includes(value ?? '');
}

/**
 * Whether the test control plane runs the in-tree PV binder: under
 * TEST_BINDER=intree (no operator), or with KUBE_INTREE_BINDER=1, where the
 * operator still starts and runs beside it (--controllers=*,-binder; make
 * test-managed).
 */
export const inTreeBinderOn = upstreamBinder || envWantsInTreeBinder(process.env.KUBE_INTREE_BINDER);

/**
 * Skips the running test under TEST_BINDER=intree, saying why in its title:
 * it checks what only this operator does (its events, annotations, metrics, Jobs).
 */
export function operatorOnly(ctx: Mocha.Context, why: string): void {
  if (!upstreamBinder) return;
  if (ctx.test) ctx.test.title += ` (operator only: ${why})`;
  ctx.skip();
}

/** Starts the operator, or nothing when the in-tree binder is under test. */
export async function startUnlessUpstream(
  start: () => Promise<OperatorProcess>,
): Promise<OperatorProcess | undefined> {
  return upstreamBinder ? undefined : start();
}

/** The operator a test marked operatorOnly relies on; throws if none was started. */
export function started(operator: OperatorProcess | undefined): OperatorProcess {
  if (!operator) throw new Error('this test needs the operator, which TEST_BINDER=intree does not start');
  return operator;
}
