// Summarises a V8 CPU profile (.cpuprofile, from node --cpu-prof or the
// benches' CPU_PROFILE=1): self time by package or source file, and the
// hottest functions. It reads the file only.
//   node --import tsx bench/cpu-summary.ts FILE [TOP=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which package or part of the operator a script URL belongs to. */
export function owner(url: string): string {
  if (url === '') return '(native / V8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] ?? url;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] ?? ''}`;
  const own = /\/(src|dist\/src|bench-build\/src)\/(.+)$/.exec(url);
  if (own) return `src/${own[2] ?? ''}`;
  return url;
}

export function summarise(profile: Profile, top: number): string {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byOwner = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const t = self.get(node.id) ?? 0;
    if (t === 0) continue;
    const o = owner(node.callFrame.url);
    byOwner.set(o, (byOwner.get(o) ?? 0) + t);
    const f = `${node.callFrame.functionName || '(anonymous)'} ${o}:${String(node.callFrame.lineNumber + 1)}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + t);
  }
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([k, t]) =>
          `${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`,
      )
      .join('\n');
  return [
    `${(total / 1e6).toFixed(2)} s sampled`,
    '',
    'self time by owner:',
    rows(byOwner),
    '',
    'self time by function:',
    rows(byFunction),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bench/cpu-summary.ts FILE.cpuprofile [TOP]');
  const top = Number(process.argv[3] ?? '25');
  process.stdout.write(`${summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, top)}\n`);
}
