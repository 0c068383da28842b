import { Writable } from 'node:stream';

import { expect } from 'chai';

import type { Log } from '../../src/runtime/log.ts';
import { createLogger } from '../../src/runtime/logging.ts';

function capture(): { stream: Writable; lines: () => Promise<string[]> } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    stream,
    // winston hands entries to its transports through streams; let them drain first.
    lines: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return text.split('\n').filter((l) => l !== '');
    },
  };
}

describe('logging', () => {
  it('writes JSON lines with a timestamp, the level, the message and the meta fields', async () => {
    const out = capture();
    const log: Log = createLogger({ stream: out.stream });
    log.info('volume bound', { volume: 'pv-1', claim: 'ns/c', attempt: 2 });
    log.warn('reconcile failed', { error: new Error('conflict') });
    const [first, second] = (await out.lines()).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).to.include({
      level: 'info',
      message: 'volume bound',
      volume: 'pv-1',
      claim: 'ns/c',
      attempt: 2,
    });
    expect(new Date(String(first?.timestamp)).toISOString()).to.equal(first?.timestamp);
    expect(second).to.include({ level: 'warn', error: 'conflict' });
  });

  it('writes one colourless line with key=value fields in the text format', async () => {
    const out = capture();
    const log = createLogger({ format: 'text', stream: out.stream });
    log.info('volume bound', { volume: 'pv-1', note: 'two words', nested: { a: 1 }, ok: true });
    log.error('line one\nline two');
    const lines = await out.lines();
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info {2}volume bound volume=pv-1 note="two words" nested=\{"a":1\} ok=true$/,
    );
    expect(lines[1]).to.match(/Z error line one\\nline two$/);
    expect(lines.join('')).not.to.contain('\u001b[');
  });

  it('drops entries below the configured level', async () => {
    const out = capture();
    const log = createLogger({ level: 'warn', stream: out.stream });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    const messages = (await out.lines()).map((l) => (JSON.parse(l) as { message: string }).message);
    expect(messages).to.deep.equal(['w', 'e']);

    const verbose = capture();
    createLogger({ level: 'debug', stream: verbose.stream }).debug('d');
    expect(await verbose.lines()).to.have.length(1);
  });

  it('rejects an unknown level or format and names the valid ones', () => {
    expect(() => createLogger({ level: 'verbose' })).to.throw(
      'invalid log level "verbose": valid levels are error, warn, info, debug',
    );
    expect(() => createLogger({ format: 'yaml' })).to.throw('valid formats are json, text');
  });
});
