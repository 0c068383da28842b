// removeTree's walk against an in-memory directory tree that answers like a
// server would (pages of entries, handles, fsids): pure logic, no sockets.
import { expect } from 'chai';

import type { Attrs, FileHandle, Found, ReaddirPage } from '../../../../src/nfs/dir/client.ts';
import { Nfs4Error } from '../../../../src/nfs/v4/errors.ts';
import { type TreeClient, TreeRefusedError, removeTree } from '../../../../src/nfs/dir/remove-tree.ts';

interface Node {
  type: Attrs['type'];
  fsid: string;
  fileid: bigint;
  children: Map<string, string>;
}

/** A tree of nodes keyed by handle, listing `pageSize` entries per READDIR. */
class MemoryTree implements TreeClient {
  readonly nodes = new Map<string, Node>();
  calls = 0;
  private next = 1n;
  readonly root: FileHandle;

  private readonly pageSize: number;

  constructor(pageSize = 3) {
    this.pageSize = pageSize;
    this.root = this.make('dir', 'fs1');
  }

  make(type: Attrs['type'], fsid: string, parent?: FileHandle, name?: string): FileHandle {
    const fh = Buffer.from(`fh-${String(this.next)}`);
    this.nodes.set(fh.toString(), { type, fsid, fileid: this.next++, children: new Map() });
    if (parent && name) this.node(parent).children.set(name, fh.toString());
    return fh;
  }

  /** Runs before each READDIR, to change the tree under the walk as another client would. */
  beforeReaddir: (() => void) | undefined;

  node(fh: FileHandle): Node {
    const n = this.nodes.get(fh.toString());
    if (!n) throw new Nfs4Error(70, 'PUTFH', `of ${fh.toString()}`);
    return n;
  }

  /** Removes what lies at fh and below, as another client would. */
  drop(parent: FileHandle, name: string): void {
    const key = this.node(parent).children.get(name) as string;
    for (const child of [...(this.nodes.get(key) as Node).children.keys()])
      this.drop(Buffer.from(key), child);
    this.node(parent).children.delete(name);
    this.nodes.delete(key);
  }

  found(key: string): Found {
    const n = this.nodes.get(key) as Node;
    return { fh: Buffer.from(key), attrs: { type: n.type, fsid: n.fsid, fileid: n.fileid } };
  }

  lookup(dir: FileHandle, name: string): Promise<Found | undefined> {
    this.calls++;
    const key = this.node(dir).children.get(name);
    return Promise.resolve(key === undefined ? undefined : this.found(key));
  }

  readdir(dir: FileHandle, cookie: bigint): Promise<ReaddirPage> {
    this.calls++;
    this.beforeReaddir?.();
    const all = [...this.node(dir).children.entries()];
    const page = all.slice(Number(cookie), Number(cookie) + this.pageSize);
    const entries = page.map(([name, key], i) => ({
      name,
      cookie: cookie + BigInt(i + 1),
      ...this.found(key),
    }));
    return Promise.resolve({
      entries,
      eof: Number(cookie) + page.length >= all.length,
      verifier: Buffer.alloc(8),
    });
  }

  /** Runs before each REMOVE, likewise. */
  beforeRemove: ((name: string) => void) | undefined;

  remove(dir: FileHandle, name: string): Promise<'removed' | 'absent'> {
    this.calls++;
    this.beforeRemove?.(name);
    const parent = this.node(dir);
    const key = parent.children.get(name);
    if (key === undefined) return Promise.resolve('absent');
    const n = this.nodes.get(key) as Node;
    if (n.type === 'dir' && n.children.size > 0) return Promise.reject(new Nfs4Error(66, 'REMOVE', name));
    parent.children.delete(name);
    this.nodes.delete(key);
    return Promise.resolve('removed');
  }

  /** Names under fh, depth first, for checks. */
  list(fh: FileHandle, prefix = ''): string[] {
    return [...this.node(fh).children.entries()].flatMap(([name, key]) => [
      `${prefix}${name}`,
      ...this.list(Buffer.from(key), `${prefix}${name}/`),
    ]);
  }
}

const FOREVER = { maxOps: 1_000_000, deadline: Date.now() + 3600_000 };

/** root/vol with `depth` nested dirs, each holding `files` files and a symlink. */
function build(tree: MemoryTree, depth: number, files: number): FileHandle {
  const vol = tree.make('dir', 'fs1', tree.root, 'vol');
  let dir = vol;
  for (let d = 0; d < depth; d++) {
    for (let f = 0; f < files; f++) tree.make('file', 'fs1', dir, `f${String(f)}`);
    tree.make('symlink', 'fs1', dir, 'link');
    dir = tree.make('dir', 'fs1', dir, `d${String(d)}`);
  }
  return vol;
}

