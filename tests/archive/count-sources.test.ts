import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { countSources, inodeKey, walk } from '../../src/archive/walk.js';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

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

describe('one walker for the run, the dry run and the count', () => {
  /** A tree with every rule in play: a name that is not UTF-8, a FIFO, an exclude, the destination and log inside. */
  async function awkwardTree(root: string): Promise<string> {
    const src = await makeRichTree(root);
    // A Latin-1 name, made with a Buffer path (the name's bytes are not valid UTF-8).
    await fs.writeFile(Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]), 'latin-1 name');
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    await fs.writeFile(path.join(src, 'skip-me.tmp'), 'excluded');
    await fs.mkdir(path.join(src, 'logs'));
    return src;
  }

  it('the count, the dry run and the real run agree on files, bytes and skips', async () => {
    const root = await tempDir();
    const src = await awkwardTree(root);
    const args = ['run', '-s', 'data', '-d', 'data/out', '-f', 'tar.gz', '--exclude', '*.tmp', '--log-file', 'data/logs/backup.log', '--json'];
    const dry = await runCli([...args, '--dry-run'], { cwd: root });
    const real = await runCli(args, { cwd: root });
    expect(real.code, real.stderr).toBe(3);
    expect(dry.code, dry.stderr).toBe(3);
    const dryResult = parseJsonResult(dry);
    const realResult = parseJsonResult(real);
    expect(dryResult.files).toBe(realResult.files);
    expect(dryResult.sourceBytes).toBe(realResult.sourceBytes);
    expect(dryResult.skipped).toEqual(realResult.skipped);
    expect(realResult.skipped.map((s: { path: string }) => path.basename(s.path)).sort()).toEqual(['caf\u00e9.txt', 'pipe']);

    // The progress bar's count, with what the run left out (destination, log file, the run history beside it).
    const leftOut = [path.join(src, 'out'), path.join(src, 'logs', 'backup.log'), path.join(src, 'logs', 'history.jsonl')];
    const skipInodes = new Set(await Promise.all(leftOut.map(async (p) => inodeKey(await fs.stat(p)))));
    const counted = await countSources({ sources: [src], exclude: ['*.tmp'], skipInodes });
    expect(counted).toEqual({ files: realResult.files, bytes: realResult.sourceBytes });
  });

  it('lets the event loop run in a folder whose names are all excluded', async () => {
    const src = path.join(await tempDir(), 'data');
    await fs.mkdir(src);
    for (let i = 0; i < 1000; i++) await fs.writeFile(path.join(src, `f${i}.tmp`), '');
    let turns = 0;
    let counting = true;
    const spin = (): void => {
      turns += 1;
      if (counting) setImmediate(spin);
    };
    setImmediate(spin);
    const counted = await countSources({ sources: [src], exclude: ['*.tmp'] });
    counting = false;
    expect(counted).toEqual({ files: 0, bytes: 0 });
    expect(turns).toBeGreaterThan(1);
  });
});
