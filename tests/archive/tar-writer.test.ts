import fs from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createTarStream, paxTime } from '../../src/archive/tar-writer.js';
import { ArchiveProgress } from '../../src/archive/progress-counter.js';
import { tempDir } from '../helpers/fixtures.js';

describe('paxTime (pax mtime records, to the nanosecond)', () => {
  it.each([
    [0n, '0'],
    [1_714_979_289_123_456_789n, '1714979289.123456789'],
    [1_714_979_289_500_000_000n, '1714979289.5'],
    [1_714_979_289_000_000_000n, '1714979289'],
    [1_000_000_001n, '1.000000001'],
    [-1_500_000_000n, '-1.5'],
    [-14_182_940_000_000_000n, '-14182940'],
  ])('%s ns -> %s', (ns, text) => {
    expect(paxTime(ns)).toBe(text);
  });
});

describe('createTarStream (its reader on the built worker thread, as everywhere)', () => {
  it('stores later paths of a hard-linked file as link entries and pax times to the nanosecond', async () => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'a.txt'), 'shared\n');
    await fs.link(path.join(src, 'a.txt'), path.join(src, `${'b'.repeat(120)}.txt`));
    execFileSync('touch', ['-d', '2024-05-06 07:08:09.123456789', path.join(src, 'a.txt')]);
    const skips: unknown[] = [];
    const stream = createTarStream(
      { sources: [src], exclude: [], skipInodes: new Set() },
      { onSkip: (s) => skips.push(s), onWarning: () => undefined, progress: new ArchiveProgress() },
    );
    const archive = path.join(root, 'out.tar');
    await pipeline(stream, createWriteStream(archive));
    expect(skips).toEqual([]);
    const listing = execFileSync('tar', ['--full-time', '-tvf', archive], { encoding: 'utf8' });
    expect(listing).toMatch(new RegExp(`^h.* 2024-05-06 07:08:09\\.123456789 data/${'b'.repeat(120)}\\.txt link to data/a\\.txt$`, 'm'));
    const compare = spawnSync('tar', ['-C', root, '-df', archive], { encoding: 'utf8' });
    expect(compare.stdout + compare.stderr).toBe('');
  });
});
