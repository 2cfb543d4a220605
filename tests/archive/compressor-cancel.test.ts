/**
 * Cancelling a compressor child whose output we had stopped reading
 * (backpressure): the stream must still close. It used to wait for the
 * child's 'close', which a killed child with a paused stdout never emits;
 * a paused pipe keeps nothing alive either, so a Ctrl-C'd tar.bz2 run could
 * find its event loop empty mid-cancel and exit 13, leaving its .partial and
 * lock. Here the child is `cat`, filled until its output backs up.
 */
import { describe, expect, it } from 'vitest';
import { spawnFilter } from '../../src/archive/compressors.js';
import { waitFor } from '../helpers/wait-for.js';

describe('a compressor child cancelled while its output is paused', () => {
  it('is killed and the stream closes', async () => {
    const filter = spawnFilter({ kind: 'lbzip2', command: 'cat', args: [] });
    filter.on('error', () => undefined);
    const chunk = Buffer.alloc(64 * 1024, 1);
    // Write until our side reports backpressure: cat's stdout has filled our readable buffer and the pipe.
    let writes = 0;
    while (filter.write(chunk) && writes < 4096) writes += 1;
    await waitFor('the output to back up', () => filter.readableLength >= filter.readableHighWaterMark, 10_000);
    let closed = false;
    filter.once('close', () => (closed = true));
    filter.destroy(new Error('cancelled'));
    await waitFor('the stream to close after the child is killed', () => closed, 10_000);
    expect(filter.destroyed).toBe(true);
  });
});
