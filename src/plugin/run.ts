// The plugin's I/O edge: the user's kubeconfig, the API calls, the prompt and
// the output streams. Decisions are the pure modules' (why, reclaim, status).
import {
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
} from '@kubernetes/client-node';

import { apiMessage, apiStatus, isNotFound } from '../kube/api-errors.ts';
import { group, plural, version } from '../nfs/export.ts';
import { annReclaimRequest, type ReclaimRequest } from '../reclaim/decide.ts';
import { managedByLabel } from '../reclaim/job.ts';
import { type Options, type Parsed, UsageError, parseArgs } from './args.ts';
import { safeText, serialise, useColour } from './format.ts';
import { helpText } from './help.ts';
import { confirmed, progress, refusal, snapshot } from './reclaim.ts';
import { type ExportLike, statusTable, summarise } from './status.ts';
import { explainClaim, whyTable } from './why.ts';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Asks a question on the terminal; undefined when there is none to ask on. */
  ask?: (question: string) => Promise<string>;
  env: Record<string, string | undefined>;
  isTTY: boolean;
  sleep?: (ms: number) => Promise<void>;
}

/** An error to show the user as it is, with exit status 1. */
export class PluginError extends Error {
  override name = 'PluginError';
}

const pollMs = 1000;
// Lists are bounded: a cluster with more objects than this is summed up from the first ones, and says so.
const maxListed = 100_000;
const partialNote = `more than ${maxListed.toLocaleString('en')} objects of a kind: only the first ones were read`;

export async function run(argv: readonly string[], io: Io): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`error: ${err.message}\nRun "kubectl pvl --help" for usage.`);
    return 2;
  }
  if (parsed.help) {
    io.out(helpText(parsed.command));
    return 0;
  }
  try {
    const kc = loadKubeConfig(parsed.options);
    const colour = useColour(io.isTTY, io.env);
    switch (parsed.command) {
      case 'why':
        return await why(kc, parsed.name ?? '', parsed.options, io, colour);
      case 'status':
        return await status(kc, parsed.options, io, colour);
      default:
        return await reclaim(kc, parsed.command, parsed.name ?? '', parsed.options, io);
    }
  } catch (err) {
    io.err(`error: ${describe(err)}`);
    return 1;
  }
}

function describe(err: unknown): string {
  if (err instanceof PluginError) return err.message;
  const status = apiStatus(err);
  if (status !== undefined)
    return `the API server answered ${String(status)}: ${safeText(apiMessage(err), 500)}`;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT') {
    return `cannot reach the API server (${e.code}): check the kubeconfig's server and context`;
  }
  return safeText(err instanceof Error ? err.message : String(err), 500);
}

