import { expect } from 'chai';

import {
  duration,
  markdownTable,
  mib,
  millis,
  perBind,
  percentile,
  seconds,
} from '../../../bench/support/table.ts';

describe('bench support: tables', () => {
  it('prints a markdown table with its separator line, escaping | in cells', () => {
    expect(markdownTable(['a', 'b'], [['1', 'x|y']])).to.equal('| a | b |\n| --- | --- |\n| 1 | x\\|y |');
  });

  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 down to 1
    expect(percentile(xs, 50)).to.equal(50);
    expect(percentile(xs, 99)).to.equal(99);
    expect(percentile(xs, 100)).to.equal(100);
    expect(percentile([7], 99)).to.equal(7);
    expect(percentile([], 50)).to.be.NaN;
  });

  it('formats seconds, milliseconds, MiB and counts per bind, with a dash for what was not measured', () => {
    expect(seconds(28.04)).to.equal('28.0 s');
    expect(millis(0.0491)).to.equal('49 ms');
    expect(millis(0.0042)).to.equal('4.2 ms');
    expect(duration(0.2)).to.equal('200 ms');
    expect(duration(11.5)).to.equal('11.5 s');
    expect(mib(151552)).to.equal('148 MiB');
    expect(perBind(4)).to.equal('4');
    expect(perBind(6.0833)).to.equal('6.08');
    expect(perBind(0.004)).to.equal('0.004');
    expect(perBind(0.0012)).to.equal('0.001');
    expect(seconds(undefined)).to.equal('–');
    expect(mib(NaN)).to.equal('–');
  });
});
