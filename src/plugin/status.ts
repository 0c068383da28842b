// `kubectl pvl status`: the operator's world at a glance, summed up from the
// objects the caller lists. Pure; `now` is passed in.
import type { V1Job, V1Lease, V1PersistentVolume } from '@kubernetes/client-node';

import { jobCondition, isRunning } from '../reclaim/job-state.ts';
import { annVolumeName } from '../reclaim/job.ts';
import { type Cell, table } from './format.ts';

export interface ExportLike {
  metadata?: { name?: string };
  status?: {
    phase?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  };
}

export interface StatusReport {
  leader:
    { lease: string; holder?: string; renewed?: string; live: boolean } | { lease: string; missing: true };
  /** undefined: the NfsExport CRD is not installed. */
  exports?: {
    byPhase: Record<string, number>;
    byReachability: Record<string, number>;
    unreachable: { name: string; reason: string; message: string }[];
  };
  volumes: { total: number; byPhase: Record<string, number> };
  scrubs: {
    inFlight: { job: string; volume: string; since?: string }[];
    failed: { job: string; volume: string; message: string }[];
  };
  /** What the report could not cover. */
  notes: string[];
}

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

/** A Lease is held while its last renewal is younger than its duration. */
export function leaseLive(lease: V1Lease, now: number): boolean {
  const renewed = lease.spec?.renewTime ?? lease.spec?.acquireTime;
  const seconds = lease.spec?.leaseDurationSeconds;
  if (!lease.spec?.holderIdentity || !renewed || seconds === undefined) return false;
  return new Date(renewed).getTime() + seconds * 1000 > now;
}

export function summarise(input: {
  leaseName: string;
  lease?: V1Lease;
  exports?: readonly ExportLike[];
  volumes: readonly V1PersistentVolume[];
  jobs: readonly V1Job[];
  now: number;
}): StatusReport {
  const { lease, now } = input;
  const leader: StatusReport['leader'] = lease
    ? {
        lease: input.leaseName,
        holder: lease.spec?.holderIdentity,
        renewed: lease.spec?.renewTime ? new Date(lease.spec.renewTime).toISOString() : undefined,
        live: leaseLive(lease, now),
      }
    : { lease: input.leaseName, missing: true };
  const volumes = { total: input.volumes.length, byPhase: {} as Record<string, number> };
  for (const v of input.volumes) bump(volumes.byPhase, v.status?.phase ?? 'Pending');
  let exports: StatusReport['exports'];
  if (input.exports) {
    exports = { byPhase: {}, byReachability: {}, unreachable: [] };
    for (const e of input.exports) {
      bump(exports.byPhase, e.status?.phase ?? 'Pending');
      const c = e.status?.conditions?.find((x) => x.type === 'ServerReachable');
      const reach =
        c === undefined
          ? 'NotProbed'
          : c.status === 'True'
            ? 'Reachable'
            : c.status === 'False'
              ? 'Unreachable'
              : 'Unknown';
      bump(exports.byReachability, reach);
      if (reach === 'Unreachable') {
        exports.unreachable.push({
          name: e.metadata?.name ?? '',
          reason: c?.reason ?? '',
          message: c?.message ?? '',
        });
      }
    }
  }
  const scrubs: StatusReport['scrubs'] = { inFlight: [], failed: [] };
  for (const j of input.jobs) {
    const job = j.metadata?.name ?? '';
    const volume = j.metadata?.annotations?.[annVolumeName] ?? '';
    if (isRunning(j)) {
      const since = j.status?.startTime ?? j.metadata?.creationTimestamp;
      scrubs.inFlight.push({ job, volume, since: since ? new Date(since).toISOString() : undefined });
    } else if (jobCondition(j, 'Failed').status) {
      const c = jobCondition(j, 'Failed');
      scrubs.failed.push({ job, volume, message: `${c.reason ?? 'Failed'}: ${c.message ?? ''}`.trim() });
    }
  }
  return { leader, exports, volumes, scrubs, notes: [] };
}

const counts = (m: Record<string, number>) =>
  Object.entries(m)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ${String(n)}`)
    .join(', ') || 'none';

export function statusTable(r: StatusReport, colour: boolean): string {
  const l = r.leader;
  const leaderCell: Cell =
    'missing' in l
      ? { text: 'no Lease (is the operator running with --leader-elect?)', tone: 'bad' }
      : l.live
        ? { text: `${l.holder ?? '?'} (renewed ${l.renewed ?? '?'})`, tone: 'good' }
        : { text: `none: lease expired (last ${l.holder ?? 'nobody'} at ${l.renewed ?? '?'})`, tone: 'bad' };
  const rows: Cell[][] = [
    ['leader', leaderCell],
    ['lease', l.lease],
    ['volumes', `${String(r.volumes.total)}: ${counts(r.volumes.byPhase)}`],
    [
      'exports',
      r.exports ? counts(r.exports.byPhase) : { text: 'the NfsExport CRD is not installed', tone: 'warn' },
    ],
  ];
  if (r.exports) {
    const bad = r.exports.unreachable.length > 0;
    rows.push(['servers', { text: counts(r.exports.byReachability), tone: bad ? 'bad' : 'good' }]);
  }
  rows.push([
    'scrubs',
    `${String(r.scrubs.inFlight.length)} in flight, ${String(r.scrubs.failed.length)} failed`,
  ]);
  const parts = [table(['', ''], rows, colour).split('\n').slice(1).join('\n')];
  if (r.exports && r.exports.unreachable.length > 0) {
    parts.push(
      '',
      table(
        ['export', 'reason', 'message'],
        r.exports.unreachable.map((u) => [u.name, { text: u.reason, tone: 'bad' }, u.message]),
        colour,
      ),
    );
  }
  const jobs: Cell[][] = [
    ...r.scrubs.inFlight.map((s): Cell[] => [
      s.job,
      s.volume,
      { text: 'Running', tone: 'warn' },
      s.since ? `since ${s.since}` : '',
    ]),
    ...r.scrubs.failed.map((s): Cell[] => [s.job, s.volume, { text: 'Failed', tone: 'bad' }, s.message]),
  ];
  if (jobs.length > 0) parts.push('', table(['scrub job', 'volume', 'state', 'detail'], jobs, colour));
  if (r.notes.length > 0) parts.push('', ...r.notes.map((n) => `note: ${n}`));
  return parts.join('\n');
}
