// Names as bytes: what a server lists that is not UTF-8 is still one name,
// shown escaped and sent back exactly; what is not one component is refused.
import { expect } from 'chai';

import { checkName, displayName, nameBytes, nameProblem } from '../../../../src/nfs/dir/names.ts';

describe('NFS name bytes', () => {
  it('shows bytes that are not UTF-8 as \\xNN, and UTF-8 around them as text', () => {
    expect(displayName(Buffer.from('plain'))).to.equal('plain');
    expect(displayName(Buffer.from([0x66, 0xff, 0xc3, 0xa9, 0xfe]))).to.equal('f\\xffé\\xfe');
    // A truncated UTF-8 sequence is bytes too.
    expect(displayName(Buffer.from([0x61, 0xe2, 0x82]))).to.equal('a\\xe2\\x82');
  });

  it('takes raw bytes as one component unless they are empty, dots, hold "/" or NUL, or are too long', () => {
    expect(nameProblem(Buffer.from([0xff, 0xfe]))).to.equal(undefined);
    expect(nameProblem(Buffer.alloc(0))).to.equal('is empty');
    expect(nameProblem(Buffer.from('..'))).to.equal('is ".."');
    expect(nameProblem(Buffer.from([0xff, 0x2f]))).to.equal('contains "/"');
    expect(nameProblem(Buffer.from([0xff, 0x00]))).to.equal('contains NUL');
    expect(nameProblem(Buffer.alloc(256, 0xff))).to.equal('is 256 bytes long, more than 255');
    expect(() => checkName(Buffer.from([0xff, 0x2f]))).to.throw(RangeError, /name "\\\\xff\/" contains "\/"/);
  });

  it('sends a string as UTF-8 and bytes as they are', () => {
    expect(nameBytes('é')).to.deep.equal(Buffer.from([0xc3, 0xa9]));
    const raw = Buffer.from([0xff]);
    expect(nameBytes(raw)).to.equal(raw);
  });
});
