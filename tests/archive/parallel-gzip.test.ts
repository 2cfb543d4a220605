/**
 * The parallel gzip stream against the system gzip: every input size that
 * matters around the block boundaries, read back by `gzip -t` and `gzip -dc`
 * (byte for byte), and the size close to single-stream zlib's.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from '../../src/archive/parallel-gzip.js';
import { tempDir } from '../helpers/fixtures.js';

const BLOCK = 64 * 1024; // small blocks, so the tests cross many boundaries quickly

/** Text that compresses like logs, deterministic. */
function text(bytes: number): Buffer {
  const words = ['backup', 'archive', 'stream', 'error', 'ok', 'GET /index.html', '200', '404', 'user=42', 'took 12ms'];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += `${words[(i * 7) % words.length]} ${i % 997}\n`;
  return Buffer.from(out.slice(0, bytes));
}

async function compress(input: Buffer, chunk: number, jobs = 3): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) pieces.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), new ParallelGzip({ jobs, blockSize: BLOCK }), async function* (source) {
    for await (const c of source) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

describe('ParallelGzip', () => {
  it.each([
    ['empty', 0],
    ['one byte', 1],
    ['one block exactly', BLOCK],
    ['one block plus one', BLOCK + 1],
    ['exactly eight blocks', 8 * BLOCK],
    ['eight blocks and a bit', 8 * BLOCK + 12_345],
  ])('%s: gzip -t passes and gzip -dc gives the input back', async (_name, size) => {
    const dir = await tempDir();
    const input = Buffer.concat([text(size >> 1), randomBytes(size - (size >> 1))]);
    for (const chunk of [1000, 65_536, 300_000]) {
      const gz = await compress(input, chunk);
      const file = path.join(dir, `x-${chunk}.gz`);
      await fs.writeFile(file, gz);
      execFileSync('gzip', ['-t', file]);
      expect(execFileSync('gzip', ['-dc', file], { maxBuffer: 64 << 20 }).equals(input)).toBe(true);
      // One member: Node's own gunzip (which stops at the first member's end) reads everything.
      expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
    }
  });

  it('is within 1% of single-stream gzip -6 on compressible data', async () => {
    const input = text(4 << 20);
    const parallel = await compress(input, 65_536);
    const single = zlib.gzipSync(input, { level: 6 });
    expect(parallel.length / single.length).toBeLessThan(1.01);
  });

  it('gives the same bytes whatever the number of jobs (deterministic output)', async () => {
    const input = Buffer.concat([text(1 << 20), randomBytes(300_000)]);
    const one = await compress(input, 50_000, 1);
    const four = await compress(input, 50_000, 4);
    expect(four.equals(one)).toBe(true);
  });
});
