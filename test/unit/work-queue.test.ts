import { expect } from 'chai';

import { WorkQueue, type WorkQueueOptions, type WorkHandler } from '../../src/runtime/work-queue.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until cond holds; fails the test instead of hanging it. */
async function waitFor(cond: () => boolean, what: string, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

describe('work queue', () => {
  // Every queue a test makes is shut down, so no timer outlives its test.
  let queues: WorkQueue[] = [];
  const make = (handler: WorkHandler, options: WorkQueueOptions = {}): WorkQueue => {
    const q = new WorkQueue(handler, options);
    queues.push(q);
    return q;
  };
  afterEach(async () => {
    await Promise.all(queues.map((q) => q.shutdown({ drain: false })));
    queues = [];
  });

  it('keeps a waiting key once however often it is added', async () => {
    const runs: string[] = [];
    const hold = Promise.withResolvers<undefined>();
    const q = make(async (key) => {
      runs.push(key);
      if (key === 'block') await hold.promise;
    });
    q.add('block');
    await waitFor(() => q.inFlight === 1, 'block to start');
    q.add('a');
    q.add('a');
    q.add('a');
    expect(q.depth).to.equal(1);
    hold.resolve(undefined);
    await q.shutdown();
    expect(runs).to.deep.equal(['block', 'a']);
  });

  it('never runs one key on two workers at once', async () => {
    const active = new Map<string, number>();
    const maxActive = new Map<string, number>();
    let overall = 0;
    let maxOverall = 0;
    const q = make(
      async (key) => {
        const n = (active.get(key) ?? 0) + 1;
        active.set(key, n);
        maxActive.set(key, Math.max(maxActive.get(key) ?? 0, n));
        maxOverall = Math.max(maxOverall, ++overall);
        await sleep(3);
        active.set(key, n - 1);
        overall--;
      },
      { workers: 4 },
    );
    for (let i = 0; i < 40; i++) {
      q.add(['a', 'b'][i % 2] ?? 'a');
      if (i % 4 === 0) await sleep(1);
    }
    await q.shutdown();
    expect(maxActive.get('a')).to.equal(1);
    expect(maxActive.get('b')).to.equal(1);
    // Otherwise the test would pass for a queue with one worker.
    expect(maxOverall).to.equal(2);
  });

  it('runs a key exactly once more when it is added during its run', async () => {
    let runs = 0;
    const hold = Promise.withResolvers<undefined>();
    const q = make(
      async () => {
        runs++;
        if (runs === 1) await hold.promise;
      },
      { workers: 2 },
    );
    q.add('a');
    await waitFor(() => q.inFlight === 1, 'first run');
    for (let i = 0; i < 5; i++) q.add('a');
    await sleep(5);
    expect(q.inFlight).to.equal(1);
    expect(q.depth).to.equal(1);
    hold.resolve(undefined);
    await q.shutdown();
    expect(runs).to.equal(2);
  });

  it('runs no more handlers at once than it has workers', async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    const q = make(
      async () => {
        maxActive = Math.max(maxActive, ++active);
        await sleep(5);
        active--;
        runs++;
      },
      { workers: 3 },
    );
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    await q.shutdown();
    expect(runs).to.equal(10);
    expect(maxActive).to.equal(3);
  });

  it('backs a failing key off exponentially and forgets its failures on success', async () => {
    const delays: number[] = [];
    const failuresSeen: number[] = [];
    const times: number[] = [];
    let calls = 0;
    const q = make(
      // Runs 1-4 fail, run 5 succeeds and asks for another run, 6 fails, 7 succeeds.
      (key) => {
        calls++;
        failuresSeen.push(q.failures(key));
        times.push(performance.now());
        if (calls <= 4 || calls === 6) return Promise.reject(new Error(`fail ${calls}`));
        return Promise.resolve(calls === 5 ? { requeueAfterMs: 1 } : undefined);
      },
      { baseDelayMs: 2, qps: Infinity, observer: { onRetry: (_key, ms) => delays.push(ms) } },
    );
    q.add('a');
    await waitFor(() => calls === 7, 'seven runs');
    expect(delays).to.deep.equal([2, 4, 8, 16, 2]);
    expect(failuresSeen).to.deep.equal([0, 1, 2, 3, 4, 0, 1]);
    expect(q.failures('a')).to.equal(0);
    // The retries really waited: 2 + 4 + 8 + 16 ms between run 1 and run 5.
    expect((times[4] ?? 0) - (times[0] ?? 0)).to.be.greaterThanOrEqual(28);
  });

  it('caps the backoff at maxDelayMs', async () => {
    const delays: number[] = [];
    const q = make(() => Promise.reject(new Error('no')), {
      baseDelayMs: 1,
      maxDelayMs: 3,
      qps: Infinity,
      observer: { onRetry: (_key, ms) => delays.push(ms) },
    });
    q.add('a');
    await waitFor(() => delays.length === 5, 'five retries');
    expect(delays).to.deep.equal([1, 2, 3, 3, 3]);
  });

  it('delays retries beyond the burst by the shared token bucket', async () => {
    let t = 0;
    const delays: Record<string, number> = {};
    const q = make(() => Promise.reject(new Error('no')), {
      // Backoff timers (300 ms) do not fire during the test, so only these runs take tokens.
      baseDelayMs: 300,
      qps: 1,
      burst: 2,
      now: () => t,
      observer: {
        onRetry: (key, ms) => {
          delays[key] = ms;
        },
      },
    });
    for (const key of ['a', 'b', 'c']) q.add(key);
    await waitFor(() => Object.keys(delays).length === 3, 'three failures');
    // Two tokens, then the third retry waits a whole token at 1 qps.
    expect(delays).to.deep.equal({ a: 300, b: 300, c: 1000 });
    t += 2000; // two tokens refill; one pays back c's debt
    q.add('d');
    q.add('e');
    await waitFor(() => Object.keys(delays).length === 5, 'two more failures');
    expect(delays.d).to.equal(300);
    expect(delays.e).to.equal(1000);
  });

  it('runs a key again requeueAfterMs after a successful run asks for it', async () => {
    const times: number[] = [];
    let retries = 0;
    const q = make(
      () => {
        times.push(performance.now());
        return Promise.resolve(times.length === 1 ? { requeueAfterMs: 30 } : undefined);
      },
      { observer: { onRetry: () => retries++ } },
    );
    q.add('a');
    await waitFor(() => times.length === 2, 'second run');
    const gap = (times[1] ?? 0) - (times[0] ?? 0);
    expect(gap).to.be.within(25, 300);
    expect(retries).to.equal(0);
    await sleep(50);
    expect(times).to.have.length(2);
  });

  it('fires only the earliest of several delayed adds of a key', async () => {
    const times: number[] = [];
    const start = performance.now();
    const q = make(() => {
      times.push(performance.now() - start);
      return Promise.resolve();
    });
    q.addAfter('a', 100);
    q.addAfter('a', 10);
    q.addAfter('a', 60);
    await sleep(130);
    expect(times).to.have.length(1);
    expect(times[0]).to.be.within(5, 45);
  });

  it('runs a key with a pending delayed add at once when it is added directly', async () => {
    const times: number[] = [];
    const start = performance.now();
    const q = make(() => {
      times.push(performance.now() - start);
      return Promise.resolve();
    });
    q.addAfter('a', 60);
    q.add('a');
    await sleep(100);
    // The delayed add is dropped: the direct add's run superseded it.
    expect(times).to.have.length(1);
    expect(times[0]).to.be.lessThan(40);
  });

  it('shuts down after running handlers finish, runs waiting keys and ignores later adds', async () => {
    const runs: string[] = [];
    const q = make(async (key) => {
      await sleep(key === 'slow' ? 40 : 1);
      runs.push(key);
    });
    q.add('slow');
    q.add('waiting');
    q.addAfter('timer', 5);
    await waitFor(() => q.inFlight === 1, 'slow to start');
    let done = false;
    const stopped = q.shutdown().then(() => (done = true));
    q.add('late');
    q.addAfter('later', 1);
    await sleep(10);
    expect(done).to.be.false;
    await stopped;
    expect(runs).to.deep.equal(['slow', 'waiting']);
    expect(q.inFlight).to.equal(0);
    expect(q.depth).to.equal(0);
    await sleep(10);
    expect(runs).to.have.length(2);
  });

  it('drops waiting keys on shutdown without drain, yet awaits the running one', async () => {
    const runs: string[] = [];
    const q = make(async (key) => {
      await sleep(20);
      runs.push(key);
    });
    q.add('running');
    q.add('b');
    q.add('c');
    await waitFor(() => q.inFlight === 1, 'first run');
    await q.shutdown({ drain: false });
    expect(runs).to.deep.equal(['running']);
    expect(q.depth).to.equal(0);
  });

  it('hands handler errors to onError and never leaves an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const boom = new Error('boom');
      const errors: [string, unknown][] = [];
      const q = make(
        (key) => {
          if (key === 'sync') throw boom; // not even a promise
          return Promise.reject(boom);
        },
        { qps: Infinity, onError: (key, err) => errors.push([key, err]) },
      );
      q.add('async');
      q.add('sync');
      // Without onError, and with an observer that throws too.
      const silent = make(() => Promise.reject(boom), {
        baseDelayMs: 1,
        qps: Infinity,
        observer: {
          onWorkDuration: () => {
            throw new Error('metrics bug');
          },
        },
      });
      silent.add('x');
      await waitFor(() => errors.length >= 2, 'both errors');
      // The throwing observer did not stop x from being retried.
      await waitFor(() => silent.failures('x') >= 3, 'retries of x');
      await sleep(10); // let any rejection surface
      expect(errors.slice(0, 2)).to.deep.equal([
        ['async', boom],
        ['sync', boom],
      ]);
      expect(q.failures('async')).to.be.greaterThanOrEqual(1);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('reports adds, queue and work durations, retries and in-flight times to the observer', async () => {
    let t = 0;
    const adds: string[] = [];
    const queued: [string, number][] = [];
    const worked: [string, number][] = [];
    const retries: [string, number][] = [];
    const hold = Promise.withResolvers<undefined>();
    const q = make(
      async (key) => {
        if (key === 'block') await hold.promise;
        t += 10;
        if (key === 'fail') throw new Error('no');
      },
      {
        baseDelayMs: 7,
        qps: Infinity,
        now: () => t,
        observer: {
          onAdd: (key) => adds.push(key),
          onQueueDuration: (ms, key) => queued.push([key, ms]),
          onWorkDuration: (ms, key) => worked.push([key, ms]),
          onRetry: (key, ms) => retries.push([key, ms]),
        },
      },
    );
    q.add('block');
    await waitFor(() => q.inFlight === 1, 'block to start');
    q.add('a');
    q.add('a'); // deduplicated, not counted
    t = 30;
    expect(q.depth).to.equal(1);
    expect(q.inFlightDurationsMs()).to.deep.equal([30]);
    hold.resolve(undefined);
    await waitFor(() => worked.length === 2, 'two runs');
    expect(q.inFlightDurationsMs()).to.deep.equal([]);
    q.add('fail');
    await waitFor(() => retries.length === 1, 'a retry');
    expect(adds).to.deep.equal(['block', 'a', 'fail']);
    // a waited from t=0 until block finished at t=40, then ran 10.
    expect(queued).to.deep.equal([
      ['block', 0],
      ['a', 40],
      ['fail', 0],
    ]);
    expect(worked).to.deep.equal([
      ['block', 40],
      ['a', 10],
      ['fail', 10],
    ]);
    expect(retries).to.deep.equal([['fail', 7]]);
  });
});
