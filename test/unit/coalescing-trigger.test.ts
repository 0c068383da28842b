import { expect } from 'chai';

import { CoalescingTrigger, type TriggerClock } from '../../src/runtime/source.ts';

/** A clock the test moves by hand. */
function manualClock(): TriggerClock & { advance(ms: number): void } {
  let now = 1_000;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    after: (ms, fn) => {
      timers.push({ at: now + ms, fn });
    },
    advance(ms) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

describe('CoalescingTrigger', () => {
  it('fires the first time at once and folds a burst into one fire at the end of the interval', () => {
    const clock = manualClock();
    const t = new CoalescingTrigger('test', 200, clock);
    const fired: string[] = [];
    t.listen((v) => fired.push(v));
    t.fire('fast');
    expect(fired).to.deep.equal(['fast']);
    for (let i = 0; i < 1000; i++) t.fire('fast');
    expect(fired, 'within the interval nothing more fires yet').to.deep.equal(['fast']);
    clock.advance(199);
    expect(fired).to.deep.equal(['fast']);
    clock.advance(1);
    expect(fired, 'the burst, once').to.deep.equal(['fast', 'fast']);
    clock.advance(1000);
    expect(fired, 'nothing left over').to.deep.equal(['fast', 'fast']);
    t.fire('fast');
    expect(fired, 'after a quiet interval, at once again').to.deep.equal(['fast', 'fast', 'fast']);
  });

  it('keeps values apart: one value’s burst does not hold back another', () => {
    const clock = manualClock();
    const t = new CoalescingTrigger('test', 200, clock);
    const fired: string[] = [];
    t.listen((v) => fired.push(v));
    t.fire('a');
    t.fire('a');
    t.fire('b');
    expect(fired).to.deep.equal(['a', 'b']);
    clock.advance(200);
    expect(fired).to.deep.equal(['a', 'b', 'a']);
  });

  it('forgets values it fired long ago, so hostile names cannot grow it without bound', () => {
    const clock = manualClock();
    const t = new CoalescingTrigger('test', 200, clock);
    let count = 0;
    t.listen(() => (count += 1));
    for (let i = 0; i < 5000; i++) {
      t.fire(`class-${String(i)}`);
      clock.advance(1);
    }
    expect(count).to.equal(5000);
    expect((t as unknown as { last: Map<string, number> }).last.size).to.be.at.most(1024 + 200);
  });
});
