// The chart and the tools that read it: helm (scripts/helm.sh builds and
// caches it), kubectl's kustomize (the control plane's kubectl) and the
// objects both render, for comparing them.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { loadAllYaml } from '@kubernetes/client-node';

import { ensureControlPlane } from '../../cluster/local-cluster.ts';

const run = promisify(execFile);
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const chartDir = join(repoRoot, 'charts', 'pv-lifecycle-operator');

/** A rendered manifest: enough shape to sort and compare. */
export interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** The helm binary, built once from cluster/helm (minutes cold, a few ms warm). */
export function ensureHelm(): string {
  const done = spawnSync('bash', [join(repoRoot, 'scripts', 'helm.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const path = done.stdout.trim().split('\n').pop() ?? '';
  if (done.status !== 0 || !existsSync(path)) {
    throw new Error(`scripts/helm.sh failed (exit ${String(done.status)}), see its output above`);
  }
  return path;
}

/** The control plane's kubectl (cluster/build.sh), for `kubectl kustomize` without a cluster. */
export function ensureKubectl(): string {
  return join(ensureControlPlane(), 'bin', 'kubectl');
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with its own home directories (no user's repositories or
 * plugins) and, when given, a kubeconfig. Resolves with the exit code
 * instead of throwing, so tests can assert on refusals.
 */
export async function helmRun(
  binary: string,
  args: string[],
  opts: { kubeconfig?: string; home?: string } = {},
): Promise<HelmResult> {
  const home = opts.home ?? join(repoRoot, '.cluster', 'helm-home');
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    ...(opts.kubeconfig ? { KUBECONFIG: opts.kubeconfig } : {}),
  };
  try {
    const { stdout, stderr } = await run(binary, args, { env, maxBuffer: 16 << 20, timeout: 110_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Error & { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** helm, failing with its stderr on a non-zero exit. */
export async function helm(
  binary: string,
  args: string[],
  opts: { kubeconfig?: string } = {},
): Promise<string> {
  const r = await helmRun(binary, args, opts);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (exit ${String(r.code)}): ${r.stderr}`);
  return r.stdout;
}

export function parseManifests(text: string): Rendered[] {
  return (loadAllYaml(text) as (Rendered | null)[]).filter((m): m is Rendered => m !== null);
}

/** The labels every chart object carries beyond config/'s: which release owns it. */
export const releaseLabels = ['app.kubernetes.io/instance', 'app.kubernetes.io/managed-by'] as const;

/**
 * A chart object as config/ writes it: without the release labels and the
 * Namespace's keep policy (the chart's two deliberate additions). Throws when
 * an addition is missing or has the wrong value, so the additions stay checked.
 */
export function withoutChartAdditions(m: Rendered, release: string): Rendered {
  const copy = structuredClone(m);
  const labels = copy.metadata.labels ?? {};
  const expected = { 'app.kubernetes.io/instance': release, 'app.kubernetes.io/managed-by': 'Helm' };
  for (const key of releaseLabels) {
    if (labels[key] !== expected[key]) {
      throw new Error(
        `${m.kind} ${m.metadata.name}: label ${key} is ${String(labels[key])}, not ${expected[key]}`,
      );
    }
  }
  copy.metadata.labels = Object.fromEntries(
    Object.entries(labels).filter(([key]) => !(releaseLabels as readonly string[]).includes(key)),
  );
  if (m.kind === 'Namespace') {
    if (copy.metadata.annotations?.['helm.sh/resource-policy'] !== 'keep') {
      throw new Error(`Namespace ${m.metadata.name}: no helm.sh/resource-policy: keep`);
    }
    delete copy.metadata.annotations['helm.sh/resource-policy'];
    if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  }
  return copy;
}

/** Objects keyed by kind/namespace/name, for deep comparison regardless of order. */
export function byKey(objects: Rendered[]): Record<string, Rendered> {
  const out: Record<string, Rendered> = {};
  for (const m of objects) {
    const key = `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
    if (key in out) throw new Error(`${key} rendered twice`);
    out[key] = m;
  }
  return out;
}
