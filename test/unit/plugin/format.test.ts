import { expect } from 'chai';

import { paint, safeText, serialise, table, useColour } from '../../../src/plugin/format.ts';

describe('kubectl pvl: terminal output', () => {
  it('aligns columns by their visible width, colour codes left out of the count', () => {
    const rows = [
      ['a', { text: 'yes', tone: 'good' as const }, 'short'],
      ['longer-name', { text: 'no', tone: 'bad' as const }, 'x'],
    ];
    expect(table(['volume', 'fits', 'reason'], rows, false).split('\n')).to.deep.equal([
      'VOLUME        FITS   REASON',
      'a             yes    short',
      'longer-name   no     x',
    ]);
    const coloured = table(['volume', 'fits', 'reason'], rows, true);
    expect(coloured).to.contain('\u001b[32myes\u001b[0m    short');
    // eslint-disable-next-line no-control-regex -- stripping the colour codes it wrote
    expect(coloured.replace(/\u001b\[[0-9;]*m/g, '')).to.equal(
      table(['volume', 'fits', 'reason'], rows, false),
    );
  });

  it('colours only on a terminal without NO_COLOR', () => {
    expect(useColour(true, {})).to.equal(true);
    expect(useColour(false, {})).to.equal(false);
    expect(useColour(undefined, {})).to.equal(false);
    expect(useColour(true, { NO_COLOR: '1' })).to.equal(false);
    expect(useColour(true, { NO_COLOR: '' })).to.equal(true);
    expect(paint({ text: 't', tone: 'bad' }, false)).to.equal('t');
  });

  it('shows control characters from the cluster as ? and cuts long text', () => {
    expect(safeText('a\u001b[2Jb\nc')).to.equal('a?[2Jb?c');
    expect(safeText('x'.repeat(300), 10)).to.equal('xxxxxxx...');
  });

  it('writes json and yaml of the same data, bigints as strings', () => {
    const data = { gap: 5n, list: ['a'] };
    expect(JSON.parse(serialise(data, 'json'))).to.deep.equal({ gap: '5', list: ['a'] });
    expect(serialise(data, 'yaml')).to.equal('gap: "5"\nlist:\n  - a');
  });
});
