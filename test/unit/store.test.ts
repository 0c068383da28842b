import { expect } from 'chai';

import { Store, isOlder, objectKey } from '../../src/runtime/store.ts';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
}

const obj = (name: string, rv: string, labels: Record<string, string> = {}, namespace?: string): Obj => ({
  metadata: { name, namespace, resourceVersion: rv, labels },
});

describe('store', () => {
  it('keys namespaced objects by namespace/name and cluster-scoped ones by name', () => {
    expect(objectKey(obj('a', '1', {}, 'ns'))).to.equal('ns/a');
    expect(objectKey(obj('a', '1'))).to.equal('a');
  });

  it('files objects under every value of an index and moves them on change', () => {
    const store = new Store<Obj>({ team: (o) => Object.values(o.metadata.labels ?? {}) });
    store.set(obj('a', '1', { x: 'red', y: 'blue' }));
    store.set(obj('b', '1', { x: 'red' }));
    expect(store.byIndex('team', 'red').map((o) => o.metadata.name)).to.have.members(['a', 'b']);
    expect(store.byIndex('team', 'blue').map((o) => o.metadata.name)).to.deep.equal(['a']);
    store.set(obj('a', '2', { x: 'green' }));
    expect(store.byIndex('team', 'blue')).to.deep.equal([]);
    expect(store.byIndex('team', 'red').map((o) => o.metadata.name)).to.deep.equal(['b']);
    expect(store.byIndex('team', 'green').map((o) => o.metadata.name)).to.deep.equal(['a']);
    store.delete('b');
    expect(store.byIndex('team', 'red')).to.deep.equal([]);
    expect(store.size).to.equal(1);
  });

  it('refuses to read an index it does not have', () => {
    expect(() => new Store<Obj>().byIndex('nope', 'x')).to.throw(/no index named nope/);
  });

  it('compares resource versions as integers', () => {
    expect(isOlder(obj('a', '9'), obj('a', '10'))).to.be.true;
    expect(isOlder(obj('a', '10'), obj('a', '9'))).to.be.false;
    expect(isOlder(obj('a', '10'), obj('a', '10'))).to.be.false;
    expect(isOlder(obj('a', 'abc'), obj('a', '10'))).to.be.false;
    expect(isOlder(obj('a', ''), obj('a', '10'))).to.be.false;
  });
});
