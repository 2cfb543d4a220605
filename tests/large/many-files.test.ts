/**
 * 120,000 tiny files (1-100 bytes) in 1,200 folders through the built CLI as
 * zip (more than 65,535 entries: the counts only fit the zip64 end records)
 * and tar.gz. The entry counts of the standard tools (`unzip -Z1 | wc -l`,
 * `tar -tzf | wc -l`) and of Python's zipfile / tarfile match the tree,
 * `unzip -tq` / `gzip -t` pass, the tree restored with the system tool is
 * identical (every path and every file's bytes), and the CLI's peak RSS stays
 * under 200 MiB: memory does not grow with the number of entries.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseJsonResult } from '../helpers/cli.js';
import {
  GiB,
  RSS_LIMIT_BYTES,
  bigTempDir,
  mib,
  python,
  readZipEnd,
  record,
  requireFreeSpace,
  run,
  runCliMeasured,
  secs,
  shell,
  sha256File,
  sharedBigDir,
} from './large-helpers.js';

const FOLDERS = 1_200;
const FILES_PER_FOLDER = 100;
const FILES = FOLDERS * FILES_PER_FOLDER;
/** The source folder itself, its folders, its files: what `tar -tf` lists. */
const ENTRIES = 1 + FOLDERS + FILES;

const PY_ZIP = String.raw`
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    infos = zf.infolist()
    print(json.dumps({"entries": len(zf.namelist()), "files": sum(1 for i in infos if not i.is_dir()),
                      "bytes": sum(i.file_size for i in infos)}))
`;

const PY_TAR = String.raw`
import json, sys, tarfile
with tarfile.open(sys.argv[1], 'r:gz') as tf:
    members = tf.getmembers()
    print(json.dumps({"entries": len(tf.getnames()), "files": sum(1 for m in members if m.isfile()),
                      "bytes": sum(m.size for m in members if m.isfile())}))
`;

/**
 * One digest for a whole tree: every path (folders marked with a trailing
 * slash) and every file's SHA-256, in sorted order. Files are read one at a
 * time, a few hundred in flight.
 */
async function treeDigest(root: string): Promise<{ digest: string; entries: number; files: number; bytes: number }> {
  const lines: string[] = [];
  let files = 0;
  let bytes = 0;
  async function visit(dir: string, rel: string): Promise<void> {
    const dirents = await fs.readdir(dir, { withFileTypes: true });
    const subdirs: string[] = [];
    const regular: string[] = [];
    for (const d of dirents) (d.isDirectory() ? subdirs : regular).push(d.name);
    for (let i = 0; i < regular.length; i += 256) {
      await Promise.all(
        regular.slice(i, i + 256).map(async (name) => {
          const data = await fs.readFile(path.join(dir, name));
          files += 1;
          bytes += data.length;
          lines.push(`${rel}/${name} ${createHash('sha256').update(data).digest('hex')}`);
        }),
      );
    }
    for (const name of subdirs) {
      lines.push(`${rel}/${name}/`);
      await visit(path.join(dir, name), `${rel}/${name}`);
    }
  }
  await visit(root, path.basename(root));
  lines.push(`${path.basename(root)}/`);
  lines.sort();
  const hash = createHash('sha256');
  for (const line of lines) hash.update(`${line}\n`);
  return { digest: hash.digest('hex'), entries: lines.length, files, bytes };
}

let source: string;
let sourceTree: Awaited<ReturnType<typeof treeDigest>>;

beforeAll(async () => {
  const started = Date.now();
  source = path.join(await sharedBigDir(), 'tree');
  for (let d = 0; d < FOLDERS; d++) await fs.mkdir(path.join(source, `dir-${String(d).padStart(4, '0')}`), { recursive: true });
  // Sizes 1-100 bytes, random content; written 2,000 at a time.
  const pool = randomBytes(1 << 20);
  const jobs: Array<() => Promise<void>> = [];
  for (let d = 0; d < FOLDERS; d++) {
    for (let f = 0; f < FILES_PER_FOLDER; f++) {
      const n = d * FILES_PER_FOLDER + f;
      const size = 1 + (n % 100);
      const start = (n * 7919) % (pool.length - 100);
      const file = path.join(source, `dir-${String(d).padStart(4, '0')}`, `file-${String(f).padStart(3, '0')}.txt`);
      jobs.push(() => fs.writeFile(file, pool.subarray(start, start + size)));
    }
  }
  for (let i = 0; i < jobs.length; i += 2_000) await Promise.all(jobs.slice(i, i + 2_000).map((job) => job()));
  const generated = Date.now() - started;
  sourceTree = await treeDigest(source);
  expect(sourceTree).toMatchObject({ entries: ENTRIES, files: FILES });
  record('many-files source', { folders: FOLDERS, files: FILES, entries: ENTRIES, bytes: sourceTree.bytes, generate: secs(generated), digest: secs(Date.now() - started - generated) });
});

