import { expect } from 'chai';

import { formatDuration, parseDuration } from '../../src/runtime/duration.ts';

describe('durations on the command line', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['0s', 0],
    ['500ms', 500],
    ['15s', 15_000],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['1h2m3s4ms', 3_723_004],
  ];
  for (const [text, ms] of good) {
    it(`reads ${text} as ${String(ms)} ms`, () => {
      expect(parseDuration(text)).to.equal(ms);
    });
  }
  for (const text of ['', '15', 's', '1d', '-1s', '1m 30s', 'fast']) {
    it(`rejects "${text}" with a message quoting it`, () => {
      expect(() => parseDuration(text)).to.throw(`invalid duration "${text}"`);
    });
  }
  it('formats durations in a form it reads back', () => {
    for (const ms of [0, 250, 15_000, 90_000, 120_000, 3_600_000]) {
      expect(parseDuration(formatDuration(ms))).to.equal(ms);
    }
    expect(formatDuration(15_000)).to.equal('15s');
  });
});
