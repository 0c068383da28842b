import { expect } from 'chai';

import {
  compareRequestKeys,
  isWrite,
  minus,
  onlyWrites,
  requestKey,
  requestsBetween,
  total,
} from '../../../bench/support/api-requests.ts';
import { diffCounters, parsePrometheusText, seriesKey, sumBy } from '../../../bench/support/prometheus.ts';

const before = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="persistentvolumes",scope="cluster",subresource="",verb="GET",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="persistentvolumes",scope="cluster",subresource="status",verb="PUT",version="v1"} 4
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="persistentvolumes",scope="cluster",subresource="status",verb="PUT",version="v1"} 1
apiserver_request_total_other{verb="PUT"} 99
apiserver_request_duration_seconds_bucket{le="+Inf",verb="GET"} 12
`;
const after = `apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="persistentvolumes",scope="cluster",subresource="",verb="GET",version="v1"} 13
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="persistentvolumes",scope="cluster",subresource="status",verb="PUT",version="v1"} 9
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="persistentvolumes",scope="cluster",subresource="status",verb="PUT",version="v1"} 2
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="namespace",subresource="",verb="POST",version="v1"} 3
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/openapi/v3",verb="GET",version=""} 1
`;

describe('bench support: Prometheus text', () => {
  it('reads the samples of one metric and skips comments and other metrics, even those sharing its prefix', () => {
    const samples = parsePrometheusText(before, 'apiserver_request_total');
    expect(samples.map((s) => s.value)).to.deep.equal([10, 4, 1]);
    expect(samples[1]?.labels).to.include({ verb: 'PUT', subresource: 'status', code: '200' });
  });

  it('reads every sample without a filter, +Inf and escaped label values included', () => {
    const text = 'a 1\nb{x="q\\"uo\\\\te\\nd",y=""} 2.5e3 1700000000000\nc{le="+Inf",} -Inf\nd NaN\n';
    const samples = parsePrometheusText(text);
    expect(samples.map((s) => s.name)).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(samples[1]).to.deep.equal({ name: 'b', labels: { x: 'q"uo\\te\nd', y: '' }, value: 2500 });
    expect(samples[2]?.value).to.equal(-Infinity);
    expect(samples[3]?.value).to.be.NaN;
  });

  it('names the line of a sample it cannot read', () => {
    expect(() => parsePrometheusText('ok 1\nbad{x="1} 2\n')).to.throw(/line 2: unterminated label value/);
    expect(() => parsePrometheusText('ok 1\n\nbad{x=1} 2\n')).to.throw(/line 3: label x has no quoted value/);
    expect(() => parsePrometheusText('x{a="1" b="2"} 3')).to.throw(/not followed by ','/);
    expect(() => parsePrometheusText('x 12abc')).to.throw(/bad value 12abc/);
    expect(() => parsePrometheusText('{a="1"} 3')).to.throw(/no metric name/);
  });

  it('keys a series by its labels whatever their order', () => {
    const [a] = parsePrometheusText('m{x="1",y="2"} 1');
    const [b] = parsePrometheusText('m{y="2",x="1"} 5');
    expect(a && seriesKey(a)).to.equal(b && seriesKey(b));
  });

  it('diffs two scrapes: growth per series, new series from zero, a reset from zero, unchanged left out', () => {
    const d = diffCounters(
      parsePrometheusText('m{k="a"} 5\nm{k="b"} 7\nm{k="c"} 9'),
      parsePrometheusText('m{k="a"} 8\nm{k="b"} 2\nm{k="c"} 9\nm{k="d"} 4'),
    );
    expect(d.map((s) => [s.labels.k, s.value])).to.deep.equal([
      ['a', 3],
      ['b', 2],
      ['d', 4],
    ]);
  });

  it('sums samples by a key of their labels', () => {
    const sums = sumBy(
      parsePrometheusText('m{v="GET",c="200"} 1\nm{v="GET",c="404"} 2\nm{v="PUT",c="200"} 4'),
      (l) => l.v ?? '',
    );
    expect([...sums]).to.deep.equal([
      ['GET', 3],
      ['PUT', 4],
    ]);
  });
});

describe('bench support: API requests between two scrapes', () => {
  it('counts requests by verb and resource, every response code together', () => {
    const requests = requestsBetween(before, after);
    expect([...requests]).to.deep.equal([
      ['GET persistentvolumes', 3],
      ['PUT persistentvolumes/status', 6],
      ['POST events', 3],
      ['GET /openapi/v3', 1],
    ]);
    expect(total(requests)).to.equal(13);
  });

  it('tells writes from reads', () => {
    for (const v of ['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY', 'DELETECOLLECTION'])
      expect(isWrite(v), v).to.equal(true);
    for (const v of ['GET', 'LIST', 'WATCH', 'watch']) expect(isWrite(v), v).to.equal(false);
    expect([...onlyWrites(requestsBetween(before, after)).keys()]).to.deep.equal([
      'PUT persistentvolumes/status',
      'POST events',
    ]);
  });

  it("takes the bench's own requests out, dropping what reaches zero", () => {
    const left = minus(
      new Map([
        ['POST persistentvolumes', 100],
        ['POST events', 3],
      ]),
      new Map([['POST persistentvolumes', 100]]),
    );
    expect([...left]).to.deep.equal([['POST events', 3]]);
  });

  it('orders request keys by resource, then verb', () => {
    const keys = [
      'PUT persistentvolumes/status',
      'POST events',
      'GET persistentvolumes',
      'DELETE persistentvolumes',
    ];
    expect(keys.sort(compareRequestKeys)).to.deep.equal([
      'POST events',
      'DELETE persistentvolumes',
      'GET persistentvolumes',
      'PUT persistentvolumes/status',
    ]);
  });

  it('keys a subresource after its resource', () => {
    expect(requestKey({ verb: 'PUT', resource: 'persistentvolumeclaims', subresource: 'status' })).to.equal(
      'PUT persistentvolumeclaims/status',
    );
    expect(requestKey({ verb: 'LIST', resource: 'persistentvolumes' })).to.equal('LIST persistentvolumes');
    expect(requestKey({ verb: 'GET', resource: '', subresource: 'openapi/v3' })).to.equal('GET /openapi/v3');
  });
});
