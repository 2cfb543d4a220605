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
import { hashFile } from '../../src/storage/hash-file.js';

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

describe('hashFile: the read-back of a stored file, one reused buffer', () => {
  const MiB = 1024 * 1024;
  // Around the 1 MiB read size: a short last read, an exact multiple, an empty file.
  it.each([0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 12345])('%i bytes: the same digest and length as sha256sum', async (size) => {
    const file = path.join(await tempDir(), 'archive.bin');
    await fs.writeFile(file, randomBytes(size));
    const { execFileSync } = await import('node:child_process');
    const expected = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0];
    expect(await hashFile(file)).toEqual({ sha256: expected, bytes: size });
  });

  it('one byte changed in the middle of a large file changes the digest', async () => {
    const file = path.join(await tempDir(), 'archive.bin');
    const data = randomBytes(2 * MiB + 7);
    await fs.writeFile(file, data);
    const before = await hashFile(file);
    data[MiB + 3] = data[MiB + 3]! ^ 0x01;
    await fs.writeFile(file, data);
    const after = await hashFile(file);
    expect(after.bytes).toBe(before.bytes);
    expect(after.sha256).not.toBe(before.sha256);
  });

  it('an aborted signal: rejects with its reason, no file handle left open', async () => {
    const file = path.join(await tempDir(), 'archive.bin');
    await fs.writeFile(file, randomBytes(MiB));
    const controller = new AbortController();
    const reason = new Error('cancelled by the test');
    controller.abort(reason);
    await expect(hashFile(file, controller.signal)).rejects.toBe(reason);
  });

  it('aborted while reading (after the file was opened): rejects with the reason and closes the file', async () => {
    // 16 reads of 1 MiB, each a trip through the thread pool: the abort below comes first.
    const file = path.join(await tempDir(), 'archive.bin');
    await fs.writeFile(file, randomBytes(16 * MiB));
    const open = (await fs.readdir('/proc/self/fd')).length;
    const controller = new AbortController();
    const reason = new Error('cancelled mid-read');
    const hashing = hashFile(file, controller.signal);
    setImmediate(() => controller.abort(reason));
    await expect(hashing).rejects.toBe(reason);
    expect((await fs.readdir('/proc/self/fd')).length).toBe(open);
  });

  it('a symlink planted in the file\'s place is refused (ELOOP), not followed', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'elsewhere.bin'), 'not the archive');
    await fs.symlink(path.join(dir, 'elsewhere.bin'), path.join(dir, 'archive.bin'));
    await expect(hashFile(path.join(dir, 'archive.bin'))).rejects.toMatchObject({ code: 'ELOOP' });
  });

  it('a missing file is an ENOENT error, not an empty digest', async () => {
    await expect(hashFile(path.join(await tempDir(), 'gone.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
