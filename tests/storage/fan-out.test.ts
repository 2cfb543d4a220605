/**
 * The fan-out's pace rule with real streams: a slow destination throttles
 * the others (and gets every byte), a stuck one is dropped after the stall
 * time with its reason, a failing one is dropped at once, and none of them
 * makes the others buffer more than about one chunk window.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FanOut } from '../../src/storage/fan-out.js';
import { BackupError } from '../../src/errors.js';

const KiB = 1024;

/** A sink that hashes what it gets, taking `delayMs` per write; records the most it ever had buffered. */
function sink(delayMs = 0): { stream: Writable; digest: () => string; bytes: () => number; maxBuffered: () => number } {
  const hash = createHash('sha256');
  let bytes = 0;
  let maxBuffered = 0;
  const stream = new Writable({
    highWaterMark: 64 * KiB,
    write(chunk: Buffer, _enc, callback) {
      maxBuffered = Math.max(maxBuffered, stream.writableLength);
      hash.update(chunk);
      bytes += chunk.length;
      if (delayMs > 0) setTimeout(callback, delayMs);
      else callback();
    },
  });
  return { stream, digest: () => hash.digest('hex'), bytes: () => bytes, maxBuffered: () => maxBuffered };
}

/** A sink that takes its first write and then never calls back: a hung server. */
function stuck(): Writable {
  let first = true;
  return new Writable({
    highWaterMark: 64 * KiB,
    write(_chunk, _enc, callback) {
      if (first) {
        first = false;
        callback();
      }
    },
  });
}

function source(chunks: Buffer[]): Readable {
  return Readable.from(chunks);
}

describe('fan-out', () => {
  const chunks = Array.from({ length: 64 }, () => randomBytes(64 * KiB));
  const expected = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');

  it('a slow destination throttles the others and gets every byte; nothing buffers beyond its window', async () => {
    const fast = sink();
    const slow = sink(3);
    const fanOut = new FanOut(
      [
        { name: 'fast', stream: fast.stream },
        { name: 'slow', stream: slow.stream },
      ],
      10_000,
      64 * KiB,
    );
    await pipeline(source(chunks), fanOut);
    expect(fanOut.failures.size).toBe(0);
    expect(fanOut.succeeded()).toEqual(['fast', 'slow']);
    expect(fast.digest()).toBe(expected);
    expect(slow.digest()).toBe(expected);
    // The fast one was held to the slow one's pace: never more than the queue (64 KiB) plus a chunk ahead.
    expect(fast.maxBuffered()).toBeLessThanOrEqual(128 * KiB);
    expect(slow.maxBuffered()).toBeLessThanOrEqual(128 * KiB);
  });

  it('a destination that takes no data for the stall time is dropped with its reason; the others finish', async () => {
    const good = sink();
    const hung = stuck();
    const fanOut = new FanOut(
      [
        { name: 'good', stream: good.stream },
        { name: 'hung', stream: hung },
      ],
      300,
      64 * KiB,
    );
    await pipeline(source(chunks), fanOut);
    expect(good.digest()).toBe(expected);
    expect(fanOut.succeeded()).toEqual(['good']);
    const why = fanOut.failures.get('hung');
    expect(why).toBeInstanceOf(BackupError);
    expect((why as BackupError).code).toBe('DESTINATION_STALLED');
    expect(why!.message).toMatch(/^hung took no data for 300 ms .*dropped/);
    expect(hung.destroyed).toBe(true);
  });

  it('a slow destination that keeps taking data is never dropped, even when emptying its queue takes longer than the stall time', async () => {
    const fast = sink();
    // 64 KiB per 100 ms: its 256 KiB queue takes ~400 ms to empty, longer than the 300 ms stall time.
    const slow = sink(100);
    const fanOut = new FanOut(
      [
        { name: 'fast', stream: fast.stream },
        { name: 'slow', stream: slow.stream },
      ],
      300,
      256 * KiB,
    );
    await pipeline(source(chunks.slice(0, 16)), fanOut);
    expect(fanOut.failures.size).toBe(0);
    expect(fanOut.succeeded()).toEqual(['fast', 'slow']);
    const sixteen = createHash('sha256').update(Buffer.concat(chunks.slice(0, 16))).digest('hex');
    expect(slow.digest()).toBe(sixteen);
    expect(fast.digest()).toBe(sixteen);
  });

  it('a destination that fails mid-stream is dropped at once; the others get everything', async () => {
    const good = sink();
    let seen = 0;
    const failing = new Writable({
      write(chunk: Buffer, _enc, callback) {
        seen += chunk.length;
        callback(seen > 1024 * KiB ? new Error('connection reset') : null);
      },
    });
    const fanOut = new FanOut(
      [
        { name: 'failing', stream: failing },
        { name: 'good', stream: good.stream },
      ],
      10_000,
      64 * KiB,
    );
    await pipeline(source(chunks), fanOut);
    expect(good.digest()).toBe(expected);
    expect(fanOut.failures.get('failing')?.message).toBe('connection reset');
  });

  it('fails only when every destination has', async () => {
    const fanOut = new FanOut([{ name: 'only', stream: stuck() }], 200);
    await expect(pipeline(source(chunks), fanOut)).rejects.toMatchObject({ code: 'DESTINATION_STALLED' });
  });

  it('a destination whose upload never finishes is dropped after the stall time', async () => {
    const good = sink();
    const neverFinishes = new Writable({
      write(_chunk, _enc, callback) {
        callback();
      },
      final() {
        // never calls back: the server never confirms the upload
      },
    });
    const fanOut = new FanOut(
      [
        { name: 'good', stream: good.stream },
        { name: 'lost', stream: neverFinishes },
      ],
      300,
      64 * KiB,
    );
    await pipeline(source(chunks), fanOut);
    await sleep(10);
    expect(good.digest()).toBe(expected);
    expect((fanOut.failures.get('lost') as BackupError).code).toBe('DESTINATION_STALLED');
    expect(fanOut.failures.get('lost')!.message).toMatch(/did not finish/);
  });
});
