import { expect } from 'chai';

import { parseProcStat, parseProcStatus } from '../../../bench/support/proc.ts';

// A line as Linux writes it for a Go binary, utime 1234 and stime 56 ticks.
const statLine =
  '4242 (kube-apiserver) S 1 4242 4242 0 -1 4194560 90210 0 3 0 1234 56 7 8 20 0 14 0 5000 ' +
  '1400000000 30000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';

describe('bench support: /proc/<pid>/stat and status', () => {
  it('reads the state, user and system ticks of a process', () => {
    expect(parseProcStat(statLine)).to.deep.equal({ state: 'S', utimeTicks: 1234, stimeTicks: 56 });
  });

  it('counts fields from the last parenthesis, so a command name with spaces and parentheses does not shift them', () => {
    const odd = statLine.replace('(kube-apiserver)', '(a ) b (c) d)');
    expect(parseProcStat(odd)).to.deep.equal({ state: 'S', utimeTicks: 1234, stimeTicks: 56 });
  });

  it('refuses text that is not a stat line, naming what is wrong', () => {
    expect(() => parseProcStat('')).to.throw(/no command name/);
    expect(() => parseProcStat('1 (x) S 1 2')).to.throw(/field 14 is not a count/);
    expect(() => parseProcStat(statLine.replace(' 1234 ', ' -3 '))).to.throw(/field 14 is not a count: -3/);
    expect(() => parseProcStat(statLine.replace(') S ', ') SS '))).to.throw(/state is not one letter/);
  });

  it('reads the resident set and its peak from status, in KiB', () => {
    const status =
      'Name:\tnode\nVmPeak:\t 1200000 kB\nVmHWM:\t  580000 kB\nVmRSS:\t  401234 kB\nThreads:\t11\n';
    expect(parseProcStatus(status)).to.deep.equal({ rssKiB: 401234, peakRssKiB: 580000 });
  });

  it('says which line is missing from a status without memory (a zombie)', () => {
    expect(() => parseProcStatus('Name:\tx\nState:\tZ (zombie)\n')).to.throw(/no VmRSS line/);
  });
});
