// An in-memory copy of one resource kind, keyed "namespace/name" (or "name"
// for cluster-scoped objects), with secondary indexes.
import { namespacedName } from '../kube/refs.ts';

export interface StoredObject {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    managedFields?: unknown;
  };
}

/** Maps an object to the index values it is filed under (none, one or many). */
export type IndexFunction<T> = (obj: T) => readonly string[];

/**
 * Drops metadata.managedFields, in place: server-side apply's bookkeeping,
 * which no controller here reads, and most of a small object's size (one
 * entry per field manager, each listing the fields it set). Writes stay
 * correct without it: an update (PUT) whose body has no managedFields leaves
 * the server's unchanged (test/integration/informer.test.ts shows it).
 */
export function withoutManagedFields<T extends StoredObject>(obj: T): T {
  // Set to undefined rather than deleted: a delete would make V8 keep the
  // object in the slower, larger dictionary form.
  if (obj.metadata?.managedFields !== undefined) obj.metadata.managedFields = undefined;
  return obj;
}

export function objectKey(obj: StoredObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? namespacedName(ns, obj.metadata?.name) : (obj.metadata?.name ?? '');
}

/**
 * Whether candidate is older than current by resourceVersion. The apiserver's
 * resource versions are etcd revisions; like the upstream controllers, compare
 * them as integers when both parse, and treat anything else as "not older".
 */
export function isOlder(candidate: StoredObject, current: StoredObject): boolean {
  const a = candidate.metadata?.resourceVersion;
  const b = current.metadata?.resourceVersion;
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

export class Store<T extends StoredObject> {
  private readonly objects = new Map<string, T>();
  private readonly indexers: Record<string, IndexFunction<T>> = {};
  private readonly indexes = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Record<string, IndexFunction<T>> = {}) {
    for (const [name, fn] of Object.entries(indexers)) this.addIndex(name, fn);
  }

  /**
   * Files every object, those stored already and all later ones, under fn's
   * values. Each name once: two controllers sharing a cache may not disagree
   * on what an index means.
   */
  addIndex(name: string, fn: IndexFunction<T>): void {
    if (this.indexers[name]) throw new Error(`an index named ${name} exists already`);
    this.indexers[name] = fn;
    const idx = new Map<string, Set<string>>();
    this.indexes.set(name, idx);
    for (const [key, obj] of this.objects) this.file(idx, key, fn(obj));
  }

  get size(): number {
    return this.objects.size;
  }

  get(key: string): T | undefined {
    return this.objects.get(key);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  keys(): string[] {
    return [...this.objects.keys()];
  }

  /** Objects filed under value in the named index. */
  byIndex(index: string, value: string): T[] {
    const idx = this.indexes.get(index);
    if (!idx) throw new Error(`no index named ${index}`);
    const keys = idx.get(value);
    if (!keys) return [];
    return [...keys].flatMap((k) => {
      const obj = this.objects.get(k);
      return obj ? [obj] : [];
    });
  }

  /** Inserts or replaces; returns the previous object. */
  set(obj: T): T | undefined {
    const key = objectKey(obj);
    const previous = this.objects.get(key);
    if (previous) this.unindex(key, previous);
    this.objects.set(key, obj);
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indexes.get(name);
      if (idx) this.file(idx, key, fn(obj));
    }
    return previous;
  }

  private file(idx: Map<string, Set<string>>, key: string, values: readonly string[]): void {
    for (const value of values) {
      let keys = idx.get(value);
      if (!keys) idx.set(value, (keys = new Set()));
      keys.add(key);
    }
  }

  delete(key: string): T | undefined {
    const previous = this.objects.get(key);
    if (!previous) return undefined;
    this.unindex(key, previous);
    this.objects.delete(key);
    return previous;
  }

  private unindex(key: string, obj: T): void {
    for (const [name, fn] of Object.entries(this.indexers)) {
      const idx = this.indexes.get(name);
      if (!idx) continue;
      for (const value of fn(obj)) {
        const keys = idx.get(value);
        keys?.delete(key);
        if (keys?.size === 0) idx.delete(value);
      }
    }
  }
}
