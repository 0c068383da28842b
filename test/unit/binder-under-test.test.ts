import { expect } from 'chai';

import { parseTestBinder } from '../support/binder-under-test.ts';

describe('TEST_BINDER', () => {
  it('is the operator unless it says intree', () => {
    expect(parseTestBinder(undefined)).to.equal('operator');
    expect(parseTestBinder('')).to.equal('operator');
    expect(parseTestBinder('operator')).to.equal('operator');
    expect(parseTestBinder('intree')).to.equal('intree');
  });

  it('refuses any other value, naming the variable and quoting a bounded part of it', () => {
    expect(() => parseTestBinder('in-tree')).to.throw(
      'TEST_BINDER must be "operator" or "intree", not "in-tree"',
    );
    expect(() => parseTestBinder('x'.repeat(10_000))).to.throw(/not "x{40}"$/);
  });
});
