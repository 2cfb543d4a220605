/**
 * The restore page's tree (src/ui/archive-index.ts): bounded by tree nodes,
 * not only entries (one deep path makes many folders), GNU tar's `./` root
 * entry is not an unsafe name, and the cache keeps at most MAX_NODES nodes
 * in all. Pure: entries and indexes made here; and the index of archives
 * other tools made (GNU tar, bsdtar, Info-ZIP), read from real files.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexBuilder, IndexCache, MAX_NODES, listFolder, readIndex, type ArchiveIndex } from '../../src/ui/archive-index.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { tempDir } from '../helpers/fixtures.js';

const file = (p: string, size = 1) => ({ path: p, kind: 'file' as const, size });
const dir = (p: string) => ({ path: p, kind: 'dir' as const, size: 0 });

describe('IndexBuilder', () => {
  it('a tree of entries: sizes and file counts per folder, folders first', () => {
    const b = new IndexBuilder();
    for (const e of [dir('data/'), file('data/b.txt', 5), file('data/a/x.bin', 7), file('data/a/y.bin', 3)]) b.add(e);
    expect(b.index).toMatchObject({ entries: 4, nodes: 5, leftOut: 0, unsafe: 0 });
    const top = listFolder(b.index, 'data');
    expect(top.entries).toEqual([
      { name: 'a', path: 'data/a', kind: 'dir', size: 10, files: 2 },
      { name: 'b.txt', path: 'data/b.txt', kind: 'file', size: 5, files: 1 },
    ]);
  });

  it("GNU tar's ./ root entry is the archive's root, not an unsafe name; ../ and absolute names are", () => {
    const b = new IndexBuilder();
    for (const e of [dir('./'), dir('.'), file('./notes.txt'), file('../evil'), file('/etc/passwd')]) b.add(e);
    expect(b.index).toMatchObject({ entries: 1, unsafe: 2 });
    expect(listFolder(b.index, '').entries.map((e) => e.path)).toEqual(['notes.txt']);
  });

  it('bounded by nodes: entries whose folders would pass MAX_NODES are counted as left out, not kept', () => {
    const b = new IndexBuilder();
    const deep = (i: number) => `d${i}/${Array.from({ length: 999 }, () => 'x').join('/')}/f`;
    const n = Math.ceil(MAX_NODES / 1000) + 5;
    for (let i = 0; i < n; i++) b.add(file(deep(i)));
    expect(b.index.nodes).toBeLessThanOrEqual(MAX_NODES);
    expect(b.index.entries + b.index.leftOut).toBe(n);
    expect(b.index.leftOut).toBeGreaterThanOrEqual(5);
  });
});

describe('IndexCache', () => {
  const index = (nodes: number): ArchiveIndex => ({ root: { name: '', kind: 'dir', size: 0, files: 0, children: new Map() }, entries: nodes, nodes, leftOut: 0, unsafe: 0 });
  const stat = { size: 1, modified: new Date(0) } as never;
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it('a second look is served from the cache; the oldest indexes go while more than MAX_NODES nodes are kept in all', async () => {
    const cache = new IndexCache();
    let reads = 0;
    const read = (nodes: number) => () => {
      reads += 1;
      return Promise.resolve(index(nodes));
    };
    await cache.get('a', stat, read(MAX_NODES / 2));
    await cache.get('a', stat, read(MAX_NODES / 2));
    expect(reads).toBe(1);
    await cache.get('b', stat, read(MAX_NODES / 2));
    await settle();
    await cache.get('a', stat, read(MAX_NODES / 2)); // still there (a + b = MAX_NODES)
    expect(reads).toBe(2);
    await cache.get('c', stat, read(MAX_NODES / 2)); // b is now the oldest: it goes
    await settle();
    await cache.get('a', stat, read(MAX_NODES / 2));
    expect(reads).toBe(3);
    await cache.get('b', stat, read(MAX_NODES / 2));
    expect(reads).toBe(4);
  });

  it('a failed read is not kept', async () => {
    const cache = new IndexCache();
    await expect(cache.get('x', stat, () => Promise.reject(new Error('offline')))).rejects.toThrow('offline');
    await settle();
    await expect(cache.get('x', stat, () => Promise.resolve(index(1)))).resolves.toMatchObject({ nodes: 1 });
  });
});

describe('readIndex of archives made by other tools', () => {
  it.each([
    ['GNU tar -C dir . (tar.gz)', 'x.tar.gz', (dir: string, out: string) => execFileSync('tar', ['-czf', out, '-C', dir, '.'])],
    ['bsdtar (tar.bz2)', 'x.tar.bz2', (dir: string, out: string) => execFileSync('bsdtar', ['-cjf', out, '-C', dir, 'docs', 'a b'])],
    ['Info-ZIP zip -r', 'x.zip', (dir: string, out: string) => execFileSync('zip', ['-qr', out, 'docs', 'a b'], { cwd: dir })],
  ])('%s: folders, files and sizes as the tool stored them, no entry called unsafe', async (_tool, name, make) => {
    const root = await tempDir();
    const src = path.join(root, 'src');
    await fs.mkdir(path.join(src, 'docs', 'deep'), { recursive: true });
    await fs.mkdir(path.join(src, 'a b'));
    await fs.writeFile(path.join(src, 'docs', 'readme.txt'), 'hello\n');
    await fs.writeFile(path.join(src, 'docs', 'deep', 'big.bin'), Buffer.alloc(70_000, 7));
    await fs.writeFile(path.join(src, 'a b', '[x]*.txt'), 'odd');
    await fs.mkdir(path.join(root, 'store'));
    make(src, path.join(root, 'store', name));
    const store = new LocalStore(path.join(root, 'store'));
    try {
      const index = await readIndex(store, name, { envPath: process.env.PATH });
      expect(index).toMatchObject({ unsafe: 0, leftOut: 0 });
      expect(listFolder(index, '').entries.map((e) => [e.path, e.kind, e.size, e.files])).toEqual([
        ['a b', 'dir', 3, 1],
        ['docs', 'dir', 70_006, 2],
      ]);
      expect(listFolder(index, 'docs').entries.map((e) => [e.path, e.kind, e.size])).toEqual([
        ['docs/deep', 'dir', 70_000],
        ['docs/readme.txt', 'file', 6],
      ]);
      expect(listFolder(index, 'a b').entries.map((e) => e.path)).toEqual(['a b/[x]*.txt']);
    } finally {
      await store.close();
    }
  });
});
