import { KubeConfig } from '@kubernetes/client-node';
import { expect } from 'chai';

import { renderKubeconfig } from '../../cluster/kubeconfig.ts';
import { tokenFileLine } from '../../cluster/pki.ts';

describe('local control plane kubeconfig', () => {
  it('is read by client-node with the server, CA and token it was given', () => {
    const text = renderKubeconfig({
      clusterName: 'local',
      server: 'https://127.0.0.1:6443',
      caBase64: Buffer.from('not-a-real-ca').toString('base64'),
      user: 'admin',
      token: 'secret-token',
    });
    const kc = new KubeConfig();
    kc.loadFromString(text);
    expect(kc.getCurrentCluster()?.server).to.equal('https://127.0.0.1:6443');
    expect(kc.getCurrentCluster()?.caData).to.equal(Buffer.from('not-a-real-ca').toString('base64'));
    expect(kc.getCurrentUser()?.token).to.equal('secret-token');
    expect(kc.getCurrentContext()).to.equal('admin@local');
  });
});

describe('apiserver token file', () => {
  it('writes token, user, uid and quoted groups', () => {
    expect(tokenFileLine('abc', 'admin', 'admin', ['system:masters', 'devs'])).to.equal(
      'abc,admin,admin,"system:masters,devs"\n',
    );
  });

  it('refuses values that would break the CSV line', () => {
    expect(() => tokenFileLine('a,b', 'admin', 'admin', [])).to.throw(/commas/);
    expect(() => tokenFileLine('ab', 'ad"min', 'admin', [])).to.throw(/quotes/);
  });
});
