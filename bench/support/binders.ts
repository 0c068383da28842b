// The two binders under comparison, each on a fresh local control plane: the
// in-tree one inside kube-controller-manager (unthrottled unless asked), or
// pv-lifecycle-operator as its own process beside a controller manager whose
// binder is off.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LocalCluster } from '../../cluster/local-cluster.ts';
import { installCrds } from '../../test/support/kubectl.ts';
import { OperatorProcess } from '../../test/support/operator-process.ts';
import { componentPid } from './cluster-probe.ts';
import { operatorRuntime } from './operator-build.ts';

export type BinderName = 'in-tree' | 'operator';
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface BinderOptions {
  /** The controller manager's client rate for the in-tree binder; undefined keeps its default (20 QPS). */
  inTreeQps: number | undefined;
  /** Extra operator flags, such as --workers. */
  operatorArgs: string[];
}

export interface RunningBinder {
  name: BinderName;
  cluster: LocalCluster;
  /** The process whose CPU and memory are the binder's: the operator, or all of kube-controller-manager. */
  binderPid: number;
  /** The processes whose CPU the benches report, by column name. */
  pids: Record<'binder' | 'apiserver' | 'etcd' | 'kcm', number>;
  stop(): Promise<void>;
}

/** Which binders to run, from BINDERS (default both, in-tree first); an unknown name is an error. */
export function bindersFromEnv(text: string | undefined): BinderName[] {
  const names = (text ?? 'in-tree,operator').split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== 'in-tree' && n !== 'operator') {
      throw new Error(`BINDERS takes in-tree and operator, comma-separated: ${n.slice(0, 40)}`);
    }
  }
  return names as BinderName[];
}

/** A whole number from the environment in [min, max], else the default; anything else is an error. */
export function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new Error(
      `${name} must be a whole number from ${String(min)} to ${String(max)}: ${text.slice(0, 40)}`,
    );
  }
  return Number(text);
}

/**
 * The operator as the benches run it (see operator-build.ts), against a
 * cluster whose CRDs are installed; its log goes to .cluster/bench-logs/<logName>-operator.log.
 */
export async function startBenchOperator(
  cluster: LocalCluster,
  logName: string,
  args: string[],
): Promise<OperatorProcess> {
  const runtime = await operatorRuntime(process.env, process.env.OPERATOR_DIR ?? undefined);
  process.stderr.write(`the operator runs ${runtime.describe}\n`);
  return OperatorProcess.start({
    kubeconfig: cluster.kubeconfig,
    ...(runtime.script ? { script: runtime.script } : {}),
    nodeArgs: runtime.nodeArgs,
    // Read it when a run stalls: a dead operator is otherwise a bench waiting for its timeout.
    logFile: join(repoRoot, '.cluster', 'bench-logs', `${logName}-operator.log`),
    args: [...args, '--log-level', 'info'],
  });
}

export async function startBinder(
  name: BinderName,
  dirName: string,
  opts: BinderOptions,
): Promise<RunningBinder> {
  const cluster = await LocalCluster.start({
    dir: join(repoRoot, '.cluster', dirName),
    inTreeBinder: name === 'in-tree',
    controllerManagerQps: name === 'in-tree' ? opts.inTreeQps : undefined,
    tieToParent: true,
  });
  let operator: OperatorProcess | undefined;
  try {
    if (name === 'operator') {
      // The operator is ready only once its NfsExport informer syncs too.
      await installCrds(cluster.kubectl, cluster.kubeconfig);
      operator = await startBenchOperator(cluster, dirName, opts.operatorArgs);
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const binderPid = operator?.pid ?? componentPid(cluster, 'kube-controller-manager');
  return {
    name,
    cluster,
    binderPid,
    pids: {
      binder: binderPid,
      apiserver: componentPid(cluster, 'kube-apiserver'),
      etcd: componentPid(cluster, 'etcd'),
      // For the operator, the controller manager runs everything but the binder.
      kcm: componentPid(cluster, 'kube-controller-manager'),
    },
    async stop() {
      await operator?.stop();
      await cluster.stop();
    },
  };
}

export const binderLabel = (name: BinderName, inTreeQps: number | undefined): string =>
  name === 'operator'
    ? 'pv-lifecycle-operator'
    : `in-tree, ${inTreeQps === undefined ? 'default 20 QPS' : `${String(inTreeQps)} QPS`} (all of kcm)`;
