import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { LocalDestination } from '../../src/storage/local.js';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { destinationContract } from './destination-contract.js';

destinationContract('local folder', {
  async create() {
    const dest = new LocalDestination(path.join(await tempDir(), 'out'));
    await dest.prepare();
    return dest;
  },
  async sibling(of) {
    return new LocalDestination((of as LocalDestination).dir);
  },
  // Partial files included: after a commit or an abort none may remain.
  list: (of) => listDir((of as LocalDestination).dir),
  read: (of, name) => fs.readFile(path.join((of as LocalDestination).dir, name)),
  plant: (of, name) => fs.writeFile(path.join((of as LocalDestination).dir, name), 'theirs'),
});

describe('local folder: verification reads the bytes back', () => {
  it('a commit whose bytes on disk do not match the SHA-256 publishes nothing', async () => {
    const dest = new LocalDestination(path.join(await tempDir(), 'out'));
    await dest.prepare();
    expect(await dest.reserve('x.zip')).toBe(true);
    const sink = await dest.open();
    await pipeline(Readable.from([randomBytes(5000)]), sink);
    await expect(dest.verify({ sha256: 'f'.repeat(64), bytes: 5000 })).rejects.toThrow(/differs from what was written/);
    await dest.abort();
    expect(await listDir(dest.dir)).toEqual([]);
  });
});
