// The manager's own rules, with triggers and hand-made sources (no cluster:
// nothing here is started against an API server).
import { KubeConfig, type V1PersistentVolume } from '@kubernetes/client-node';
import { expect } from 'chai';

import { persistentVolumes } from '../../src/kube/kinds.ts';
import { silentLog } from '../../src/runtime/log.ts';
import { Manager } from '../../src/runtime/manager.ts';
import { Metrics } from '../../src/runtime/metrics.ts';
import { type Syncable, Trigger, type Watch, watchTrigger } from '../../src/runtime/source.ts';
import { eventually, sleep } from '../support/wait.ts';

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

function manager(): Manager {
  return new Manager({
    kubeConfig: kubeConfig(),
    log: silentLog,
    metrics: new Metrics(),
    workers: 2,
    resyncPeriodMs: 0,
    requestTimeoutMs: 1000,
  });
}

/** A source that syncs when told to. */
class Gate implements Syncable {
  readonly name: string;
  private synced = false;
  private waiters: (() => void)[] = [];
  constructor(name: string) {
    this.name = name;
  }
  open(): void {
    this.synced = true;
    for (const w of this.waiters.splice(0)) w();
  }
  hasSynced(): boolean {
    return this.synced;
  }
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

const gated = (gate: Gate): Watch => ({ source: gate, subscribe: () => undefined });

describe('manager', () => {
  it('shares one informer per kind and refuses the same name for another path', () => {
    const m = manager();
    const a = m.informer(persistentVolumes);
    const b = m.informer(persistentVolumes, {
      indexers: { byClass: (v) => [v.spec?.storageClassName ?? ''] },
    });
    expect(a).to.equal(b);
    expect(() => m.informer({ ...persistentVolumes, path: '/api/v1/other' })).to.throw(/already declared/);
    expect(() =>
      m.informer(persistentVolumes, { indexers: { byClass: (v: V1PersistentVolume) => [v.kind ?? ''] } }),
    ).to.throw(/index named byClass exists/);
  });

  it('maps trigger values to keys, and reconciles nothing before leading, then what was asked meanwhile', async () => {
    const m = manager();
    const poke = new Trigger<string>('poke');
    const seen: string[] = [];
    m.controller({
      name: 'c',
      reconcile: (key) => {
        seen.push(key);
        return Promise.resolve(undefined);
      },
      watches: [watchTrigger(poke, (v) => [`k-${v}`, `k-${v}`])],
    });
    let lead: () => void = () => undefined;
    const leading = new Promise<void>((r) => (lead = r));
    const started = m.start(leading);
    poke.fire('a');
    await sleep(50);
    expect(seen).to.deep.equal([]);
    lead();
    await started;
    await eventually('the reconciles', () => Promise.resolve(seen.length === 1 ? true : undefined));
    poke.fire('b');
    await eventually('the reconciles', () => Promise.resolve(seen.length === 2 ? true : undefined));
    expect(seen).to.deep.equal(['k-a', 'k-b']);
    await m.stop();
  });

  it('starts each controller once its own sources sync; readiness is per name and combines controllers', async () => {
    const m = manager();
    const slow = new Gate('slow');
    const fast = new Gate('fast');
    const ran: string[] = [];
    const poke = new Trigger<string>('poke');
    for (const [name, gate] of [
      ['a', slow],
      ['b', fast],
    ] as const) {
      m.controller({
        name,
        readiness: name === 'a' ? 'shared' : 'own',
        reconcile: (key) => {
          ran.push(`${name}/${key}`);
          return Promise.resolve(undefined);
        },
        watches: [gated(gate), watchTrigger(poke, (v) => [v])],
      });
    }
    m.controller({
      name: 'c',
      readiness: 'shared',
      reconcile: () => Promise.resolve(undefined),
      watches: [gated(fast)],
    });
    const checks = m.readyChecks();
    expect(Object.keys(checks).sort()).to.deep.equal(['own', 'shared']);
    void m.start();
    poke.fire('x');
    fast.open();
    await eventually('the reconciles', () => Promise.resolve(ran.includes('b/x') ? true : undefined));
    expect(ran).to.deep.equal(['b/x']);
    expect(checks.own?.()).to.equal(true);
    expect(checks.shared?.()).to.equal(false);
    expect(m.ready()).to.equal(false);
    slow.open();
    await eventually('the reconciles', () => Promise.resolve(ran.includes('a/x') ? true : undefined));
    expect(checks.shared?.()).to.equal(true);
    expect(m.ready()).to.equal(true);
    await m.stop();
  });

  it('adds a readiness check of its own beside the controllers; one that throws fails ready()', () => {
    const m = manager();
    const finding = { why: '' };
    m.addReadyCheck('finding', () => {
      if (finding.why) throw new Error(finding.why);
      return true;
    });
    expect(() => {
      m.addReadyCheck('finding', () => true);
    }).to.throw('a ready check named finding exists already');
    expect(Object.keys(m.readyChecks())).to.deep.equal(['finding']);
    expect(m.ready()).to.equal(true);
    finding.why = 'something is wrong';
    expect(m.ready()).to.equal(false);
    expect(() => m.readyChecks().finding?.()).to.throw('something is wrong');
  });

  it('stops controllers (their in-flight reconcile finishing) before the runnables, in reverse order', async () => {
    const m = manager();
    const order: string[] = [];
    const poke = new Trigger<string>('poke');
    let inFlight = false;
    m.add({ name: 'first', start: () => undefined, stop: () => Promise.resolve(void order.push('first')) });
    m.add({ name: 'second', start: () => undefined, stop: () => Promise.resolve(void order.push('second')) });
    m.controller({
      name: 'c',
      reconcile: async () => {
        inFlight = true;
        await sleep(100);
        order.push('reconcile done');
        return undefined;
      },
      watches: [watchTrigger(poke, (v) => [v])],
    });
    await m.start();
    poke.fire('k');
    await eventually('the reconciles', () => Promise.resolve(inFlight ? true : undefined));
    await m.stop();
    expect(order).to.deep.equal(['reconcile done', 'second', 'first']);
  });

  it('runs leader-only runnables once leading, and refuses declarations after start', async () => {
    const m = manager();
    const started: string[] = [];
    m.add({
      name: 'always',
      start: () => {
        started.push('always');
      },
      stop: () => Promise.resolve(),
    });
    m.add({
      name: 'leader',
      leaderOnly: true,
      start: () => void started.push('leader'),
      stop: () => Promise.resolve(),
    });
    let lead: () => void = () => undefined;
    const run = m.start(new Promise<void>((r) => (lead = r)));
    await sleep(20);
    expect(started).to.deep.equal(['always']);
    expect(() => {
      m.add({ name: 'late', start: () => undefined, stop: () => Promise.resolve() });
    }).to.throw(/started already/);
    lead();
    await run;
    expect(started).to.deep.equal(['always', 'leader']);
    await m.stop();
  });
});
