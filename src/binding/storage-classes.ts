// What the binder needs to know about StorageClasses: binding mode, the
// provisioner to wait for, and which class is the cluster default.
import type { V1StorageClass } from '@kubernetes/client-node';

import { annBetaDefaultClass, annDefaultClass } from './annotations.ts';

export interface ClassLookup {
  get(name: string): V1StorageClass | undefined;
  list(): V1StorageClass[];
}

export const noProvisioner = 'kubernetes.io/no-provisioner';

export function isDefaultClass(sc: V1StorageClass): boolean {
  const a = sc.metadata?.annotations;
  return a?.[annDefaultClass] === 'true' || a?.[annBetaDefaultClass] === 'true';
}

/** The default class: the newest of those marked default, then the lowest name. */
export function defaultClassName(classes: readonly V1StorageClass[]): string | undefined {
  const created = (sc: V1StorageClass) => new Date(sc.metadata?.creationTimestamp ?? 0).getTime();
  const defaults = classes.filter(isDefaultClass).sort((a, b) => {
    const byAge = created(b) - created(a);
    if (byAge !== 0) return byAge;
    const an = a.metadata?.name ?? '';
    const bn = b.metadata?.name ?? '';
    return an < bn ? -1 : an > bn ? 1 : 0;
  });
  return defaults[0]?.metadata?.name;
}

export function waitsForFirstConsumer(className: string, classes: ClassLookup): boolean {
  if (className === '') return false;
  return classes.get(className)?.volumeBindingMode === 'WaitForFirstConsumer';
}
