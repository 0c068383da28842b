import { expect } from 'chai';

import {
  type Decision,
  EventCorrelator,
  type EventInput,
  LruCache,
  type ObjectRef,
  type SeriesEntry,
  TokenBucket,
  aggregationKey,
  eventName,
  eventNamespace,
  needsWrite,
  normalizeEvent,
  noteMaxBytes,
  truncateUtf8,
} from '../../src/runtime/events.ts';

const pvRef: ObjectRef = { kind: 'PersistentVolume', apiVersion: 'v1', name: 'pv-1', uid: 'u1' };
const claimRef: ObjectRef = {
  kind: 'PersistentVolumeClaim',
  apiVersion: 'v1',
  name: 'c-1',
  namespace: 'ns',
  uid: 'u2',
};

const ev = (over: Partial<EventInput> = {}): EventInput => ({
  regarding: pvRef,
  type: 'Normal',
  reason: 'Bound',
  action: 'Binding',
  note: 'bound to c-1',
  ...over,
});

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const minutes = (n: number) => n * 60_000;

describe('events', () => {
  describe('aggregation key', () => {
    const key = (e: EventInput) => aggregationKey(normalizeEvent(e));
    const long = 'x'.repeat(noteMaxBytes);
    const same: [string, EventInput, EventInput][] = [
      ['an identical event', ev(), ev()],
      ['a newer resourceVersion of the object', ev(), ev({ regarding: { ...pvRef, resourceVersion: '42' } })],
      ['notes that differ only past 1024 bytes', ev({ note: `${long}a` }), ev({ note: `${long}b` })],
    ];
    const distinct: [string, EventInput][] = [
      ['another uid (the object was recreated)', ev({ regarding: { ...pvRef, uid: 'u9' } })],
      ['another name', ev({ regarding: { ...pvRef, name: 'pv-2' } })],
      ['another kind', ev({ regarding: { ...pvRef, kind: 'PersistentVolumeClaim' } })],
      ['another namespace', ev({ regarding: { ...pvRef, namespace: 'ns' } })],
      ['another type', ev({ type: 'Warning' })],
      ['another reason', ev({ reason: 'FailedBinding' })],
      ['another action', ev({ action: 'Recycling' })],
      ['another note', ev({ note: 'bound to c-2' })],
      ['fields that only concatenate alike', ev({ reason: 'BoundB', action: 'inding' })],
    ];
    for (const [name, a, b] of same) {
      it(`is the same for ${name}`, () => {
        expect(key(a)).to.equal(key(b));
      });
    }
    for (const [name, other] of distinct) {
      it(`differs for ${name}`, () => {
        expect(key(other)).to.not.equal(key(ev()));
      });
    }
  });

  describe('note truncation', () => {
    const cases: [string, string, number, string][] = [
      ['keeps a short ASCII note', 'hello', 1024, 'hello'],
      ['cuts ASCII at the limit', 'a'.repeat(1030), 1024, 'a'.repeat(1024)],
      ['keeps an exact fit', 'é'.repeat(512), 1024, 'é'.repeat(512)],
      ['never splits a 2-byte character', 'a' + 'é'.repeat(512), 1024, 'a' + 'é'.repeat(511)],
      ['never splits a 3-byte character', '€€€', 8, '€€'],
      ['never splits a surrogate pair', 'ab😀', 5, 'ab'],
      ['keeps the surrogate pair when it fits', 'ab😀', 6, 'ab😀'],
      ['handles empty strings', '', 10, ''],
    ];
    for (const [name, input, max, want] of cases) {
      it(name, () => {
        const got = truncateUtf8(input, max);
        expect(got).to.equal(want);
        expect(bytes(got)).to.be.at.most(max);
      });
    }
    it('normalizes notes to 1024 bytes, and reason and action to 128', () => {
      const n = normalizeEvent(
        ev({ note: 'ü'.repeat(1000), reason: 'R'.repeat(200), action: 'A'.repeat(200) }),
      );
      expect(bytes(n.note)).to.equal(noteMaxBytes);
      expect(n.reason).to.have.length(128);
      expect(n.action).to.have.length(128);
    });
  });

  describe('event names and namespaces', () => {
    it('names events <object>.<suffix>', () => {
      expect(eventName('pv-1', 'abc')).to.equal('pv-1.abc');
    });
    it('cuts long object names so the name stays within 253 characters', () => {
      const name = eventName('a'.repeat(253), '0123456789abcdef');
      expect(name).to.have.length(253);
      expect(name.endsWith('a.0123456789abcdef')).to.be.true;
    });
    it('does not leave a dot or dash before the suffix after cutting', () => {
      const name = eventName('a'.repeat(235) + '.-b'.repeat(10), '0123456789abcdef');
      expect(name).to.match(/^a+\.0123456789abcdef$/);
    });
    it('puts events of cluster-scoped objects in default', () => {
      expect(eventNamespace(pvRef)).to.equal('default');
      expect(eventNamespace({ ...pvRef, namespace: '' })).to.equal('default');
      expect(eventNamespace(claimRef)).to.equal('ns');
    });
  });

  describe('token bucket', () => {
    it('starts full and refuses once the burst is used', () => {
      const b = new TokenBucket(3, 1000, 0);
      expect([0, 0, 0, 0].map((t) => b.tryTake(t))).to.deep.equal([true, true, true, false]);
    });

    // [time, expected tryTake] after the burst of 2 is used at t=0, refill 1 per 1000 ms.
    const steps: [number, boolean][] = [
      [999, false],
      [1000, true],
      [1500, false],
      [2000, true],
      [2000, false],
      [10_000, true], // refilled to the cap of 2, not 8
      [10_000, true],
      [10_000, false],
      [5_000, false], // the clock stepping back gives nothing
      [11_000, true],
    ];
    it('refills one token per interval up to the burst', () => {
      const b = new TokenBucket(2, 1000, 0);
      b.tryTake(0);
      b.tryTake(0);
      const got = steps.map(([t]) => b.tryTake(t));
      expect(got).to.deep.equal(steps.map(([, ok]) => ok));
    });

    it('reports fractional tokens while refilling', () => {
      const b = new TokenBucket(25, minutes(5), 0);
      for (let i = 0; i < 25; i++) b.tryTake(0);
      expect(b.available(minutes(2.5))).to.be.closeTo(0.5, 1e-9);
      expect(b.available(minutes(500))).to.equal(25);
    });
  });

  describe('LRU cache', () => {
    it('evicts the least recently used entry and reports it', () => {
      const evicted: string[] = [];
      const lru = new LruCache<string, number>(3, (k) => evicted.push(k));
      lru.set('a', 1);
      lru.set('b', 2);
      lru.set('c', 3);
      expect(lru.get('a')).to.equal(1); // a is now the most recent
      lru.set('d', 4);
      expect(evicted).to.deep.equal(['b']);
      expect(lru.keys()).to.deep.equal(['c', 'a', 'd']);
      expect(lru.size).to.equal(3);
    });

    it('does not count peek, has or delete as use, nor report deletes as evictions', () => {
      const evicted: string[] = [];
      const lru = new LruCache<string, number>(2, (k) => evicted.push(k));
      lru.set('a', 1);
      lru.set('b', 2);
      expect(lru.peek('a')).to.equal(1);
      expect(lru.has('a')).to.be.true;
      lru.set('c', 3);
      expect(evicted).to.deep.equal(['a']);
      expect(lru.delete('b')).to.be.true;
      expect(evicted).to.deep.equal(['a']);
      expect(lru.keys()).to.deep.equal(['c']);
    });

    it('re-setting a key refreshes it and does not grow the cache', () => {
      const lru = new LruCache<string, number>(2);
      lru.set('a', 1);
      lru.set('b', 2);
      lru.set('a', 10);
      lru.set('c', 3);
      expect(lru.keys()).to.deep.equal(['a', 'c']);
      expect(lru.peek('a')).to.equal(10);
    });

    it('keeps undefined values distinct from missing ones', () => {
      const lru = new LruCache<string, number | undefined>(2);
      lru.set('u', undefined);
      expect(lru.has('u')).to.be.true;
      expect(lru.get('missing')).to.equal(undefined);
    });

    it('refuses a size below one', () => {
      expect(() => new LruCache(0)).to.throw(RangeError);
    });
  });

  describe('correlator decisions', () => {
    let n = 0;
    const correlator = (opts: ConstructorParameters<typeof EventCorrelator>[0] = {}) =>
      new EventCorrelator({ nameSuffix: () => String(++n), ...opts });
    const summary = (d: Decision) =>
      d.action === 'drop' ? `drop ${d.reason}` : `${d.action} ${d.entry.input.reason}#${d.entry.count}`;

    interface Step {
      at: number;
      event?: Partial<EventInput>;
      want: string;
    }
    const sequences: [string, Step[]][] = [
      [
        'creates the first occurrence and counts repeats into it',
        [
          { at: 0, want: 'create Bound#1' },
          { at: 1000, want: 'aggregate Bound#2' },
          { at: 2000, want: 'aggregate Bound#3' },
          { at: 3000, want: 'aggregate Bound#4' },
          { at: 4000, want: 'aggregate Bound#5' },
        ],
      ],
      [
        'measures the window from the last occurrence, and starts a new event after it',
        [
          { at: 0, want: 'create Bound#1' },
          { at: minutes(5), want: 'aggregate Bound#2' },
          { at: minutes(11), want: 'aggregate Bound#3' },
          { at: minutes(17) + 1, want: 'create Bound#1' },
        ],
      ],
      [
        'keeps distinct events apart',
        [
          { at: 0, want: 'create Bound#1' },
          { at: 1, event: { type: 'Warning' }, want: 'create Bound#1' },
          { at: 2, event: { note: 'other' }, want: 'create Bound#1' },
          { at: 3, event: { reason: 'FailedBinding' }, want: 'create FailedBinding#1' },
          { at: 4, want: 'aggregate Bound#2' },
          { at: 5, event: { reason: 'FailedBinding' }, want: 'aggregate FailedBinding#2' },
        ],
      ],
    ];
    for (const [name, steps] of sequences) {
      it(name, () => {
        const c = correlator();
        const got = steps.map((s) => summary(c.observe(ev(s.event), s.at)));
        expect(got).to.deep.equal(steps.map((s) => s.want));
      });
    }

    it('lets one object start at most 25 events at once, across reasons, then one per 5 minutes', () => {
      const c = correlator();
      const got = Array.from({ length: 40 }, (_, i) => c.observe(ev({ reason: `R${i}` }), 0).action);
      expect(got.filter((a) => a === 'create')).to.have.length(25);
      expect(got.slice(25)).to.deep.equal(Array(15).fill('drop'));
      // Another object has a bucket of its own.
      expect(c.observe(ev({ regarding: claimRef, reason: 'R0' }), 0).action).to.equal('create');
      expect(c.observe(ev({ reason: 'late' }), minutes(5) - 1).action).to.equal('drop');
      expect(c.observe(ev({ reason: 'late' }), minutes(5)).action).to.equal('create');
      expect(c.observe(ev({ reason: 'later' }), minutes(5)).action).to.equal('drop');
    });

    it('counts repeats of existing events even when the object has no tokens left', () => {
      const c = correlator({ spamBurst: 1 });
      expect(summary(c.observe(ev(), 0))).to.equal('create Bound#1');
      expect(summary(c.observe(ev({ reason: 'Other' }), 0))).to.equal('drop spam');
      expect(summary(c.observe(ev(), 1))).to.equal('aggregate Bound#2');
      expect(summary(c.observe(ev(), 2))).to.equal('aggregate Bound#3');
    });

    it('detaches an expired or superseded entry so its last repeats can be written', () => {
      const detached: string[] = [];
      const c = correlator({ onDetach: (e) => detached.push(`${e.name} ${e.count}`) });
      const first = c.observe(ev(), 0);
      c.observe(ev(), 1);
      expect(detached).to.deep.equal([]);
      const second = c.observe(ev(), minutes(7));
      expect(second.action).to.equal('create');
      expect(detached).to.deep.equal([`${(first as { entry: SeriesEntry }).entry.name} 2`]);
      expect((first as { entry: SeriesEntry }).entry.detached).to.be.true;
      // expire() ends what has been quiet for longer than the window.
      c.observe(ev({ reason: 'Quiet' }), minutes(8));
      const ended = c.expire(minutes(13) + 1);
      expect(ended.map((e) => e.input.reason)).to.deep.equal(['Bound']);
      expect(c.size).to.equal(1);
      expect(c.expire(minutes(13) + 2)).to.deep.equal([]);
    });

    it('holds at most cacheSize events, evicting the least recently seen', () => {
      const detached: string[] = [];
      const c = correlator({ cacheSize: 3, onDetach: (e) => detached.push(e.input.reason) });
      for (const reason of ['a', 'b', 'c']) c.observe(ev({ reason }), 0);
      c.observe(ev({ reason: 'a' }), 1); // a is recent again
      c.observe(ev({ reason: 'd' }), 2);
      expect(detached).to.deep.equal(['b']);
      expect(c.size).to.equal(3);
      // b comes back as a new event.
      expect(c.observe(ev({ reason: 'b' }), 3).action).to.equal('create');
    });

    it('lists entries that need a write and have none under way', () => {
      const c = correlator();
      const d = c.observe(ev(), 0);
      if (d.action !== 'create') throw new Error('expected create');
      const e = d.entry;
      expect(c.due()).to.deep.equal([e]);
      e.busy = true;
      expect(c.due()).to.deep.equal([]);
      e.busy = false;
      e.written = 1;
      expect(needsWrite(e)).to.be.false;
      expect(c.due()).to.deep.equal([]);
      c.observe(ev(), 1);
      expect(needsWrite(e)).to.be.true;
      expect(c.due()).to.deep.equal([e]);
      c.forget(e);
      expect(c.due()).to.deep.equal([]);
      expect(c.observe(ev(), 2).action).to.equal('create');
    });

    it('names events after the object, and renames on request', () => {
      const c = new EventCorrelator({ nameSuffix: () => 'f00' });
      const d = c.observe(ev({ regarding: claimRef }), 0);
      if (d.action !== 'create') throw new Error('expected create');
      expect(d.entry.name).to.equal('c-1.f00');
      expect(d.entry.namespace).to.equal('ns');
      expect(d.entry.firstTime).to.equal(0);
    });
  });
});
