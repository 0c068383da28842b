import { readFileSync } from 'node:fs';

import { expect } from 'chai';

import { owner, summarise } from '../../../bench/cpu-summary.ts';
import { deploymentNodeOptions } from '../../../bench/support/operator-build.ts';

describe('bench: how the operator runs, and its CPU profile', () => {
  it('takes node flags from the Deployment, so the benches measure what a cluster runs', () => {
    const yaml = readFileSync(new URL('../../../config/manager/deployment.yaml', import.meta.url), 'utf8');
    const flags = deploymentNodeOptions(yaml);
    expect(flags.some((f) => f.startsWith('--max-old-space-size='))).to.equal(true);
    expect(deploymentNodeOptions('env:\n  - name: OTHER\n    value: x\n')).to.deep.equal([]);
    expect(deploymentNodeOptions('- name: NODE_OPTIONS\n  value: "--a=1 --b"\n')).to.deep.equal([
      '--a=1',
      '--b',
    ]);
  });

  it('attributes self time to packages and to the operator’s own files', () => {
    expect(owner('file:///x/node_modules/@kubernetes/client-node/dist/watch.js')).to.equal(
      '@kubernetes/client-node',
    );
    expect(owner('file:///x/node_modules/undici/lib/a.js')).to.equal('undici');
    expect(owner('node:internal/streams/readable')).to.equal('node:internal');
    expect(owner('file:///w/.cluster/bench-build/src/binding/fit.js')).to.equal('src/binding/fit.js');
    expect(owner('')).to.equal('(native / V8)');
    const text = summarise(
      {
        nodes: [
          { id: 1, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
          {
            id: 2,
            callFrame: { functionName: 'fit', url: 'file:///w/dist/src/binding/fit.js', lineNumber: 9 },
          },
        ],
        samples: [1, 2, 2, 2],
        timeDeltas: [1000, 3000, 3000, 3000],
      },
      5,
    );
    expect(text).to.contain('0.01 s sampled');
    expect(text).to.match(/9 ms +90\.0% +src\/binding\/fit\.js/);
    expect(text).to.contain('fit src/binding/fit.js:10');
  });
});
