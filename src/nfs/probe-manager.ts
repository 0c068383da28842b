// Probes every export's server on an interval, a bounded number at a time,
// and remembers the last answer: the export controller turns it into the
// ServerReachable condition, the binder holds back volumes of a server that
// does not answer, and metrics count the outcomes.
import PQueue from 'p-queue';

import type { Log } from '../runtime/log.ts';
import type { Condition } from './export.ts';
import { type ProbeResult, probeServer } from './probe.ts';
import { connectDirClient } from './connect.ts';

/** An export's file system space as its server reports it (NFSv4 space_total, space_free, space_avail; NFSv3 FSSTAT). */
export interface Space {
  totalBytes: number;
  freeBytes: number;
  availBytes: number;
}

/** A new reading counts as a change (and is written to the status) when available space moved by this share of the total. */
const spaceChangeShare = 0.01;

export interface ProbeManagerOptions {
  intervalMs: number;
  timeoutMs: number;
  concurrency: number;
  nfsPort?: number;
  portmapperPort?: number;
  log: Log;
  /** Called when an export's result changes (reachable or reason). */
  onChange: (exportName: string, result: ProbeResult) => void;
  /** Called when an export's space was first read, or changed by more than 1% of its total. */
  onSpaceChange?: (exportName: string) => void;
  metrics?: { probeResult(reason: string, seconds: number): void };
}

interface Target {
  server: string;
  path: string;
}

export class ProbeManager {
  private readonly opts: ProbeManagerOptions;
  private readonly queue: PQueue;
  private readonly targets = new Map<string, Target>();
  private readonly results = new Map<string, ProbeResult>();
  private readonly spaces = new Map<string, Space>();
  private readonly queued = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(opts: ProbeManagerOptions) {
    this.opts = opts;
    this.queue = new PQueue({ concurrency: opts.concurrency });
  }

  start(): void {
    if (this.opts.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      for (const name of this.targets.keys()) this.schedule(name);
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort(new Error('stopping'));
    this.queue.clear();
    await this.queue.onIdle();
  }

  /** Declares (or updates) what to probe for an export; a new or changed target is probed at once. */
  track(exportName: string, target: Target): void {
    if (this.opts.intervalMs <= 0) return;
    const old = this.targets.get(exportName);
    this.targets.set(exportName, target);
    if (!old || old.server !== target.server || old.path !== target.path) {
      this.results.delete(exportName);
      this.spaces.delete(exportName);
      this.schedule(exportName);
    }
  }

  forget(exportName: string): void {
    this.targets.delete(exportName);
    this.results.delete(exportName);
    this.spaces.delete(exportName);
  }

  /** The export's space at the last reading (servers that answered NFSv4, or NFSv3 only). */
  space(exportName: string): Space | undefined {
    return this.spaces.get(exportName);
  }

  /** Every export's last space reading, for the metrics. */
  allSpaces(): Iterable<[string, Space]> {
    return this.spaces.entries();
  }

  result(exportName: string): ProbeResult | undefined {
    return this.results.get(exportName);
  }

  /** The ServerReachable condition for an export, once it was probed. */
  condition(exportName: string): Omit<Condition, 'lastTransitionTime'> | undefined {
    if (this.opts.intervalMs <= 0) {
      return {
        type: 'ServerReachable',
        status: 'Unknown',
        reason: 'ProbeDisabled',
        message: 'server probes are off (--probe-interval 0)',
      };
    }
    const r = this.results.get(exportName);
    if (!r)
      return {
        type: 'ServerReachable',
        status: 'Unknown',
        reason: 'NotProbedYet',
        message: 'the first probe has not finished',
      };
    return {
      type: 'ServerReachable',
      status: r.reachable ? 'True' : 'False',
      reason: r.reason,
      message: r.message,
    };
  }

  /** Why an export's volume should not get new claims now, if it should not. */
  blockedReason(exportName: string): string | undefined {
    const r = this.results.get(exportName);
    if (!r || r.reachable) return undefined;
    return `NFS server unreachable (${r.reason}: ${r.message})`;
  }

  private schedule(name: string): void {
    if (this.queued.has(name) || this.abort.signal.aborted) return;
    this.queued.add(name);
    void this.queue.add(async () => {
      this.queued.delete(name);
      const target = this.targets.get(name);
      if (!target) return;
      let result: ProbeResult;
      try {
        result = await probeServer(
          { ...target, nfsPort: this.opts.nfsPort, portmapperPort: this.opts.portmapperPort },
          { timeoutMs: this.opts.timeoutMs, signal: this.abort.signal },
        );
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.opts.log.warn('probe failed unexpectedly', { export: name, error: (err as Error).message });
        return;
      }
      this.opts.metrics?.probeResult(result.reason, result.latencyMs / 1000);
      if (!this.targets.has(name)) return;
      const old = this.results.get(name);
      this.results.set(name, result);
      if (!old || old.reachable !== result.reachable || old.reason !== result.reason) {
        this.opts.log.info('NFS server probe', {
          export: name,
          server: target.server,
          reason: result.reason,
          message: result.message,
          ms: Math.round(result.latencyMs),
        });
        this.opts.onChange(name, result);
      }
      const versions = result.nfsVersions ?? [];
      if (result.reachable && (versions.includes(4) || versions.includes(3)))
        await this.readSpace(name, target, versions.includes(4) ? 'auto' : 3);
    });
  }

  /**
   * Reads the space over NFSv4, or NFSv3 (FSSTAT, MOUNT through the
   * portmapper) where the server serves the export only over v3; a failure
   * keeps no reading and is logged at debug (the probe said the server answers).
   */
  private async readSpace(name: string, target: Target, version: 'auto' | 3): Promise<void> {
    let space: Space;
    try {
      const client = await connectDirClient(
        target,
        {
          version,
          port: this.opts.nfsPort ?? 2049,
          ...(this.opts.portmapperPort === undefined ? {} : { portmapperPort: this.opts.portmapperPort }),
        },
        { timeoutMs: this.opts.timeoutMs, signal: this.abort.signal },
      );
      try {
        space = await client.space();
      } finally {
        await client.close();
      }
    } catch (err) {
      this.spaces.delete(name);
      this.opts.log.debug("could not read the export's space", {
        export: name,
        error: (err as Error).message,
      });
      return;
    }
    if (!this.targets.has(name)) return;
    const old = this.spaces.get(name);
    this.spaces.set(name, space);
    const moved = old ? Math.abs(old.availBytes - space.availBytes) : Number.POSITIVE_INFINITY;
    if (!old || old.totalBytes !== space.totalBytes || moved >= spaceChangeShare * space.totalBytes) {
      this.opts.onSpaceChange?.(name);
    }
  }
}
