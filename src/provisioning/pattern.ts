// The pathPattern of a provisioning StorageClass: the directory each claim
// gets below the export, built from the claim and the volume. Parsed once per
// class (a bad pattern is the class's fault, said before any claim uses it),
// expanded per claim. A value taken from a claim is the tenant's to choose, so
// it may never add a level ("/"), climb ("..") or stand for the export itself.

/** The variables a pattern may use; annotation is any key of the claim's annotations. */
export type PatternPart =
  | { literal: string }
  | { variable: 'namespace' | 'name' | 'uid' | 'volumeName' }
  | { variable: 'annotation'; key: string };

export interface PathPattern {
  text: string;
  parts: readonly PatternPart[];
}

/** nfs-subdir-external-provisioner's directory name: readable, and unique by the volume's name. */
export const defaultPattern = '${pvc.metadata.namespace}-${pvc.metadata.name}-${pv.metadata.name}';

/** Longer patterns are refused before they are read. */
export const maxPatternLength = 512;
/** The most levels a pattern may create below the export. */
export const maxDepth = 8;
/** NAME_MAX of the file systems NFS servers export. */
export const maxNameBytes = 255;
/** The longest directory (relative to the export) a pattern may give. */
export const maxDirectoryBytes = 1024;

const variables: Record<string, PatternPart> = {
  'pvc.metadata.namespace': { variable: 'namespace' },
  'pvc.metadata.name': { variable: 'name' },
  'pvc.metadata.uid': { variable: 'uid' },
  'pv.metadata.name': { variable: 'volumeName' },
};
const annotationPrefix = 'pvc.metadata.annotations.';
// A qualified annotation key: optional DNS prefix and "/", then a name (validation.IsQualifiedName).
const annotationKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export class PatternError extends Error {
  override name = 'PatternError';
}

const shown = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** Parses a pattern; throws PatternError saying what is wrong and where. */
export function parsePattern(text: string): PathPattern {
  if (text.length > maxPatternLength) {
    throw new PatternError(`is longer than ${String(maxPatternLength)} characters`);
  }
  if (text.trim() === '') throw new PatternError('is empty');
  if (text.startsWith('/')) {
    throw new PatternError('starts with "/": it names a directory below the export, not an absolute path');
  }
  const parts: PatternPart[] = [];
  let literal = '';
  for (let i = 0; i < text.length;) {
    if (!text.startsWith('${', i)) {
      literal += text.charAt(i);
      i++;
      continue;
    }
    const end = text.indexOf('}', i + 2);
    if (end < 0) throw new PatternError(`has an unclosed "\${" at character ${String(i + 1)}`);
    const name = text.slice(i + 2, end).trim();
    let part = variables[name];
    if (!part && name.startsWith(annotationPrefix)) {
      const key = name.slice(annotationPrefix.length);
      if (!annotationKey.test(key) || key.length > 317) {
        throw new PatternError(`uses ${shown(name)}: ${shown(key)} is not an annotation key`);
      }
      part = { variable: 'annotation', key };
    }
    if (!part) {
      throw new PatternError(
        `uses unknown variable ${shown(name)} (known: ${Object.keys(variables)
          .map((v) => `\${${v}}`)
          .join(', ')}, \${${annotationPrefix}KEY})`,
      );
    }
    if (literal) parts.push({ literal });
    literal = '';
    parts.push(part);
    i = end + 1;
  }
  if (literal) parts.push({ literal });
  checkLiterals(text, parts);
  return { text, parts };
}

/**
 * The literal text alone must not climb out or name odd components: checked
 * on the pattern with each variable as a plain name (and again after expansion).
 */
function checkLiterals(text: string, parts: readonly PatternPart[]): void {
  if (text.includes('\0')) throw new PatternError('contains a NUL character');
  if (parts.every((p) => 'literal' in p)) {
    throw new PatternError('uses no variable, so every claim would get the same directory');
  }
  const skeleton = parts.map((p) => ('literal' in p ? p.literal : 'v')).join('');
  for (const component of skeleton.split('/')) {
    if (component === '..' || component === '.') {
      throw new PatternError(`has a "${component}" component: directories are named, never climbed`);
    }
    if (component === '') throw new PatternError('has an empty component ("//" or a trailing "/")');
  }
}

/** What a pattern is expanded with. */
export interface PatternInput {
  namespace: string;
  name: string;
  uid: string;
  volumeName: string;
  annotations: Readonly<Record<string, string>>;
}

/** The directory below the export, as components; or why the claim cannot have one. */
export type Expansion = { ok: true; components: string[] } | { ok: false; problem: string };

export function expandPattern(pattern: PathPattern, input: PatternInput): Expansion {
  let path = '';
  for (const part of pattern.parts) {
    if ('literal' in part) {
      path += part.literal;
      continue;
    }
    const value = valueOf(part, input);
    if (value === undefined) {
      return {
        ok: false,
        problem: `the claim has no annotation ${shown(partKey(part))}, which pathPattern uses`,
      };
    }
    const bad = badValue(value);
    if (bad) return { ok: false, problem: `${describe(part)} ${shown(value)} ${bad}` };
    path += value;
  }
  const components = path.split('/');
  if (components.length > maxDepth) {
    return {
      ok: false,
      problem: `the directory ${shown(path)} is more than ${String(maxDepth)} levels deep`,
    };
  }
  for (const c of components) {
    const problem = badComponent(c);
    if (problem) return { ok: false, problem: `the directory ${shown(path)} ${problem}` };
  }
  if (Buffer.byteLength(path) > maxDirectoryBytes) {
    return { ok: false, problem: `the directory is longer than ${String(maxDirectoryBytes)} bytes` };
  }
  return { ok: true, components };
}

function valueOf(part: Exclude<PatternPart, { literal: string }>, input: PatternInput): string | undefined {
  switch (part.variable) {
    case 'annotation':
      return Object.hasOwn(input.annotations, part.key) ? input.annotations[part.key] : undefined;
    case 'volumeName':
      return input.volumeName;
    default:
      return input[part.variable];
  }
}

const partKey = (part: PatternPart): string => ('key' in part ? part.key : '');

function describe(part: Exclude<PatternPart, { literal: string }>): string {
  return part.variable === 'annotation'
    ? `annotation ${shown(part.key)} of the claim,`
    : `the claim's ${part.variable}`;
}

/** A value from the claim may fill part of one component, never make or climb levels. */
function badValue(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (value.includes('/')) return 'contains "/"; a value may not add directory levels';
  if (value.includes('\0')) return 'contains a NUL character';
  if (value === '.' || value === '..') return 'would climb out of the directory';
  return undefined;
}

function badComponent(c: string): string | undefined {
  if (c === '') return 'has an empty component';
  if (c === '.' || c === '..') return `has a "${c}" component`;
  if (Buffer.byteLength(c) > maxNameBytes) return `has a component longer than ${String(maxNameBytes)} bytes`;
  // Control characters make names nobody can type or read in a listing.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(c)) return 'has a control character';
  return undefined;
}
