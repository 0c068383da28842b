// The recycler pod template: what an administrator may change about the pods
// that scrub volumes (image, resources, security contexts, scheduling), read
// from YAML or JSON in a file or a ConfigMap key, checked field by field, and
// merged over the operator's defaults. Everything that decides what the pod
// does to the volume (command, volumes, mounts, restart policy, host
// namespaces) stays the operator's.
import type {
  V1Container,
  V1LocalObjectReference,
  V1PodSpec,
  V1PodTemplateSpec,
  V1ResourceRequirements,
  V1Toleration,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

import { QuantityError, isBeyondInt64, parseQuantity, shortText } from '../kube/quantity.ts';

/** Pinned: the scrub script is tested against busybox sh and find. */
export const defaultRecyclerImage = 'busybox:1.37';

/** The name of the recycler pod's only container. */
export const scrubContainerName = 'scrub';

/**
 * The operator's own template. The scrub runs as root because a volume holds
 * files of many users and, on NFS without root squashing, only root may
 * remove them all; but with every capability dropped except the two that
 * removing other users' files needs:
 * - DAC_OVERRIDE: unlinking needs write and search permission on the parent
 *   directory, and listing it needs read permission; directories of other
 *   users (mode 0700, 0755) grant neither to root without this capability.
 * - FOWNER: in a sticky directory (mode 1777, like a /tmp inside the volume)
 *   only the owner of a file or of the directory may remove it.
 * CHOWN is not needed: nothing is chowned. No privilege escalation, a
 * read-only root filesystem (the script writes only to the volume and to the
 * termination message file the kubelet mounts), the runtime's default seccomp
 * profile, and no service account token (the pod never calls the API).
 * Pod Security: this meets the "baseline" level, not "restricted" (root, added
 * capabilities), so the operator's namespace must allow baseline. With NFS
 * exports that squash root, set runAsUser to the owner of the export's files.
 */
export function defaultRecyclerTemplate(): V1PodTemplateSpec {
  return {
    metadata: {},
    spec: {
      automountServiceAccountToken: false,
      containers: [
        {
          name: scrubContainerName,
          image: defaultRecyclerImage,
          imagePullPolicy: 'IfNotPresent',
          resources: {
            requests: { cpu: '10m', memory: '16Mi' },
            limits: { memory: '64Mi' },
          },
          securityContext: {
            runAsUser: 0,
            runAsGroup: 0,
            runAsNonRoot: false,
            privileged: false,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'], add: ['DAC_OVERRIDE', 'FOWNER'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    },
  };
}

export class RecyclerTemplateError extends Error {
  /** Where the template came from, e.g. "file /etc/recycler.yaml". */
  readonly source: string;
  /** Each problem found, with its field path. */
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(`recycler template (${source}): ${problems.join('; ')}`);
    this.name = 'RecyclerTemplateError';
    this.source = source;
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------
// Field checks. Each takes the value and its path, and records problems.

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Checker {
  readonly problems: string[] = [];

  add(path: string, problem: string): void {
    this.problems.push(`${path} ${problem}`);
  }

  /** The mapping at path, with unknown keys reported; undefined if not a mapping. */
  mapping(
    value: unknown,
    path: string,
    allowed: readonly string[],
    forbidden: Readonly<Record<string, string>> = {},
  ): Mapping | undefined {
    if (!isMapping(value)) {
      this.add(path, 'must be a mapping');
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (allowed.includes(key)) continue;
      const at = path === '' ? key : `${path}.${key}`;
      const why = forbidden[key];
      if (why !== undefined) this.problems.push(`${at} is not allowed: ${why}`);
      else this.problems.push(`${at} is not allowed (allowed here: ${allowed.join(', ')})`);
    }
    return value;
  }

  string(value: unknown, path: string): string | undefined {
    if (typeof value === 'string' && value !== '') return value;
    this.add(path, 'must be a non-empty string');
    return undefined;
  }

  oneOf(value: unknown, path: string, choices: readonly string[]): string | undefined {
    if (typeof value === 'string' && choices.includes(value)) return value;
    this.add(path, `must be one of ${choices.join(', ')}`);
    return undefined;
  }

  boolean(value: unknown, path: string): boolean | undefined {
    if (typeof value === 'boolean') return value;
    this.add(path, 'must be true or false');
    return undefined;
  }

  integer(value: unknown, path: string): number | undefined {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    this.add(path, 'must be a whole number, 0 or more');
    return undefined;
  }

  stringList(value: unknown, path: string): string[] | undefined {
    if (!Array.isArray(value)) {
      this.add(path, 'must be a list of strings');
      return undefined;
    }
    const out: string[] = [];
    value.forEach((item: unknown, i) => {
      const s = this.string(item, `${path}[${String(i)}]`);
      if (s !== undefined) out.push(s);
    });
    return out;
  }

  list(value: unknown, path: string): unknown[] | undefined {
    if (Array.isArray(value)) return value as unknown[];
    this.add(path, 'must be a list');
    return undefined;
  }

  /** Labels or annotations: qualified-name keys, string values. */
  stringMap(
    value: unknown,
    path: string,
    kind: 'label' | 'annotation' | 'node selector',
  ): Record<string, string> {
    const out: Record<string, string> = {};
    if (!isMapping(value)) {
      this.add(path, 'must be a mapping of strings to strings');
      return out;
    }
    for (const [key, v] of Object.entries(value)) {
      const at = `${path}[${JSON.stringify(key)}]`;
      const keyProblem = qualifiedNameProblem(key);
      if (keyProblem !== undefined) {
        this.problems.push(`${path} has an invalid key ${JSON.stringify(key)}: ${keyProblem}`);
        continue;
      }
      if (typeof v !== 'string') {
        this.add(at, 'must be a string (quote numbers and booleans)');
        continue;
      }
      if (kind !== 'annotation' && !labelValuePattern.test(v)) {
        this.add(
          at,
          'must be at most 63 characters of letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
        );
        continue;
      }
      out[key] = v;
    }
    return out;
  }

  quantityMap(value: unknown, path: string): Record<string, string> | undefined {
    if (!isMapping(value)) {
      this.add(path, 'must be a mapping of resource names to quantities');
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [key, v] of Object.entries(value)) {
      const at = `${path}.${key}`;
      const text = typeof v === 'number' && Number.isFinite(v) ? String(v) : v;
      if (typeof text !== 'string') {
        this.add(at, 'must be a quantity such as 100m, 64Mi or 1');
        continue;
      }
      try {
        const nano = parseQuantity(text);
        if (nano < 0n) {
          this.add(at, 'must not be negative');
          continue;
        }
        if (isBeyondInt64(nano)) {
          this.add(at, `must be at most 2^63-1, not ${JSON.stringify(shortText(text))}`);
          continue;
        }
      } catch (err) {
        if (!(err instanceof QuantityError)) throw err;
        this.add(at, `must be a quantity such as 100m, 64Mi or 1, not ${JSON.stringify(shortText(text))}`);
        continue;
      }
      out[key] = text;
    }
    return out;
  }
}

const labelValuePattern = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const namePartPattern = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const dnsSubdomainPattern = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** Why a label or annotation key is invalid, or undefined if it is valid. */
function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !dnsSubdomainPattern.test(prefix))) {
    return 'the prefix must be a DNS subdomain';
  }
  if (!namePartPattern.test(name)) {
    return 'the name must be 1 to 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit';
  }
  return undefined;
}

const imagePullPolicies = ['Always', 'IfNotPresent', 'Never'] as const;

const podSpecFields = [
  'containers',
  'securityContext',
  'nodeSelector',
  'tolerations',
  'affinity',
  'priorityClassName',
  'serviceAccountName',
  'imagePullSecrets',
  'automountServiceAccountToken',
] as const;

const forbiddenPodSpecFields: Record<string, string> = {
  volumes: 'the recycler mounts the volume to scrub itself',
  initContainers: 'the scrub container is the only one',
  ephemeralContainers: 'the scrub container is the only one',
  restartPolicy: 'recycler pods never restart (the operator retries)',
  activeDeadlineSeconds: 'the operator sets the deadline from the volume size',
  hostPID: 'the recycler needs no host namespaces',
  hostIPC: 'the recycler needs no host namespaces',
  hostNetwork: 'the recycler needs no host namespaces',
  hostUsers: 'the recycler needs no host namespaces',
  nodeName: 'use nodeSelector or affinity, so the scheduler still checks the volume node affinity',
};

const containerFields = ['name', 'image', 'imagePullPolicy', 'resources', 'securityContext'] as const;

const forbiddenContainerFields: Record<string, string> = {
  command: 'the recycler runs its own scrub script',
  args: 'the recycler runs its own scrub script',
  volumeMounts: 'the recycler mounts the volume to scrub itself',
  volumeDevices: 'the recycler mounts the volume to scrub itself',
  workingDir: 'the recycler runs its own scrub script',
  env: 'the scrub script takes no settings',
  envFrom: 'the scrub script takes no settings',
};

const containerSecurityFields = [
  'allowPrivilegeEscalation',
  'appArmorProfile',
  'capabilities',
  'privileged',
  'procMount',
  'readOnlyRootFilesystem',
  'runAsGroup',
  'runAsNonRoot',
  'runAsUser',
  'seLinuxOptions',
  'seccompProfile',
  'windowsOptions',
] as const;

const podSecurityFields = [
  'appArmorProfile',
  'fsGroup',
  'fsGroupChangePolicy',
  'runAsGroup',
  'runAsNonRoot',
  'runAsUser',
  'seLinuxChangePolicy',
  'seLinuxOptions',
  'seccompProfile',
  'supplementalGroups',
  'supplementalGroupsPolicy',
  'sysctls',
  'windowsOptions',
] as const;

const booleanSecurityFields = new Set([
  'allowPrivilegeEscalation',
  'privileged',
  'readOnlyRootFilesystem',
  'runAsNonRoot',
]);
const integerSecurityFields = new Set(['runAsUser', 'runAsGroup', 'fsGroup']);
const stringSecurityFields = new Set([
  'procMount',
  'fsGroupChangePolicy',
  'seLinuxChangePolicy',
  'supplementalGroupsPolicy',
]);
const mappingSecurityFields = new Set([
  'appArmorProfile',
  'seLinuxOptions',
  'seccompProfile',
  'windowsOptions',
]);

/** The checks shared by pod and container security contexts; unknown keys are reported by the caller. */
function checkSecurityContext(c: Checker, sc: Mapping, path: string): Mapping {
  const out: Mapping = {};
  for (const [key, value] of Object.entries(sc)) {
    const at = `${path}.${key}`;
    let checked: unknown;
    if (booleanSecurityFields.has(key)) checked = c.boolean(value, at);
    else if (integerSecurityFields.has(key)) checked = c.integer(value, at);
    else if (stringSecurityFields.has(key)) checked = c.string(value, at);
    else if (mappingSecurityFields.has(key)) {
      if (!isMapping(value)) c.add(at, 'must be a mapping');
      checked = value;
    } else if (key === 'capabilities') {
      const caps = c.mapping(value, at, ['add', 'drop']);
      if (caps) {
        checked = {
          ...(caps.add !== undefined && { add: c.stringList(caps.add, `${at}.add`) }),
          ...(caps.drop !== undefined && { drop: c.stringList(caps.drop, `${at}.drop`) }),
        };
      }
    } else if (key === 'supplementalGroups') {
      const groups = c.list(value, at);
      checked = groups?.map((g, i) => c.integer(g, `${at}[${String(i)}]`));
    } else if (key === 'sysctls') {
      checked = c.list(value, at)?.map((s, i) => {
        const item = c.mapping(s, `${at}[${String(i)}]`, ['name', 'value']);
        if (item) {
          c.string(item.name, `${at}[${String(i)}].name`);
          if (typeof item.value !== 'string') c.add(`${at}[${String(i)}].value`, 'must be a string');
        }
        return s;
      });
    } else continue; // not allowed here: reported by the caller
    out[key] = checked;
  }
  return out;
}

function checkContainer(c: Checker, value: unknown, path: string): V1Container | undefined {
  const m = c.mapping(value, path, containerFields, forbiddenContainerFields);
  if (!m) return undefined;
  const out: Partial<V1Container> = {};
  if (m.name !== undefined) c.string(m.name, `${path}.name`); // the operator names it "scrub" regardless
  if (m.image !== undefined) {
    const image = c.string(m.image, `${path}.image`);
    if (image !== undefined && /\s/.test(image)) c.add(`${path}.image`, 'must not contain spaces');
    else out.image = image;
  }
  if (m.imagePullPolicy !== undefined) {
    out.imagePullPolicy = c.oneOf(m.imagePullPolicy, `${path}.imagePullPolicy`, imagePullPolicies);
  }
  if (m.resources !== undefined) {
    const r = c.mapping(m.resources, `${path}.resources`, ['requests', 'limits']);
    if (r) {
      const resources: V1ResourceRequirements = {};
      if (r.requests !== undefined)
        resources.requests = c.quantityMap(r.requests, `${path}.resources.requests`);
      if (r.limits !== undefined) resources.limits = c.quantityMap(r.limits, `${path}.resources.limits`);
      out.resources = resources;
    }
  }
  if (m.securityContext !== undefined) {
    const at = `${path}.securityContext`;
    const sc = c.mapping(m.securityContext, at, containerSecurityFields);
    if (sc) {
      out.securityContext = checkSecurityContext(c, sc, at);
      if (sc.privileged === true) {
        c.problems.push(
          `${at}.privileged: true is not allowed: removing files needs no privileged container`,
        );
      }
    }
  }
  return out as V1Container;
}

function checkToleration(c: Checker, value: unknown, path: string): V1Toleration | undefined {
  const t = c.mapping(value, path, ['key', 'operator', 'value', 'effect', 'tolerationSeconds']);
  if (!t) return undefined;
  if (t.key !== undefined && typeof t.key !== 'string') c.add(`${path}.key`, 'must be a string');
  if (t.value !== undefined && typeof t.value !== 'string') c.add(`${path}.value`, 'must be a string');
  if (t.operator !== undefined) c.oneOf(t.operator, `${path}.operator`, ['Exists', 'Equal']);
  if (t.effect !== undefined)
    c.oneOf(t.effect, `${path}.effect`, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']);
  if (t.tolerationSeconds !== undefined) c.integer(t.tolerationSeconds, `${path}.tolerationSeconds`);
  return t;
}

function checkSpec(c: Checker, value: unknown): V1PodSpec | undefined {
  const spec = c.mapping(value, 'spec', podSpecFields, forbiddenPodSpecFields);
  if (!spec) return undefined;
  // Always a list, so that readers need not guard: empty when not given.
  const out: V1PodSpec = { containers: [] };
  if (spec.containers !== undefined) {
    const list = c.list(spec.containers, 'spec.containers');
    if (list && list.length !== 1) {
      c.add('spec.containers', `must hold exactly one container (the scrub), not ${String(list.length)}`);
    } else if (list) {
      const container = checkContainer(c, list[0], 'spec.containers[0]');
      if (container) out.containers = [container];
    }
  }
  if (spec.securityContext !== undefined) {
    const sc = c.mapping(spec.securityContext, 'spec.securityContext', podSecurityFields);
    if (sc) out.securityContext = checkSecurityContext(c, sc, 'spec.securityContext');
  }
  if (spec.nodeSelector !== undefined) {
    out.nodeSelector = c.stringMap(spec.nodeSelector, 'spec.nodeSelector', 'node selector');
  }
  if (spec.tolerations !== undefined) {
    const list = c.list(spec.tolerations, 'spec.tolerations');
    if (list) {
      out.tolerations = list
        .map((t, i) => checkToleration(c, t, `spec.tolerations[${String(i)}]`))
        .filter((t) => t !== undefined);
    }
  }
  if (spec.affinity !== undefined) {
    const a = c.mapping(spec.affinity, 'spec.affinity', ['nodeAffinity', 'podAffinity', 'podAntiAffinity']);
    if (a) {
      for (const [key, v] of Object.entries(a)) {
        if (!isMapping(v)) c.add(`spec.affinity.${key}`, 'must be a mapping');
      }
      out.affinity = a;
    }
  }
  if (spec.priorityClassName !== undefined) {
    out.priorityClassName = c.string(spec.priorityClassName, 'spec.priorityClassName');
  }
  if (spec.serviceAccountName !== undefined) {
    out.serviceAccountName = c.string(spec.serviceAccountName, 'spec.serviceAccountName');
  }
  if (spec.imagePullSecrets !== undefined) {
    const list = c.list(spec.imagePullSecrets, 'spec.imagePullSecrets');
    if (list) {
      const secrets: V1LocalObjectReference[] = [];
      list.forEach((s, i) => {
        const at = `spec.imagePullSecrets[${String(i)}]`;
        const ref = c.mapping(s, at, ['name']);
        const name = ref ? c.string(ref.name, `${at}.name`) : undefined;
        if (name !== undefined) secrets.push({ name });
      });
      out.imagePullSecrets = secrets;
    }
  }
  if (spec.automountServiceAccountToken !== undefined) {
    out.automountServiceAccountToken = c.boolean(
      spec.automountServiceAccountToken,
      'spec.automountServiceAccountToken',
    );
  }
  return out;
}

/** Checks an already-parsed template; returns it reduced to the allowed fields. */
export function checkRecyclerTemplate(value: unknown, source: string): V1PodTemplateSpec {
  const c = new Checker();
  const top = isMapping(value)
    ? c.mapping(value, '', ['metadata', 'spec'], {
        apiVersion: 'the template is a pod template spec: metadata and spec only',
        kind: 'the template is a pod template spec: metadata and spec only',
        template: 'give the pod template itself: metadata and spec at the top',
      })
    : undefined;
  if (!top) {
    throw new RecyclerTemplateError(source, [
      `must be a mapping of metadata and spec (a pod template spec), not ${describe(value)}`,
    ]);
  }
  const template: V1PodTemplateSpec = {};
  if (top.metadata !== undefined) {
    const meta = c.mapping(top.metadata, 'metadata', ['labels', 'annotations'], {
      name: 'the operator names recycler pods',
      namespace: 'recycler pods run in the operator namespace',
      generateName: 'the operator names recycler pods',
      ownerReferences: 'the Job owns its pods',
      finalizers: 'recycler pods must be deletable',
    });
    if (meta) {
      template.metadata = {};
      if (meta.labels !== undefined)
        template.metadata.labels = c.stringMap(meta.labels, 'metadata.labels', 'label');
      if (meta.annotations !== undefined) {
        template.metadata.annotations = c.stringMap(meta.annotations, 'metadata.annotations', 'annotation');
      }
    }
  }
  if (top.spec !== undefined) template.spec = checkSpec(c, top.spec);
  if (c.problems.length > 0) throw new RecyclerTemplateError(source, c.problems);
  return template;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

export const maxTemplateLength = 64 * 1024;

/**
 * Parses an administrator's recycler pod template, YAML or JSON (JSON is
 * YAML), one document. `source` names where the text came from for messages:
 * "file /etc/recycler.yaml", "configmap ns/name key template.yaml".
 * Throws RecyclerTemplateError listing every problem with its field path.
 */
export function parseRecyclerTemplate(text: string, source: string): V1PodTemplateSpec {
  // A pod template is a few hundred bytes; a ConfigMap holds at most 1 MiB.
  if (text.length > maxTemplateLength) {
    throw new RecyclerTemplateError(source, [
      `is ${String(text.length)} characters long, more than the ${String(maxTemplateLength)} a pod template may take`,
    ]);
  }
  const docs = parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs) || docs.length === 0) {
    throw new RecyclerTemplateError(source, ['is empty']);
  }
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const at = err.linePos?.[0];
      const where = at ? `at line ${String(at.line)}, column ${String(at.col)}` : 'somewhere';
      const message = err.message.replace(/ at line \d+, column \d+[\s\S]*$/, '');
      throw new RecyclerTemplateError(source, [`invalid YAML ${where}: ${message}`]);
    }
  }
  if (docs.length > 1) {
    throw new RecyclerTemplateError(source, [`holds ${String(docs.length)} YAML documents; give one`]);
  }
  const [doc] = docs;
  let value: unknown;
  try {
    value = doc?.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // The yaml library refuses alias bombs (and bad anchors) with a ReferenceError.
    throw new RecyclerTemplateError(source, [`cannot be read as YAML: ${(err as Error).message}`]);
  }
  if (value === null || value === undefined) throw new RecyclerTemplateError(source, ['is empty']);
  return checkRecyclerTemplate(value, source);
}

/**
 * The administrator's template over the defaults. Labels and annotations are
 * merged key by key (the administrator's win here; the operator's own keys
 * win over both when the Job is built). Every other allowed field the
 * administrator sets replaces the default's as a whole: a securityContext,
 * resources or affinity given in the template is the complete one.
 * The result is a fresh object sharing nothing with either input.
 */
export function mergeTemplate(defaults: V1PodTemplateSpec, admin?: V1PodTemplateSpec): V1PodTemplateSpec {
  const d = structuredClone(defaults);
  const a = structuredClone(admin ?? {});
  const labels = { ...d.metadata?.labels, ...a.metadata?.labels };
  const annotations = { ...d.metadata?.annotations, ...a.metadata?.annotations };
  const metadata: V1PodTemplateSpec['metadata'] = {};
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;

  const dc: Partial<V1Container> = d.spec?.containers[0] ?? {};
  const ac: Partial<V1Container> = a.spec?.containers[0] ?? {};
  const container: V1Container = { name: scrubContainerName };
  for (const field of ['image', 'imagePullPolicy', 'resources', 'securityContext'] as const) {
    const value = ac[field] ?? dc[field];
    if (value !== undefined) Object.assign(container, { [field]: value });
  }

  const spec: V1PodSpec = { containers: [container] };
  for (const field of podSpecFields) {
    if (field === 'containers') continue;
    const value = a.spec?.[field] ?? d.spec?.[field];
    if (value !== undefined) Object.assign(spec, { [field]: value });
  }
  return { metadata, spec };
}
