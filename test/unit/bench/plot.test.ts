import { expect } from 'chai';

import { cumulative, lineChartSvg } from '../../../bench/support/plot.ts';

describe('bench plots', () => {
  it('draws a distribution as its cumulative share, from 0 to 1, in order', () => {
    expect(cumulative([3, 1, 2, 4])).to.deep.equal([
      [0, 0],
      [1, 0.25],
      [2, 0.5],
      [3, 0.75],
      [4, 1],
    ]);
    expect(cumulative([])).to.deep.equal([]);
    const many = cumulative(
      Array.from({ length: 10_000 }, (_, i) => i),
      100,
    );
    expect(many.length).to.be.at.most(102);
    expect(many.at(-1)).to.deep.equal([9999, 1]);
    for (let i = 1; i < many.length; i++) expect(many[i]?.[1]).to.be.greaterThan(many[i - 1]?.[1] ?? -1);
  });

  it('renders a line chart to an SVG document naming its series and axes', async () => {
    const svg = await lineChartSvg({
      title: 'storm',
      x: 'seconds',
      y: 'share',
      step: true,
      series: [
        { name: 'in-tree', points: cumulative([1, 2, 3]) },
        { name: 'operator', points: cumulative([0.5, 1, 1.5]) },
      ],
    });
    expect(svg).to.match(/^<svg /);
    for (const text of ['in-tree', 'operator', 'seconds', 'share', 'storm']) expect(svg).to.contain(text);
  });
});