export function loadKubeConfig(opts: Options): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig !== undefined) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new PluginError(
      `cannot read kubeconfig ${opts.kubeconfig ?? '(default)'}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (opts.context !== undefined) {
    if (!kc.getContextObject(opts.context))
      throw new PluginError(`context "${safeText(opts.context)}" is not in the kubeconfig`);
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new PluginError('the kubeconfig has no current context with a cluster');
  return kc;
}

async function why(kc: KubeConfig, name: string, opts: Options, io: Io, colour: boolean): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = opts.namespace ?? (kc.getContextObject(kc.getCurrentContext())?.namespace || 'default');
  let claim;
  try {
    claim = await core.readNamespacedPersistentVolumeClaim({ name, namespace });
  } catch (err) {
    if (isNotFound(err))
      throw new PluginError(`persistentvolumeclaim "${name}" not found in namespace "${namespace}"`);
    throw err;
  }
  const [volumes, classes] = await Promise.all([
    core.listPersistentVolume({ limit: maxListed }),
    kc.makeApiClient(StorageV1Api).listStorageClass({ limit: maxListed }),
  ]);
  const report = explainClaim(claim, volumes.items, classes.items);
  if (volumes.metadata?._continue) report.notes.push(partialNote);
  io.out(opts.output === 'table' ? whyTable(report, colour) : serialise(report, opts.output));
  return 0;
}

async function reclaim(
  kc: KubeConfig,
  request: ReclaimRequest,
  name: string,
  opts: Options,
  io: Io,
): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const events = kc.makeApiClient(EventsV1Api);
  let volume;
  try {
    volume = await core.readPersistentVolume({ name });
  } catch (err) {
    if (isNotFound(err)) throw new PluginError(`persistentvolume "${name}" not found`);
    throw err;
  }
  const refused = refusal(volume, request);
  if (refused) throw new PluginError(refused);
  if (!opts.yes) {
    if (!io.ask) throw new PluginError('no terminal to confirm on: run again with --yes');
    const what = request === 'recycle' ? 'scrub (DELETE ALL DATA ON)' : 'release (keep the data of)';
    const answer = await io.ask(`${what} volume ${name}, then make it Available? [y/N] `);
    if (!confirmed(answer)) {
      io.err('cancelled');
      return 1;
    }
  }
  // The events of a cluster-scoped object live in "default" (as the operator's recorder writes them).
  const list = async () =>
    (
      await events.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `regarding.name=${name}`,
        limit: 1000,
      })
    ).items.filter(
      (e) => e.regarding?.kind === 'PersistentVolume' && e.regarding.uid === volume.metadata?.uid,
    );
  const before = snapshot(await list());
  // A JSON merge patch guarded by the volume's resourceVersion: the request lands on the volume checked above.
  await core
    .patchPersistentVolume(
      {
        name,
        body: {
          metadata: {
            resourceVersion: volume.metadata?.resourceVersion,
            annotations: { [annReclaimRequest]: request },
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )
    .catch((err: unknown) => {
      if (apiStatus(err) === 409)
        throw new PluginError(`volume ${name} changed meanwhile: look again and retry`);
      throw err;
    });
  if (opts.output === 'table')
    io.out(`asked: ${annReclaimRequest}=${request} on ${name}; waiting for the operator's answer`);
  const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + opts.timeoutMs;
  let shown = 0;
  for (;;) {
    const p = progress(request, before, await list());
    if (opts.output === 'table') {
      for (const e of p.events.slice(shown)) io.out(`${e.type} ${e.reason}: ${safeText(e.note, 1000)}`);
      shown = p.events.length;
    }
    if (p.done) {
      if (opts.output !== 'table')
        io.out(
          serialise({ volume: name, request, ok: p.ok, outcome: p.outcome, events: p.events }, opts.output),
        );
      return p.ok ? 0 : 1;
    }
    if (Date.now() >= deadline) {
      throw new PluginError(
        `no answer to ${annReclaimRequest}=${request} on ${name} within ${String(opts.timeoutMs / 1000)} s: is the operator running? (kubectl pvl status)`,
      );
    }
    await sleep(pollMs);
  }
}

async function status(kc: KubeConfig, opts: Options, io: Io, colour: boolean): Promise<number> {
  const core = kc.makeApiClient(CoreV1Api);
  const ns = opts.operatorNamespace;
  const [volumes, jobs, lease, exports] = await Promise.all([
    core.listPersistentVolume({ limit: maxListed }),
    kc.makeApiClient(BatchV1Api).listNamespacedJob({
      namespace: ns,
      labelSelector: `${managedByLabel.key}=${managedByLabel.value}`,
      limit: maxListed,
    }),
    kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: opts.leaseName, namespace: ns })
      .catch((err: unknown) => {
        if (isNotFound(err)) return undefined;
        throw err;
      }),
    kc
      .makeApiClient(CustomObjectsApi)
      .listClusterCustomObject({ group, version, plural, limit: maxListed })
      .then((r) => (r as { items?: ExportLike[] }).items ?? [])
      .catch((err: unknown) => {
        // No CRD: the status says so instead of failing.
        if (isNotFound(err)) return undefined;
        throw err;
      }),
  ]);
  const report = summarise({
    leaseName: `${ns}/${opts.leaseName}`,
    lease,
    exports,
    volumes: volumes.items,
    jobs: jobs.items,
    now: Date.now(),
  });
  if (volumes.metadata?._continue || jobs.metadata?._continue) report.notes.push(partialNote);
  io.out(opts.output === 'table' ? statusTable(report, colour) : serialise(report, opts.output));
  return 0;
}
