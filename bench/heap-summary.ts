// Summarises a V8 heap snapshot (as bench-memory writes them): shallow size
// and count by constructor (DevTools' "Summary"), and the objects retaining
// the most (their dominator subtree), with the edge that holds each.
//   node --max-old-space-size=8192 --import tsx bench/heap-summary.ts FILE [TOP=25]
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const file = process.argv[2];
if (!file) throw new Error('usage: heap-summary.ts FILE [TOP]');
const top = Number(process.argv[3] ?? '25');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const { meta } = snap.snapshot;
const nf = meta.node_fields.length;
const ef = meta.edge_fields.length;
const [nType, nName, nSize, nEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) =>
  meta.node_fields.indexOf(f),
) as [number, number, number, number];
const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [
  number,
  number,
  number,
];
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const n = snap.nodes.length / nf;
const at = (i: number, f: number) => snap.nodes[i * nf + f] ?? 0;

/** What DevTools groups a node under: an object's constructor, else its type. */
function label(i: number): string {
  const type = nodeTypes[at(i, nType)] ?? '?';
  const name = snap.strings[at(i, nName)] ?? '';
  if (type === 'object' || type === 'native') return name;
  if (type === 'closure') return `(closure) ${name}`;
  return `(${type})`;
}

// Edges in CSR form (firstEdge[i] .. firstEdge[i+1]), skipping weak ones.
const firstEdge = new Uint32Array(n + 1);
for (let i = 0, e = 0; i < n; i++) {
  firstEdge[i] = e;
  e += at(i, nEdges) * ef;
  firstEdge[i + 1] = e;
}
const weak = edgeTypes.indexOf('weak');
const shortcut = edgeTypes.indexOf('shortcut');
const target = (e: number) => (snap.edges[e + eTo] ?? 0) / nf;
const strong = (e: number) => {
  const t = snap.edges[e + eType];
  return t !== weak && t !== shortcut;
};

// Reverse postorder from the root (node 0), iteratively.
const order = new Int32Array(n).fill(-1);
const post: number[] = [];
const stack: number[] = [0];
const cursor = new Uint32Array(n);
order[0] = 0;
cursor[0] = firstEdge[0] ?? 0;
while (stack.length > 0) {
  const v = stack[stack.length - 1] ?? 0;
  let pushed = false;
  while ((cursor[v] ?? 0) < (firstEdge[v + 1] ?? 0)) {
    const e = cursor[v] ?? 0;
    cursor[v] = e + ef;
    if (!strong(e)) continue;
    const w = target(e);
    if (order[w] !== -1) continue;
    order[w] = 0;
    cursor[w] = firstEdge[w] ?? 0;
    stack.push(w);
    pushed = true;
    break;
  }
  if (!pushed) {
    stack.pop();
    post.push(v);
  }
}
const rpo = post.reverse();
const rank = new Int32Array(n).fill(-1);
rpo.forEach((v, k) => (rank[v] = k));

// The summary first: the dominators below take long on a large snapshot.
const MiB = (b: number) => `${(b / (1 << 20)).toFixed(1)} MiB`;
const byLabel = new Map<string, { count: number; shallow: number }>();
let total = 0;
for (const v of rpo) {
  const s = at(v, nSize);
  total += s;
  const l = label(v);
  const g = byLabel.get(l) ?? { count: 0, shallow: 0 };
  g.count++;
  g.shallow += s;
  byLabel.set(l, g);
}
console.log(`${file}: ${String(rpo.length)} reachable objects, ${MiB(total)}\n`);
console.log('| constructor / type | count | shallow size |');
console.log('| --- | --- | --- |');
for (const [l, g] of [...byLabel].sort((a, b) => b[1].shallow - a[1].shallow).slice(0, top))
  console.log(`| ${l.slice(0, 60)} | ${String(g.count)} | ${MiB(g.shallow)} |`);

