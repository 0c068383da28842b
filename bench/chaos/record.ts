// One watch the chaos bench keeps open for a whole run, recording every event
// of one kind into a shared log for check.ts to replay. Across apiserver
// restarts and dropped connections it resumes from the last resourceVersion
// it saw, so no event is lost and none comes twice; only when the apiserver
// answers 410 Gone (that revision is compacted away) does it list again, and
// then it records the gap: what changed inside it is known only from the list.
import { setTimeout as sleep } from 'node:timers/promises';

import { type KubeConfig, Watch } from '@kubernetes/client-node';

import { type Kind, type KubeObject, type Rec, type WatchEvent, recordOf, revisionOf } from './check.ts';

export interface RecorderOptions {
  kind: Kind;
  kubeConfig: KubeConfig;
  /** The collection's API path, e.g. /api/v1/persistentvolumes. */
  path: string;
  list: () => Promise<{ items: KubeObject[]; metadata?: { resourceVersion?: string } }>;
  /** Where events go, shared by the run's recorders. */
  sink: WatchEvent[];
  /** ms since the run started. */
  clock: () => number;
}

/** Arrival order across all recorders. */
let sequence = 0;

export class Recorder {
  /** The objects as the watch last showed them, by uid. */
  readonly state = new Map<string, { rec: Rec; rv: number }>();
  /** The last revision seen (event or bookmark); a resumed watch starts after it. */
  rv = 0;
  reconnects = 0;
  /** Revision windows only known from a list (after a 410). */
  readonly gaps: { from: number; to: number }[] = [];
  private stopping = false;
  private current: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private readonly opts: RecorderOptions;

  constructor(opts: RecorderOptions) {
    this.opts = opts;
  }

  get kind(): Kind {
    return this.opts.kind;
  }

  /** Lists once, then watches in the background; resolves after the list. */
  async start(): Promise<void> {
    const first = await this.opts.list();
    for (const item of first.items) this.record('ADDED', item, true);
    this.rv = revisionOf(first);
    this.loop = this.run();
  }

  private isStopping(): boolean {
    return this.stopping;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.current?.abort();
    await this.loop;
  }

  /** Drops the current connection; the watch resumes from the last revision at once. */
  reconnect(): void {
    this.current?.abort();
  }

  private async run(): Promise<void> {
    let backoff = 50;
    while (!this.isStopping()) {
      let end: 'expired' | 'ended';
      try {
        end = await this.watchOnce();
      } catch {
        end = 'ended';
      }
      if (this.isStopping()) break;
      if (end === 'expired') {
        try {
          await this.relist();
          backoff = 50;
        } catch {
          await sleep(backoff);
        }
        continue;
      }
      this.reconnects++;
      // Loopback and short: back soon after the apiserver is, so that a relist
      // after a 410 covers as short a window as possible.
      await sleep(backoff);
      backoff = Math.min(250, backoff * 2);
    }
  }

  private async relist(): Promise<void> {
    const list = await this.opts.list();
    const listRv = revisionOf(list);
    const present = new Set<string>();
    for (const item of list.items) {
      present.add(item.metadata?.uid ?? '');
      const known = this.state.get(item.metadata?.uid ?? '');
      if (!known || known.rv < revisionOf(item)) this.record(known ? 'MODIFIED' : 'ADDED', item, true);
    }
    // Deleted somewhere inside the gap; the list's revision is the latest it can have been.
    for (const [uid, { rec }] of this.state) {
      if (present.has(uid)) continue;
      this.state.delete(uid);
      this.push({ kind: this.opts.kind, type: 'DELETED', rv: listRv, rec, listed: true });
    }
    this.gaps.push({ from: this.rv, to: listRv });
    this.rv = listRv;
  }

  private watchOnce(): Promise<'expired' | 'ended'> {
    return new Promise((resolve, reject) => {
      let expired = false;
      const onEvent = (type: string, raw: unknown) => {
        const obj = raw as KubeObject & { code?: number };
        if (type === 'ERROR') {
          expired = obj.code === 410;
          this.current?.abort();
          return;
        }
        if (type === 'BOOKMARK') {
          this.rv = Math.max(this.rv, revisionOf(obj));
          return;
        }
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') this.record(type, obj, false);
      };
      const done = () => {
        resolve(expired ? 'expired' : 'ended');
      };
      new Watch(this.opts.kubeConfig)
        .watch(this.opts.path, { resourceVersion: String(this.rv), allowWatchBookmarks: true }, onEvent, done)
        .then((c) => {
          this.current = c;
          if (this.isStopping()) c.abort();
        })
        .catch(reject);
    });
  }

  private record(type: WatchEvent['type'], obj: KubeObject, listed: boolean): void {
    const rv = revisionOf(obj);
    const rec = recordOf(this.opts.kind, obj);
    if (type === 'DELETED') this.state.delete(rec.uid);
    else this.state.set(rec.uid, { rec, rv });
    this.rv = Math.max(this.rv, rv);
    this.push({ kind: this.opts.kind, type, rv, rec, listed });
  }

  private push(e: Omit<WatchEvent, 'seq' | 'at'>): void {
    this.opts.sink.push({ ...e, seq: sequence++, at: this.opts.clock() });
  }
}
