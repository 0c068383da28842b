// Every change the API reports for a collection, in the order the watch
// delivers it: lets a test assert what happened before what ("the volume was
// never Available before a verified scrub") rather than only the end state.
import { type KubeConfig, Watch } from '@kubernetes/client-node';

export interface Seen<T> {
  type: string;
  object: T;
  /** Position in arrival order across every Timeline of the process. */
  seq: number;
}

let counter = 0;

export class Timeline<T> {
  readonly seen: Seen<T>[] = [];
  private abort: AbortController | undefined;

  private constructor() {}

  /** Watches path (e.g. /api/v1/persistentvolumes) with an optional field or label selector. */
  static async start<T>(
    kc: KubeConfig,
    path: string,
    query: Record<string, string> = {},
  ): Promise<Timeline<T>> {
    const t = new Timeline<T>();
    t.abort = await new Watch(kc).watch(
      path,
      { ...query, allowWatchBookmarks: 'false' },
      (type: string, object: T) => {
        t.seen.push({ type, object, seq: ++counter });
      },
      () => undefined,
    );
    return t;
  }

  stop(): void {
    this.abort?.abort();
  }
}
