// The recycler Job of one release of a volume: pure construction from the
// volume, the operator's options and the merged pod template. The Job mounts
// the volume's own source (NFS or hostPath) and runs the scrub script.
import { createHash } from 'node:crypto';
import { posix } from 'node:path';

import type {
  V1Affinity,
  V1Job,
  V1NodeSelector,
  V1NodeSelectorTerm,
  V1PersistentVolume,
  V1PodSpec,
  V1PodTemplateSpec,
  V1Volume,
} from '@kubernetes/client-node';

import { QuantityError, beyondInt64Nano, quantityOrZero } from '../kube/quantity.ts';
import { scrubCommand, scrubMountPath } from './scrub.ts';
import { labelValue } from '../runtime/label-value.ts';
import { defaultRecyclerTemplate, scrubContainerName } from './template.ts';

export const managedByLabel = {
  key: 'app.kubernetes.io/managed-by',
  value: 'pv-lifecycle-operator',
} as const;
/** On Jobs and their pods: the volume's name, or a digest of it when too long for a label value. */
export const volumeLabel = 'pvlifecycle.io/volume';
export const annVolumeName = 'pvlifecycle.io/volume-name';
export const annVolumeUid = 'pvlifecycle.io/volume-uid';
/** The uid of the claim whose release this Job scrubs. */
export const annClaimUid = 'pvlifecycle.io/claim-uid';
export const annOperation = 'pvlifecycle.io/operation';

/** recycle: the volume becomes Available afterwards; delete: it is deleted afterwards. */
export type ReclaimOperation = 'recycle' | 'delete';

/**
 * Seconds for activeDeadlineSeconds, as the in-tree recycler computes them:
 * the larger of the minimum and the increment times the volume's whole GiB.
 * Defaults are kube-controller-manager's --pv-recycler-* flag defaults.
 */
export interface RecycleTimeouts {
  nfsMinimum: number;
  nfsIncrement: number;
  hostPathMinimum: number;
  hostPathIncrement: number;
}

export const defaultRecycleTimeouts: Readonly<RecycleTimeouts> = {
  nfsMinimum: 300,
  nfsIncrement: 30,
  hostPathMinimum: 60,
  hostPathIncrement: 30,
};

export interface RecyclerJobOptions {
  /** The operator's namespace, where the Job runs. */
  namespace: string;
  /** Default recycle. */
  operation?: ReclaimOperation;
  /** The released claim's uid; default the volume's spec.claimRef.uid. */
  claimUid?: string;
  /** The pod template (mergeTemplate of the defaults and the administrator's); default the defaults. */
  template?: V1PodTemplateSpec;
  timeouts?: Partial<RecycleTimeouts>;
}

/** The volume's source cannot be scrubbed by a Job (only nfs and hostPath can). */
export class UnsupportedVolumeSource extends Error {
  /** The PersistentVolumeSpec field of the source, e.g. "csi"; "none" when there is none. */
  readonly kind: string;

  constructor(volumeName: string, kind: string, why: string = unsupportedReason(kind)) {
    super(`volume ${volumeName}: ${why}`);
    this.name = 'UnsupportedVolumeSource';
    this.kind = kind;
  }
}

/** The volume lacks what a recycler Job needs to name it (name, uid, released claim uid). */
export class RecyclerJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecyclerJobError';
  }
}

// Every volume source of PersistentVolumeSpec, in the API's order.
const volumeSources = [
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cephfs',
  'cinder',
  'csi',
  'fc',
  'flexVolume',
  'flocker',
  'gcePersistentDisk',
  'glusterfs',
  'hostPath',
  'iscsi',
  'local',
  'nfs',
  'photonPersistentDisk',
  'portworxVolume',
  'quobyte',
  'rbd',
  'scaleIO',
  'storageos',
  'vsphereVolume',
] as const;

/** The spec field holding the volume's source, or "none". */
export function volumeSourceKind(volume: V1PersistentVolume): string {
  const spec = volume.spec ?? {};
  return volumeSources.find((k) => spec[k] !== undefined) ?? 'none';
}

function unsupportedReason(kind: string): string {
  if (kind === 'none') return 'the volume has no volume source to scrub';
  return `a ${kind} volume cannot be scrubbed: only nfs and hostPath volumes can be recycled`;
}

/**
 * A hostPath of "/" would mount the node's root directory at /scrub, where
 * the script's own refusal of "/" cannot see it: refused here.
 */
function isNodeRoot(path: string): boolean {
  return posix.normalize(`/${path}`) === '/';
}

