// Watches that tell the benches when claims are Bound and volumes Available:
// client-node's informer (list, then watch), restarted after an error.
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
  makeInformer,
} from '@kubernetes/client-node';

/** When each object was first seen in a phase, by name. */
export class PhaseWatch<T extends KubernetesObject & { status?: { phase?: string } }> {
  /** performance.now() when each name was first seen in the phase. */
  readonly reachedAt = new Map<string, number>();
  private waiters: { done: () => boolean; resolve: () => void }[] = [];
  private stopped = false;
  private readonly informer;

  constructor(kc: KubeConfig, path: string, list: () => Promise<KubernetesListObject<T>>, phase: string) {
    this.informer = makeInformer<T>(kc, path, list);
    const seen = (o: T) => {
      const name = o.metadata?.name ?? '';
      if (o.status?.phase === phase && !this.reachedAt.has(name)) {
        this.reachedAt.set(name, performance.now());
        const ready = this.waiters.filter((w) => w.done());
        this.waiters = this.waiters.filter((w) => !ready.includes(w));
        for (const w of ready) w.resolve();
      }
    };
    this.informer.on('add', seen);
    this.informer.on('update', seen);
    this.informer.on('error', () => {
      if (!this.stopped) setTimeout(() => void this.informer.start().catch(() => undefined), 1000);
    });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer.stop();
  }

  /** Resolves true once done() holds, false after timeoutMs. */
  until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter = {
        done,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  untilCount(n: number, timeoutMs: number): Promise<boolean> {
    return this.until(() => this.reachedAt.size >= n, timeoutMs);
  }

  untilName(name: string, timeoutMs: number): Promise<boolean> {
    return this.until(() => this.reachedAt.has(name), timeoutMs);
  }
}

export function watchBoundClaims(kc: KubeConfig, namespace: string): PhaseWatch<V1PersistentVolumeClaim> {
  const core = kc.makeApiClient(CoreV1Api);
  return new PhaseWatch(
    kc,
    `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
    () => core.listNamespacedPersistentVolumeClaim({ namespace }),
    'Bound',
  );
}

export function watchAvailableVolumes(kc: KubeConfig): PhaseWatch<V1PersistentVolume> {
  const core = kc.makeApiClient(CoreV1Api);
  return new PhaseWatch(kc, '/api/v1/persistentvolumes', () => core.listPersistentVolume(), 'Available');
}
