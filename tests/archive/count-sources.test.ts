import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countSources, inodeKey, walk } from '../../src/archive/walk.js';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';

/** What walk() would store: the reference countSources() must agree with. */
async function walkTotals(options: Parameters<typeof countSources>[0]): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for await (const entry of walk({ ...options, onSkip: () => undefined })) {
    if (entry.kind === 'file') {
      files += 1;
      bytes += entry.stat.size;
    }
  }
  return { files, bytes };
}

describe('countSources (the progress bar total)', () => {
  it('counts what walk() stores: regular files only, symlinks not followed', async () => {
    const src = await makeRichTree(await tempDir());
    const counted = await countSources({ sources: [src] });
    expect(counted).toEqual(await walkTotals({ sources: [src] }));
    expect(counted.files).toBe(9);
  });

  it('applies excludes and skipped inodes like walk()', async () => {
    const src = await makeRichTree(await tempDir());
    const deep = await fs.stat(path.join(src, 'deep'));
    const options = { sources: [src], exclude: ['*.bin', 'ünïcödé/'], skipInodes: new Set([inodeKey(deep)]) };
    const counted = await countSources(options);
    expect(counted).toEqual(await walkTotals(options));
    expect(counted.files).toBe(5);
  });

  it('takes a file given as a source, a symlinked source folder, and skips a missing source', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    await fs.symlink(src, path.join(root, 'via-link'));
    const sources = [path.join(src, 'binary.bin'), path.join(root, 'via-link'), path.join(root, 'missing')];
    const counted = await countSources({ sources });
    expect(counted).toEqual(await walkTotals({ sources }));
    expect(counted.files).toBe(10);
  });

  it('stops when cancelled', async () => {
    const src = await makeRichTree(await tempDir());
    await expect(countSources({ sources: [src], signal: AbortSignal.abort() })).rejects.toThrow();
  });
});