const nodeRootReason = "a hostPath volume at / cannot be scrubbed: it is the node's root directory";
const serverRootReason =
  "an NFS volume at the server's / cannot be scrubbed: the root may hold every export of the server";

export const annBetaMountOptions = 'volume.beta.kubernetes.io/mount-options';

/**
 * Where the volume declares itself read-only: spec.nfs.readOnly, or an "ro"
 * mount option (the beta annotation wins over spec.mountOptions, as in the
 * kubelet). A scrub would have to write to it.
 */
export function readOnlyDeclaration(volume: V1PersistentVolume): string | undefined {
  if (volume.spec?.nfs?.readOnly === true) return 'spec.nfs.readOnly is true';
  const annotated = volume.metadata?.annotations?.[annBetaMountOptions];
  const options = annotated !== undefined ? annotated.split(',') : (volume.spec?.mountOptions ?? []);
  if (options.some((o) => o.trim() === 'ro')) {
    return `its mount options (${annotated !== undefined ? `annotation ${annBetaMountOptions}` : 'spec.mountOptions'}) hold "ro"`;
  }
  return undefined;
}

/**
 * Whether the scrub must mount the volume through a claim (scrub-claim.ts):
 * an NFS volume with mount options, which a pod's inline nfs volume cannot carry.
 */
export function needsScrubClaim(volume: V1PersistentVolume): boolean {
  if (!volume.spec?.nfs) return false;
  const annotated = volume.metadata?.annotations?.[annBetaMountOptions];
  return (annotated !== undefined && annotated.trim() !== '') || (volume.spec.mountOptions?.length ?? 0) > 0;
}

/**
 * The scrub claim's name, and its volume's: "scrub-<release name>" (see
 * recyclerJobName; at most 69 characters). Named per release, not per Job:
 * the Job's pod template must name the claim before the Job (and so its
 * generated name) exists.
 */
export function scrubClaimName(releaseName: string): string {
  return `scrub-${releaseName}`;
}

