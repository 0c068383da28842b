import { expect } from 'chai';

import { RpcDecodeError } from '../../../../src/nfs/rpc.ts';
import { bitmapWords, parseOwnerId, toAttrs } from '../../../../src/nfs/v4/attrs.ts';
import { exportComponents, safeBytes } from '../../../../src/nfs/v4/client.ts';
import { checkName, nameProblem } from '../../../../src/nfs/dir/names.ts';

describe('NFSv4 attributes and names', () => {
  it('parses numeric owners, with or without a domain, and nothing else', () => {
    expect(parseOwnerId('1000')).to.equal(1000);
    expect(parseOwnerId('0@localdomain')).to.equal(0);
    expect(parseOwnerId('4294967295')).to.equal(4294967295);
    for (const owner of [
      'root@localdomain',
      'nobody',
      '',
      '-1',
      '4294967296',
      '12345678901',
      '1e3',
      ' 1',
      '1 ',
      undefined,
    ]) {
      expect(parseOwnerId(owner), String(owner)).to.equal(undefined);
    }
  });

  it('sets bitmap words by attribute number', () => {
    expect(bitmapWords([1, 8, 20, 33, 36, 37])).to.deep.equal([0x0010_0102, 0x32]);
    expect(bitmapWords([42, 43, 44])).to.deep.equal([0, 0x1c00]);
    expect(bitmapWords([31])).to.deep.equal([0x8000_0000]);
  });

  it('builds Attrs from what the server sent: types, fsid, the low 12 mode bits', () => {
    const fsid = { major: 1n, minor: 2n };
    expect(
      toAttrs({ type: 2, fileid: 9n, fsid, mode: 0o40755, owner: '5', ownerGroup: 'staff@x' }, 'a'),
    ).to.deep.equal({ type: 'dir', fileid: 9n, fsid: '1:2', mode: 0o755, uid: 5 });
    expect(toAttrs({ type: 1, fileid: 9n, fsid }, 'a').type).to.equal('file');
    expect(toAttrs({ type: 5, fileid: 9n, fsid }, 'a').type).to.equal('symlink');
    expect(toAttrs({ type: 7, fileid: 9n, fsid }, 'a').type).to.equal('other');
    expect(() => toAttrs({ type: 2, fsid }, 'entry x')).to.throw(RpcDecodeError, 'entry x lacks fileid');
    expect(() => toAttrs({}, 'y')).to.throw(RpcDecodeError, 'y lacks type, fileid, fsid');
  });

  it('accepts one component and refuses the rest with the reason', () => {
    expect(checkName('pvc-1')).to.equal('pvc-1');
    expect(nameProblem('a'.repeat(255))).to.equal(undefined);
    expect(nameProblem('a'.repeat(256))).to.match(/256 bytes/);
    expect(nameProblem('')).to.equal('is empty');
    expect(nameProblem('..')).to.equal('is ".."');
    expect(nameProblem('a/b')).to.equal('contains "/"');
    expect(nameProblem('a\0')).to.equal('contains NUL');
    expect(nameProblem(7)).to.equal('is not a string');
    expect(() => checkName('.', 'from')).to.throw(RangeError, 'from "." is "."');
  });

  it('splits an export path into checked components', () => {
    expect(exportComponents('/export')).to.deep.equal(['export']);
    expect(exportComponents('//a/b/')).to.deep.equal(['a', 'b']);
    expect(exportComponents('/')).to.deep.equal([]);
    expect(() => exportComponents('export')).to.throw(RangeError, /absolute/);
    expect(() => exportComponents('/a/../b')).to.throw(RangeError, /"\.\."/);
  });
});

describe('space from the server', () => {
  it('is capped at 2^53-1 bytes, so a hostile 2^64-1 stays exact and fits the status', () => {
    expect(safeBytes(0n)).to.equal(0);
    expect(safeBytes(123_456_789_012n)).to.equal(123_456_789_012);
    expect(safeBytes(2n ** 64n - 1n)).to.equal(Number.MAX_SAFE_INTEGER);
    expect(Number.isSafeInteger(safeBytes(2n ** 63n))).to.equal(true);
  });
});
