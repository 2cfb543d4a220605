/**
 * bzip2 without lbzip2: one bzip2 process per block, streams concatenated.
 * Read back by `bzip2 -t`, `bzip2 -dc` and Python's bz2 (multi-stream).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { ParallelBzip2 } from '../../src/archive/parallel-bzip2.js';
import { findExecutable } from '../../src/archive/compressors.js';
import { tempDir } from '../helpers/fixtures.js';

const BLOCK = 100_000;

async function compress(input: Buffer, jobs: number): Promise<Buffer> {
  const bzip2 = findExecutable('bzip2');
  if (!bzip2) throw new Error('bzip2 is not installed (.ci/run installs it)');
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += 30_000) pieces.push(input.subarray(i, i + 30_000));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), new ParallelBzip2(bzip2, jobs, BLOCK), async function* (source) {
    for await (const c of source) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

describe('ParallelBzip2', () => {
  it.each([
    ['empty', 0],
    ['one block exactly', BLOCK],
    ['seven blocks and a bit', 7 * BLOCK + 999],
  ])('%s: bzip2 -t, bzip2 -dc and Python read it back', async (_name, size) => {
    const dir = await tempDir();
    const input = Buffer.concat([Buffer.from('text '.repeat(size >> 3)), randomBytes(size - 5 * (size >> 3))]);
    const file = path.join(dir, 'x.bz2');
    await fs.writeFile(file, await compress(input, 3));
    execFileSync('bzip2', ['-t', file]);
    expect(execFileSync('bzip2', ['-dc', file], { maxBuffer: 64 << 20 }).equals(input)).toBe(true);
    const viaPython = execFileSync('python3', ['-c', 'import bz2,sys; sys.stdout.buffer.write(bz2.open(sys.argv[1]).read())', file], { maxBuffer: 64 << 20 });
    expect(viaPython.equals(input)).toBe(true);
  });

  it('writes the same bytes whatever the number of jobs', async () => {
    const input = randomBytes(5 * BLOCK + 7);
    expect((await compress(input, 1)).equals(await compress(input, 4))).toBe(true);
  });
});
