// Writes of a volume that the API server refused (invalid, forbidden by
// policy or admission): retrying the same write at once cannot succeed, so it
// waits, longer after each refusal, while the export says why in its status.
// Any change to what would be written (the export's spec or labels, the
// volume) is a different write and is tried at once.
import { apiMessage, apiStatus } from '../kube/api-errors.ts';

/** The Ready condition a refusal leaves on the export. */
export interface RefusalCondition {
  type: 'Ready';
  status: 'False';
  reason: string;
  message: string;
}

/** 400, 403, 413 and 422 answer the request itself: the same request gets the same answer. */
export function refusalReason(err: unknown): 'VolumeInvalid' | 'VolumeForbidden' | undefined {
  switch (apiStatus(err)) {
    case 400:
    case 413:
    case 422:
      return 'VolumeInvalid';
    case 403:
      return 'VolumeForbidden';
    default:
      return undefined;
  }
}

export const refusalBaseDelayMs = 10_000;
export const refusalMaxDelayMs = 10 * 60_000;
/** The API's message is kept to this many characters in the condition. */
export const refusalMessageMaxLength = 900;

/** 10 s after the first refusal, doubling, at most 10 minutes. */
export function refusalDelayMs(count: number): number {
  const doublings = Math.min(Math.max(count - 1, 0), 30);
  return Math.min(refusalBaseDelayMs * 2 ** doublings, refusalMaxDelayMs);
}

export function refusalCondition(
  reason: string,
  what: string,
  err: unknown,
  retryInMs: number,
): RefusalCondition {
  const said = apiMessage(err);
  const short = said.length > refusalMessageMaxLength ? `${said.slice(0, refusalMessageMaxLength)}…` : said;
  return {
    type: 'Ready',
    status: 'False',
    reason,
    message: `the API server refused to ${what}: ${short} (tried again in ${String(Math.round(retryInMs / 1000))} s, or when the export changes)`,
  };
}

interface Refusal {
  attempt: string;
  count: number;
  retryAtMs: number;
  condition: RefusalCondition;
}

/** Refused writes per export, in memory (a restarted operator simply tries once more). */
export class WriteRefusals {
  private readonly byExport = new Map<string, Refusal>();

  /** While the same attempt waits: the time left and the condition to keep showing. */
  waiting(
    exportName: string,
    attempt: string,
    nowMs: number,
  ): { retryInMs: number; condition: RefusalCondition } | undefined {
    const r = this.byExport.get(exportName);
    if (!r || r.attempt !== attempt || nowMs >= r.retryAtMs) return undefined;
    return { retryInMs: r.retryAtMs - nowMs, condition: r.condition };
  }

  /** Records a refusal of attempt; returns the wait before it is tried again. */
  refused(
    exportName: string,
    attempt: string,
    nowMs: number,
    condition: (retryInMs: number) => RefusalCondition,
  ): { retryInMs: number; condition: RefusalCondition } {
    const previous = this.byExport.get(exportName);
    const count = previous?.attempt === attempt ? previous.count + 1 : 1;
    const retryInMs = refusalDelayMs(count);
    const c = condition(retryInMs);
    this.byExport.set(exportName, { attempt, count, retryAtMs: nowMs + retryInMs, condition: c });
    return { retryInMs, condition: c };
  }

  /** A write of the export went through, or the export is gone. */
  clear(exportName: string): void {
    this.byExport.delete(exportName);
  }

  get size(): number {
    return this.byExport.size;
  }
}
