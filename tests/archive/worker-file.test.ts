/**
 * Which file a worker thread starts from: next to a built module; the
 * project's dist/ for a module run from src/*.ts; and a loud "run npm run
 * build" when that file is missing or older than the sources, never a
 * quiet fallback. Real folders laid out like the project.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workerFile } from '../../src/archive/worker-file.js';
import { PROJECT_ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';

async function write(file: string, mtime: Date): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, '');
  await fs.utimes(file, mtime, mtime);
}

const url = (file: string): string => pathToFileURL(file).href;
const earlier = new Date('2026-01-01T00:00:00Z');
const later = new Date('2026-01-02T00:00:00Z');

describe('workerFile', () => {
  it('a built module: the worker next to it', async () => {
    const root = await tempDir();
    await write(path.join(root, 'dist/archive/w.js'), earlier);
    expect(workerFile('./w.js', url(path.join(root, 'dist/archive/m.js')))).toBe(path.join(root, 'dist/archive/w.js'));
  });

  it('a built module whose worker is missing: an error, not a fallback', async () => {
    const root = await tempDir();
    expect(() => workerFile('./w.js', url(path.join(root, 'dist/archive/m.js')))).toThrow(/w\.js is missing.*npm run build/);
  });

  it('a module run from src/*.ts: the built worker in dist/', async () => {
    const root = await tempDir();
    await write(path.join(root, 'src/archive/m.ts'), earlier);
    await write(path.join(root, 'src/archive/w.ts'), earlier);
    await write(path.join(root, 'dist/archive/m.js'), later);
    await write(path.join(root, 'dist/archive/w.js'), later);
    expect(workerFile('./w.js', url(path.join(root, 'src/archive/m.ts')))).toBe(path.join(root, 'dist/archive/w.js'));
  });

  it('from src/*.ts with no build: says to run npm run build', async () => {
    const root = await tempDir();
    await write(path.join(root, 'src/archive/m.ts'), earlier);
    expect(() => workerFile('./w.js', url(path.join(root, 'src/archive/m.ts')))).toThrow(/dist\/archive\/w\.js, which is missing: run npm run build/);
  });

  it.each([
    ['a source changed after the build', 'src/other/changed.ts', later],
    ['a source never built', 'src/other/new.ts', earlier],
  ])('from src/*.ts, %s: the built worker may not match, so npm run build is asked for', async (_name, source, mtime) => {
    const root = await tempDir();
    await write(path.join(root, 'src/archive/m.ts'), earlier);
    await write(path.join(root, 'dist/archive/m.js'), earlier);
    await write(path.join(root, 'dist/archive/w.js'), earlier);
    await write(path.join(root, 'dist/other/changed.js'), earlier);
    await write(path.join(root, source), mtime);
    expect(() => workerFile('./w.js', url(path.join(root, 'src/archive/m.ts')))).toThrow(
      new RegExp(`older than ${path.join(root, source).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: run npm run build`),
    );
  });

  it("this project's own workers, as the tests run them (npm test builds first)", () => {
    const module = url(path.join(PROJECT_ROOT, 'src/archive/source-batches.ts'));
    expect(workerFile('./source-reader-worker.js', module)).toBe(path.join(PROJECT_ROOT, 'dist/archive/source-reader-worker.js'));
    expect(workerFile('./zip-deflate-worker.js', module)).toBe(path.join(PROJECT_ROOT, 'dist/archive/zip-deflate-worker.js'));
  });
});
