import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { LocalDestination } from '../../src/storage/local.js';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { storeContract } from './store-contract.js';
import { LocalStore } from '../../src/storage/local-store.js';

storeContract('local folder', {
  async create() {
    return new LocalStore(path.join(await tempDir(), 'out'));
  },
  async sibling(of) {
    return new LocalStore((of as LocalStore).dir);
  },
  // Partial files and temporary sidecars included: after a publish or an abort none may remain.
  rawNames: async (of) => listDir((of as LocalStore).dir).catch(() => []),
  plant: (of, name, content) => fs.writeFile(path.join((of as LocalStore).dir, name), content),
  async missingLocation() {
    // A file where the folder should be.
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'file'), 'x');
    return new LocalStore(path.join(dir, 'file', 'out'));
  },
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