/** Whether a recycler Job can scrub this volume, and if not why (for VolumeFailedRecycle). */
export function isRecyclable(
  volume: V1PersistentVolume,
): { ok: true; source: 'nfs' | 'hostPath' } | { ok: false; why: string } {
  const kind = volumeSourceKind(volume);
  if (kind === 'hostPath' && isNodeRoot(volume.spec?.hostPath?.path ?? ''))
    return { ok: false, why: nodeRootReason };
  // The API server accepts both; neither can be scrubbed safely.
  if (kind === 'nfs' && isNodeRoot(volume.spec?.nfs?.path ?? '')) return { ok: false, why: serverRootReason };
  if ((kind === 'nfs' || kind === 'hostPath') && (volume.spec?.volumeMode ?? 'Filesystem') !== 'Filesystem') {
    return {
      ok: false,
      why: `a ${volume.spec?.volumeMode ?? ''} volume cannot be scrubbed: the scrub empties a directory, so only Filesystem volumes can be recycled`,
    };
  }
  const readOnly = readOnlyDeclaration(volume);
  if (readOnly !== undefined && (kind === 'nfs' || kind === 'hostPath')) {
    return {
      ok: false,
      why:
        `the volume is read-only (${readOnly}): a scrub would delete data that every pod may only read. ` +
        'Make it writable to recycle it, or set persistentVolumeReclaimPolicy to Retain',
    };
  }
  if (kind === 'nfs' || kind === 'hostPath') return { ok: true, source: kind };
  return { ok: false, why: unsupportedReason(kind) };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const maxNameLength = 63;
const jobNamePrefix = 'recycle-';
const jobNameHashLength = 10;

/** The volume name as a DNS-1123 label fragment of at most room characters (maybe empty). */
function readableName(volumeName: string, room: number): string {
  return volumeName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .slice(0, room)
    .replace(/^-+|-+$/g, '');
}

/**
 * The name of one release's scrub: "recycle-<volume name>-<hash>", the hash
 * of the volume name and the released claim's uid. The scrub claim is named
 * after it (scrubClaimName); Jobs are not (recyclerJobPrefix): a Job name is
 * never reused, because the Job controller keeps its bookkeeping of a Job by
 * namespace/name and may carry it over to a new Job of a deleted one's name.
 * Always a DNS-1123 label of at most 63 characters: the volume name is
 * lowercased, every character other than a-z, 0-9 and "-" (dots) becomes
 * "-", runs of "-" collapse, and it is cut to fit. Independent of the operation.
 */
export function recyclerJobName(volumeName: string, claimUid: string): string {
  const hash = sha256Hex(`${volumeName}\n${claimUid}`).slice(0, jobNameHashLength);
  const readable = readableName(volumeName, maxNameLength - jobNamePrefix.length - 1 - hash.length);
  return readable === '' ? `${jobNamePrefix}${hash}` : `${jobNamePrefix}${readable}-${hash}`;
}

/** The API server appends this many random characters to a generateName (and cuts the prefix to fit 63). */
export const generatedSuffixLength = 5;

/**
 * metadata.generateName of a volume's scrub Jobs: "recycle-<volume name>-",
 * cut so that the generated name is a DNS-1123 label of at most 63
 * characters. Only for people reading `kubectl get jobs`: the operator finds
 * a release's Job by the record on the volume, or by the volume label.
 */
export function recyclerJobPrefix(volumeName: string): string {
  const readable = readableName(volumeName, maxNameLength - generatedSuffixLength - jobNamePrefix.length - 1);
  return readable === '' ? jobNamePrefix : `${jobNamePrefix}${readable}-`;
}

/**
 * The volume label's value: the volume name when it is a valid label value,
 * else a shortened form with a hash (runtime/label-value.ts).
 */
export function volumeLabelValue(volumeName: string): string {
  return labelValue(volumeName);
}

const gibibyte = 1n << 30n;
const nanoPerUnit = 10n ** 9n;

/**
 * The largest activeDeadlineSeconds the operator sets: 2^31-1 s, about 68
 * years. Kubernetes takes an int64, but a JS number is exact only to 2^53
 * and no scrub needs longer; a hostile capacity must not make the Job
 * spec unrepresentable.
 */
export const maxRecycleDeadlineSeconds = 2 ** 31 - 1;

/**
 * The volume's capacity in whole GiB, as upstream: bytes rounded up, then
 * divided down. At most 2^33 (8Ei, where parsing saturates); a capacity that
 * is not a quantity counts as that largest size, so no deadline is cut short.
 */
export function wholeGiB(volume: V1PersistentVolume): number {
  let nano: bigint;
  try {
    nano = quantityOrZero(volume.spec?.capacity?.storage);
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    nano = beyondInt64Nano;
  }
  if (nano <= 0n) return 0;
  if (nano > beyondInt64Nano) nano = beyondInt64Nano;
  const bytes = (nano + nanoPerUnit - 1n) / nanoPerUnit;
  return Number(bytes / gibibyte);
}

/**
 * activeDeadlineSeconds for the Job: max(minimum, increment × whole GiB) of
 * the volume's source, at most maxRecycleDeadlineSeconds.
 */
export function recycleDeadlineSeconds(
  volume: V1PersistentVolume,
  timeouts: Partial<RecycleTimeouts> = {},
): number {
  const t = { ...defaultRecycleTimeouts, ...timeouts };
  const kind = volumeSourceKind(volume);
  if (kind !== 'nfs' && kind !== 'hostPath') {
    throw new UnsupportedVolumeSource(volume.metadata?.name ?? '', kind);
  }
  const [minimum, increment] =
    kind === 'nfs' ? [t.nfsMinimum, t.nfsIncrement] : [t.hostPathMinimum, t.hostPathIncrement];
  return Math.min(maxRecycleDeadlineSeconds, Math.max(minimum, increment * wholeGiB(volume)));
}

/**
 * The pod volume that mounts the PersistentVolume's own source, read-write:
 * inline, or through the scrub claim when mount options must be honoured.
 */
function scrubVolume(volume: V1PersistentVolume, releaseName: string): V1Volume {
  const name = volume.metadata?.name ?? '';
  const spec = volume.spec ?? {};
  if (needsScrubClaim(volume)) {
    return { name: 'scrub', persistentVolumeClaim: { claimName: scrubClaimName(releaseName) } };
  }
  // isRecyclable has refused every other source, and the roots, before this is called.
  if (spec.nfs) {
    return { name: 'scrub', nfs: { server: spec.nfs.server, path: spec.nfs.path, readOnly: false } };
  }
  if (spec.hostPath) {
    // Directory, never DirectoryOrCreate: on a node without the directory the
    // pod fails to start instead of scrubbing a new, empty one.
    return { name: 'scrub', hostPath: { path: spec.hostPath.path, type: 'Directory' } };
  }
  throw new UnsupportedVolumeSource(name, volumeSourceKind(volume));
}

/**
 * Both node selectors at once. Terms of one selector are ORed, so the result
 * has a term for every pair, with the pair's requirements ANDed.
 */
export function intersectNodeSelectors(
  a: V1NodeSelector | undefined,
  b: V1NodeSelector | undefined,
): V1NodeSelector | undefined {
  if (!a) return b;
  if (!b) return a;
  const terms: V1NodeSelectorTerm[] = [];
  for (const x of a.nodeSelectorTerms) {
    for (const y of b.nodeSelectorTerms) {
      const term: V1NodeSelectorTerm = {};
      const expressions = [...(x.matchExpressions ?? []), ...(y.matchExpressions ?? [])];
      const fields = [...(x.matchFields ?? []), ...(y.matchFields ?? [])];
      if (expressions.length > 0) term.matchExpressions = expressions;
      if (fields.length > 0) term.matchFields = fields;
      terms.push(term);
    }
  }
  return { nodeSelectorTerms: terms };
}

/** The template's affinity plus the volume's node affinity: the pod must run where the volume is. */
function podAffinity(volume: V1PersistentVolume, template: V1Affinity | undefined): V1Affinity | undefined {
  const required = volume.spec?.nodeAffinity?.required;
  if (!required) return template;
  const affinity = structuredClone(template ?? {});
  const nodeAffinity = affinity.nodeAffinity ?? {};
  nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = intersectNodeSelectors(
    nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    structuredClone(required),
  );
  affinity.nodeAffinity = nodeAffinity;
  return affinity;
}

/**
 * The Job that scrubs one release of the volume. Throws
 * UnsupportedVolumeSource for anything but nfs and hostPath, and
 * RecyclerJobError when the volume has no name or uid, or no released claim
 * uid is known.
 */
export function recyclerJob(volume: V1PersistentVolume, options: RecyclerJobOptions): V1Job {
  const name = volume.metadata?.name;
  const uid = volume.metadata?.uid;
  const claimUid = options.claimUid ?? volume.spec?.claimRef?.uid;
  if (!name) throw new RecyclerJobError('a recycler Job needs the volume name');
  if (!uid) throw new RecyclerJobError(`volume ${name}: a recycler Job needs the volume uid`);
  if (!claimUid) throw new RecyclerJobError(`volume ${name}: a recycler Job needs the released claim's uid`);
  const operation = options.operation ?? 'recycle';
  const recyclable = isRecyclable(volume);
  if (!recyclable.ok) throw new UnsupportedVolumeSource(name, volumeSourceKind(volume), recyclable.why);
  const podVolume = scrubVolume(volume, recyclerJobName(name, claimUid));
  const deadline = recycleDeadlineSeconds(volume, options.timeouts);

  const ours = {
    labels: { [managedByLabel.key]: managedByLabel.value, [volumeLabel]: volumeLabelValue(name) },
    annotations: {
      [annVolumeName]: name,
      [annVolumeUid]: uid,
      [annClaimUid]: claimUid,
      [annOperation]: operation,
    },
  };

  const template = structuredClone(options.template ?? defaultRecyclerTemplate());
  const spec = template.spec ?? { containers: [] };
  const base = spec.containers[0] ?? { name: scrubContainerName };
  // Only the fields a template may set are taken from it (see template.ts).
  const podSpec: V1PodSpec = withoutUndefined({
    restartPolicy: 'Never',
    automountServiceAccountToken: spec.automountServiceAccountToken,
    serviceAccountName: spec.serviceAccountName,
    priorityClassName: spec.priorityClassName,
    securityContext: spec.securityContext,
    nodeSelector: spec.nodeSelector,
    tolerations: spec.tolerations,
    affinity: podAffinity(volume, spec.affinity),
    imagePullSecrets: spec.imagePullSecrets,
    containers: [
      withoutUndefined({
        name: scrubContainerName,
        image: base.image,
        imagePullPolicy: base.imagePullPolicy,
        resources: base.resources,
        securityContext: base.securityContext,
        command: scrubCommand(scrubMountPath),
        volumeMounts: [{ name: podVolume.name, mountPath: scrubMountPath }],
        terminationMessagePolicy: 'FallbackToLogsOnError',
      }),
    ],
    volumes: [podVolume],
  });

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      // Never a fixed name: see recyclerJobName.
      generateName: recyclerJobPrefix(name),
      namespace: options.namespace,
      labels: { ...ours.labels },
      annotations: { ...ours.annotations },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          name,
          uid,
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      // The operator retries, with its own backoff, and deletes finished Jobs.
      backoffLimit: 0,
      activeDeadlineSeconds: deadline,
      template: {
        metadata: {
          labels: { ...template.metadata?.labels, ...ours.labels },
          annotations: { ...template.metadata?.annotations, ...ours.annotations },
        },
        spec: podSpec,
      },
    },
  };
}

/** Drops keys whose value is undefined, so the built object compares and prints cleanly. */
function withoutUndefined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
