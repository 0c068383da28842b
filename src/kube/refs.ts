// How objects are named in keys, logs and messages.

/** "namespace/name": a namespaced object's key in caches and queues, and its name in messages. */
export function namespacedName(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}
