// What the API server was asked, from its apiserver_request_total counter:
// requests by verb and resource over a window. Pure functions.
import { type Sample, diffCounters, parsePrometheusText, sumBy } from './prometheus.ts';

export const requestMetric = 'apiserver_request_total';

/** Verbs that read; anything else (CREATE, UPDATE, PATCH, DELETE, ...) writes. */
const readVerbs = new Set(['GET', 'LIST', 'WATCH', 'WATCHLIST', 'CONNECT']);
export const isWrite = (verb: string): boolean => !readVerbs.has(verb.toUpperCase());

/**
 * "VERB resource" or "VERB resource/subresource", as the tables print it; a
 * request for a path outside the resources (/openapi/v3) as "VERB /path".
 */
export function requestKey(labels: Record<string, string>): string {
  const verb = labels.verb || '?';
  const resource = labels.resource ?? '';
  const sub = labels.subresource ?? '';
  if (resource === '') return `${verb} /${sub.replace(/^\/+/, '')}`;
  return `${verb} ${sub ? `${resource}/${sub}` : resource}`;
}

export const verbOf = (key: string): string => key.slice(0, key.indexOf(' '));

/** Requests made between two scrapes of /metrics, by requestKey. */
export function requestsBetween(beforeText: string, afterText: string): Map<string, number> {
  const before = parsePrometheusText(beforeText, requestMetric);
  const after = parsePrometheusText(afterText, requestMetric);
  return sumBy(diffCounters(before, after), requestKey);
}

/** a minus b, per key; keys that reach zero or below are dropped (the bench's own requests taken out). */
export function minus(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of a) {
    const left = v - (b.get(k) ?? 0);
    if (left > 0) out.set(k, left);
  }
  return out;
}

export function onlyWrites(requests: Map<string, number>): Map<string, number> {
  return new Map([...requests].filter(([k]) => isWrite(verbOf(k))));
}

/** Orders request keys by resource, then verb, as the tables list them. */
export function compareRequestKeys(a: string, b: string): number {
  const [va = '', ra = ''] = a.split(' ');
  const [vb = '', rb = ''] = b.split(' ');
  return ra === rb ? va.localeCompare(vb) : ra.localeCompare(rb);
}

export const total = (requests: Map<string, number>): number =>
  [...requests.values()].reduce((sum, v) => sum + v, 0);

export type { Sample };