// Predecessors, then dominators (Cooper, Harvey, Kennedy).
const predCount = new Uint32Array(n + 1);
for (let v = 0; v < n; v++)
  for (let e = firstEdge[v] ?? 0; e < (firstEdge[v + 1] ?? 0); e += ef)
    if (strong(e) && rank[v] !== -1) predCount[target(e) + 1] = (predCount[target(e) + 1] ?? 0) + 1;
for (let v = 0; v < n; v++) predCount[v + 1] = (predCount[v + 1] ?? 0) + (predCount[v] ?? 0);
const preds = new Uint32Array(predCount[n] ?? 0);
const fill = predCount.slice();
for (let v = 0; v < n; v++)
  for (let e = firstEdge[v] ?? 0; e < (firstEdge[v + 1] ?? 0); e += ef)
    if (strong(e) && rank[v] !== -1) {
      const w = target(e);
      preds[fill[w] ?? 0] = v;
      fill[w] = (fill[w] ?? 0) + 1;
    }
const idom = new Int32Array(n).fill(-1);
idom[0] = 0;
const intersect = (a: number, b: number) => {
  while (a !== b) {
    while ((rank[a] ?? 0) > (rank[b] ?? 0)) a = idom[a] ?? 0;
    while ((rank[b] ?? 0) > (rank[a] ?? 0)) b = idom[b] ?? 0;
  }
  return a;
};
for (let changed = true; changed;) {
  changed = false;
  for (let k = 1; k < rpo.length; k++) {
    const v = rpo[k] ?? 0;
    let d = -1;
    for (let p = predCount[v] ?? 0; p < (predCount[v + 1] ?? 0); p++) {
      const u = preds[p] ?? 0;
      if (idom[u] === -1) continue;
      d = d === -1 ? u : intersect(u, d);
    }
    if (d !== -1 && idom[v] !== d) {
      idom[v] = d;
      changed = true;
    }
  }
}
const retained = new Float64Array(n);
for (let v = 0; v < n; v++) retained[v] = at(v, nSize);
for (let k = rpo.length - 1; k > 0; k--) {
  const v = rpo[k] ?? 0;
  retained[idom[v] ?? 0] = (retained[idom[v] ?? 0] ?? 0) + (retained[v] ?? 0);
}

// The edge name by which each node's dominator (or any holder) reaches it.
function holder(v: number): string {
  const d = idom[v] ?? 0;
  for (let e = firstEdge[d] ?? 0; e < (firstEdge[d + 1] ?? 0); e += ef) {
    if (target(e) !== v) continue;
    const t = edgeTypes[snap.edges[e + eType] ?? 0];
    const nm = snap.edges[e + eName] ?? 0;
    return `${label(d).slice(0, 40)}.${t === 'element' || t === 'hidden' ? `[${String(nm)}]` : (snap.strings[nm] ?? '')}`;
  }
  return label(d).slice(0, 40);
}
console.log('\n| object | retained | held by |');
console.log('| --- | --- | --- |');
const interesting = rpo.filter(
  (v) => nodeTypes[at(v, nType)] !== 'synthetic' && (retained[v] ?? 0) > total / 200,
);
interesting.sort((a, b) => (retained[b] ?? 0) - (retained[a] ?? 0));
for (const v of interesting.slice(0, top))
  console.log(`| ${label(v).slice(0, 60)} | ${MiB(retained[v] ?? 0)} | ${holder(v)} |`);

// The largest strings, by what they start with: a response body or source text kept alive shows here.
console.log('\n| string (start) | size | held by |');
console.log('| --- | --- | --- |');
const strings = rpo.filter((v) => nodeTypes[at(v, nType)] === 'string' && at(v, nSize) > 64 * 1024);
strings.sort((a, b) => at(b, nSize) - at(a, nSize));
for (const v of strings.slice(0, Math.min(top, 10))) {
  const text = (snap.strings[at(v, nName)] ?? '').slice(0, 50).replace(/[|\n\r]/g, ' ');
  console.log(`| ${text} | ${MiB(at(v, nSize))} | ${holder(v)} |`);
}