describe.each(['zip', 'tar.gz'] as const)('120,000 tiny files as %s', (format) => {
  it('are all listed by the standard tools and Python, restore identically, with flat memory', async () => {
    await requireFreeSpace(2 * GiB);
    const dir = await bigTempDir();
    const figures: Record<string, unknown> = { format };

    const cli = await runCliMeasured(['run', '-s', source, '-d', 'out', '-f', format, '-n', 'many', '--json'], { cwd: dir });
    Object.assign(figures, { cliWall: secs(cli.wallMs), peakRss: mib(cli.peakRssBytes), peakRssBytes: cli.peakRssBytes, rssMethod: cli.rssMethod, exitCode: cli.code });
    record(`many-files ${format} (cli)`, figures);
    expect(cli.code, cli.stderr).toBe(0);
    const result = parseJsonResult(cli);
    expect(result).toMatchObject({ ok: true, format, files: FILES, sourceBytes: sourceTree.bytes, error: null, skipped: [] });
    const archive = path.join(dir, result.archive as string);
    expect(await sha256File(archive)).toBe(result.sha256);
    Object.assign(figures, { archiveBytes: result.bytes, durationMs: result.durationMs });

    if (format === 'zip') {
      // More than 65,535 entries: the classic end record says 0xffff, the zip64 one has the count.
      const end = await readZipEnd(archive);
      figures.zipEnd = end;
      expect.soft(end.eocdEntries, 'entries in the classic end record').toBe(0xffff);
      expect.soft(end.zip64?.entries, 'entries in the zip64 end record').toBe(ENTRIES);

      const test = await run('unzip', ['-tq', archive]);
      figures.integrityTest = secs(test.ms);
      expect.soft(test.code, `unzip -tq:\n${test.stdout}${test.stderr}`).toBe(0);
      expect.soft(test.stdout).toMatch(/No errors detected/);
      const count = await shell('unzip -Z1 "$1" | wc -l', archive);
      figures.listCount = count.stdout.trim();
      expect.soft(count.code, count.stderr).toBe(0);
      expect.soft(Number(count.stdout.trim()), 'unzip -Z1 | wc -l').toBe(ENTRIES);
      const py = await python(PY_ZIP, archive);
      figures.python = secs(py.run.ms);
      expect.soft(py.run.code, `python zipfile:\n${py.run.stderr}`).toBe(0);
      expect.soft(py.json, 'python zipfile').toEqual({ entries: ENTRIES, files: FILES, bytes: sourceTree.bytes });
    } else {
      const test = await run('gzip', ['-t', archive]);
      figures.integrityTest = secs(test.ms);
      expect.soft(test.code, `gzip -t:\n${test.stderr}`).toBe(0);
      const count = await shell('tar -tzf "$1" | wc -l', archive);
      figures.listCount = count.stdout.trim();
      expect.soft(count.code, count.stderr).toBe(0);
      expect.soft(Number(count.stdout.trim()), 'tar -tzf | wc -l').toBe(ENTRIES);
      const py = await python(PY_TAR, archive);
      figures.python = secs(py.run.ms);
      expect.soft(py.run.code, `python tarfile:\n${py.run.stderr}`).toBe(0);
      expect.soft(py.json, 'python tarfile').toEqual({ entries: ENTRIES, files: FILES, bytes: sourceTree.bytes });
    }

    // Restored with the system tool: the same paths, the same bytes.
    const restored = path.join(dir, 'restored');
    await fs.mkdir(restored);
    const extract = format === 'zip' ? await run('unzip', ['-q', archive, '-d', restored]) : await run('tar', ['-xzf', archive, '-C', restored]);
    figures.extract = secs(extract.ms);
    expect.soft(extract.code, `extract:\n${extract.stdout}${extract.stderr}`).toBe(0);
    const compared = Date.now();
    const restoredTree = await treeDigest(path.join(restored, 'tree')).catch((error: unknown) => ({ error: String(error) }));
    figures.compare = secs(Date.now() - compared);
    expect.soft(restoredTree, 'restored tree').toEqual(sourceTree);
    record(`many-files ${format}`, figures);

    expect(cli.peakRssBytes, `peak RSS ${mib(cli.peakRssBytes)} (${cli.rssMethod})`).toBeLessThan(RSS_LIMIT_BYTES);
  });
});
