// Measures the local control plane: start time, idle memory and stop time.
//   make bench-cluster [RUNS=3] [IDLE_SECONDS=30]
// Prints one line per run and a summary; asserts nothing about speed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { LocalCluster } from '../cluster/local-cluster.ts';
import { isPortFree } from '../cluster/ports.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.env.RUNS ?? '3');
const idleSeconds = Number(process.env.IDLE_SECONDS ?? '30');

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? '0');
  return kb / 1024;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const starts: number[] = [];
const stops: number[] = [];
const memories: number[] = [];
for (let i = 1; i <= runs; i++) {
  let t = performance.now();
  const cluster = await LocalCluster.start({ dir: join(repoRoot, '.cluster', 'bench') });
  const start = (performance.now() - t) / 1000;
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  const perComponent = cluster.state.processes.map((p) => `${p.name}=${rssMiB(p.pid).toFixed(0)}`);
  const memory = cluster.state.processes.reduce((sum, p) => sum + rssMiB(p.pid), 0);
  const ports = Object.values(cluster.state.ports) as number[];
  t = performance.now();
  await cluster.stop();
  const stop = (performance.now() - t) / 1000;
  const free = (await Promise.all(ports.map(isPortFree))).every(Boolean);
  starts.push(start);
  stops.push(stop);
  memories.push(memory);
  console.log(
    `run ${i}: start ${start.toFixed(1)} s, idle RSS after ${idleSeconds} s ${memory.toFixed(0)} MiB ` +
      `(${perComponent.join(' ')}), stop ${stop.toFixed(1)} s, ports free: ${free ? 'yes' : 'NO'}`,
  );
}
console.log(
  `median of ${runs}: start ${median(starts).toFixed(1)} s, idle RSS ${median(memories).toFixed(0)} MiB, ` +
    `stop ${median(stops).toFixed(1)} s`,
);
