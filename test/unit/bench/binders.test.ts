import { expect } from 'chai';

import { bindersFromEnv, intFromEnv } from '../../../bench/support/binders.ts';

describe('bench support: settings from the environment', () => {
  it('runs both binders, the in-tree one first, unless told otherwise', () => {
    expect(bindersFromEnv(undefined)).to.deep.equal(['in-tree', 'operator']);
    expect(bindersFromEnv('operator')).to.deep.equal(['operator']);
    expect(() => bindersFromEnv('operator,kcm')).to.throw(/BINDERS takes in-tree and operator.*kcm/);
  });

  it('reads a whole number in its range, else the default, and refuses anything else', () => {
    const name = 'BENCH_SUPPORT_TEST_N';
    try {
      delete process.env.BENCH_SUPPORT_TEST_N;
      expect(intFromEnv(name, 7, 1, 10)).to.equal(7);
      process.env[name] = '10';
      expect(intFromEnv(name, 7, 1, 10)).to.equal(10);
      for (const bad of ['11', '0', '-1', '2.5', '1e3', 'ten']) {
        process.env[name] = bad;
        expect(() => intFromEnv(name, 7, 1, 10), bad).to.throw(/must be a whole number from 1 to 10/);
      }
    } finally {
      delete process.env.BENCH_SUPPORT_TEST_N;
    }
  });
});
