// Plots the benches draw for the README: line charts rendered to SVG by
// vega-lite and vega, in process (no browser, no network).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import * as vega from 'vega';
import { type TopLevelSpec, compile } from 'vega-lite';

export interface Series {
  name: string;
  /** [x, y] pairs, in the order to draw them. */
  points: readonly (readonly [number, number])[];
}

export interface LineChart {
  title: string;
  x: string;
  y: string;
  series: readonly Series[];
  /** Draw steps (a distribution) rather than straight segments. */
  step?: boolean;
}

/** The chart as an SVG document. */
export async function lineChartSvg(chart: LineChart): Promise<string> {
  const values = chart.series.flatMap((s) => s.points.map(([x, y], i) => ({ series: s.name, x, y, i })));
  const spec: TopLevelSpec = {
    title: chart.title,
    width: 560,
    height: 280,
    background: 'white',
    data: { values },
    mark: { type: 'line', interpolate: chart.step ? 'step-after' : 'linear', strokeWidth: 2 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: chart.x },
      y: { field: 'y', type: 'quantitative', title: chart.y },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 400 } },
      order: { field: 'i', type: 'quantitative' },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The share of values at or below each value: a distribution's cumulative curve, at most maxPoints points. */
export function cumulative(values: readonly number[], maxPoints = 400): [number, number][] {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const step = Math.max(1, Math.floor(n / maxPoints));
  const points: [number, number][] = [[0, 0]];
  for (let i = step - 1; i < n; i += step) points.push([sorted[i] ?? 0, (i + 1) / n]);
  if (points.at(-1)?.[1] !== 1) points.push([sorted[n - 1] ?? 0, 1]);
  return points;
}

export async function writeLineChart(path: string, chart: LineChart): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, await lineChartSvg(chart));
}