describe('removeTree (in-memory tree)', () => {
  it('removes a deep tree with files and symlinks, and only it', async () => {
    const tree = new MemoryTree();
    const vol = build(tree, 20, 4);
    tree.make('file', 'fs1', tree.root, 'neighbour');
    const before = tree.nodes.size;
    const progress = await removeTree(tree, tree.root, 'vol', vol, FOREVER);
    expect(progress).to.deep.equal({ done: true, removed: 20 * 6 + 1, gone: true });
    expect(tree.list(tree.root)).to.deep.equal(['neighbour']);
    expect(tree.nodes.size).to.equal(before - progress.removed);
  });

  it('says done and gone when the directory is already absent', async () => {
    const tree = new MemoryTree();
    const fh = build(tree, 1, 1);
    await removeTree(tree, tree.root, 'vol', fh, FOREVER);
    expect(await removeTree(tree, tree.root, 'vol', fh, FOREVER)).to.deep.equal({
      done: true,
      removed: 0,
      gone: true,
    });
  });

  it('refuses a directory whose handle is not the one recorded, removing nothing', async () => {
    const tree = new MemoryTree();
    build(tree, 3, 2);
    const before = tree.list(tree.root);
    const err = await removeTree(tree, tree.root, 'vol', Buffer.from('other'), FOREVER).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(TreeRefusedError).with.property('code', 'HandleMismatch');
    expect(tree.list(tree.root)).to.deep.equal(before);
  });

  it('refuses a non-directory, even with the right handle', async () => {
    const tree = new MemoryTree();
    const file = tree.make('file', 'fs1', tree.root, 'vol');
    const err = await removeTree(tree, tree.root, 'vol', file, FOREVER).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TreeRefusedError).with.property('code', 'NotDirectory');
    expect(tree.list(tree.root)).to.deep.equal(['vol']);
  });

  it('does not descend into another file system, and leaves everything there', async () => {
    const tree = new MemoryTree();
    const vol = tree.make('dir', 'fs1', tree.root, 'vol');
    const mount = tree.make('dir', 'fs2', vol, 'mnt');
    tree.make('file', 'fs2', mount, 'precious');
    const err = await removeTree(tree, tree.root, 'vol', vol, FOREVER).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(TreeRefusedError).with.property('code', 'OtherFileSystem');
    expect((err as Error).message)
      .to.include('vol/mnt')
      .and.include('fs2');
    expect(tree.list(tree.root)).to.deep.equal(['vol', 'vol/mnt', 'vol/mnt/precious']);
  });

  it('stops at maxOps with done false, and a later call resumes to the end', async () => {
    const tree = new MemoryTree();
    const vol = build(tree, 10, 10);
    const total = tree.nodes.size - 1;
    let removed = 0;
    let rounds = 0;
    for (;;) {
      rounds++;
      const calls = tree.calls;
      const p = await removeTree(tree, tree.root, 'vol', vol, { maxOps: 25, deadline: FOREVER.deadline });
      expect(tree.calls - calls).to.be.at.most(25);
      removed += p.removed;
      if (p.done) break;
      expect(p).to.include({ done: false, gone: false });
      expect(rounds).to.be.below(100);
    }
    expect(rounds).to.be.above(1);
    expect(removed).to.equal(total);
    expect(tree.list(tree.root)).to.deep.equal([]);
  });

  it('tolerates another remover: a directory gone before it is listed, one written into once emptied', async () => {
    const tree = new MemoryTree();
    const vol = tree.make('dir', 'fs1', tree.root, 'vol');
    const a = tree.make('dir', 'fs1', vol, 'a');
    tree.make('file', 'fs1', a, 'x');
    tree.make('dir', 'fs1', vol, 'b');
    const b = tree.node(vol).children.get('b') as string;
    let readdirs = 0;
    tree.beforeReaddir = () => {
      // The 2nd listing is of vol/a, just descended into: someone else removes it first.
      if (++readdirs === 2) tree.drop(vol, 'a');
    };
    let wrote = false;
    tree.beforeRemove = (name) => {
      // vol/b was listed empty; someone writes into it before it is removed.
      if (name === 'b' && !wrote) tree.make('file', 'fs1', Buffer.from(b), 'late');
      if (name === 'b') wrote = true;
    };
    const p = await removeTree(tree, tree.root, 'vol', vol, FOREVER);
    // late, b and vol: a and a/x went by the other hand.
    expect(p).to.deep.equal({ done: true, removed: 3, gone: true });
    expect(wrote).to.equal(true);
    expect(tree.list(tree.root)).to.deep.equal([]);
  });

  it('passes STALE on for the directory itself, never calling it gone', async () => {
    const tree = new MemoryTree();
    const vol = build(tree, 1, 1);
    // The server's lookup still knows the handle; listing it says STALE.
    tree.beforeReaddir = () => {
      tree.drop(tree.root, 'vol');
      tree.node(tree.root).children.set('vol', vol.toString());
    };
    const err = await removeTree(tree, tree.root, 'vol', vol, FOREVER).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Nfs4Error).with.property('code', 'NFS4ERR_STALE');
  });

  it('makes no call once the deadline has passed', async () => {
    const tree = new MemoryTree();
    const vol = build(tree, 2, 2);
    const p = await removeTree(tree, tree.root, 'vol', vol, { maxOps: 100, deadline: Date.now() - 1 });
    expect(p).to.deep.equal({ done: false, removed: 0, gone: false });
    expect(tree.calls).to.equal(0);
  });

  it('refuses a budget that is not one', async () => {
    const tree = new MemoryTree();
    for (const budget of [
      { maxOps: 0, deadline: 1 },
      { maxOps: 1.5, deadline: 1 },
      { maxOps: 1, deadline: Number.NaN },
    ]) {
      const err = await removeTree(tree, tree.root, 'vol', tree.root, budget).catch((e: unknown) => e);
      expect(err, JSON.stringify(budget)).to.be.instanceOf(RangeError);
    }
    expect(tree.calls).to.equal(0);
  });
});
