/**
 * Every format, through the real CLI, read back by the system tools
 * (unzip, tar+gzip, tar+bzip2) and compared with the source byte for byte:
 * contents, executable bits, symlinks, empty folders and files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

describe.each(['zip', 'tar.gz', 'tar.bz2'] as const)('round trip: %s', (format) => {
  it('restores the same tree with the standard tool, with .sha256 and manifest beside it', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const run = await runCli(['run', '--source', 'data', '--dest', 'out', '--format', format, '--name', 'nightly', '--json'], {
      cwd: root,
    });
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    expect(result).toMatchObject({
      ok: true,
      exitCode: 0,
      archive: `out/nightly.${format}`,
      format,
      requestedFormat: format,
      skipped: [],
      s3: null,
      error: null,
    });

    const archive = path.join(root, 'out', `nightly.${format}`);
    // Exactly the archive and its two sidecars; no .partial or temp files left.
    expect(await listDir(path.join(root, 'out'))).toEqual([
      `nightly.${format}`,
      `nightly.${format}.manifest.json`,
      `nightly.${format}.sha256`,
    ]);

    // sha256sum -c accepts the sidecar, and it matches the bytes and the result.
    execFileSync('sha256sum', ['-c', `nightly.${format}.sha256`], { cwd: path.join(root, 'out') });
    const bytes = await fs.readFile(archive);
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(result.sha256).toBe(sha);
    expect(result.bytes).toBe(bytes.length);

    // The system tools' own integrity checks, and a third reader: Python's tarfile / zipfile.
    if (format === 'zip') execFileSync('unzip', ['-tq', archive]);
    if (format === 'tar.gz') execFileSync('gzip', ['-t', archive]);
    if (format === 'tar.bz2') execFileSync('bzip2', ['-t', archive]);
    const pythonCount = execFileSync(
      'python3',
      [
        '-c',
        'import sys, tarfile, zipfile\n' +
          'p = sys.argv[1]\n' +
          'if p.endswith(".zip"):\n' +
          '    z = zipfile.ZipFile(p); assert z.testzip() is None; print(len(z.namelist()))\n' +
          'else:\n' +
          '    t = tarfile.open(p); n = 0\n' +
          '    for m in t:\n' +
          '        n += 1\n' +
          '        if m.isfile(): t.extractfile(m).read()\n' +
          '    print(n)\n',
        archive,
      ],
      { encoding: 'utf8' },
    );

    const out = path.join(root, 'restored');
    await fs.mkdir(out);
    extractWithSystemTool(archive, out);
    expect(await listDir(out)).toEqual(['data']);
    const expected = await describeTree(src);
    const restored = await describeTree(path.join(out, 'data'));
    expect(restored).toEqual(expected);
    expect(Number(pythonCount)).toBe(expected.size + 1); // every entry, plus data/ itself
    // The fixture really has the hard cases (so equality above means something).
    expect(expected.get('bin/run.sh')?.executable).toBe(true);
    expect(expected.get('link-to-readme')).toEqual({ type: 'symlink', content: 'readme.txt' });
    expect(expected.get('empty-folder')).toEqual({ type: 'dir' });

    const manifest = JSON.parse(await fs.readFile(`${archive}.manifest.json`, 'utf8'));
    const regularFiles = [...expected.values()].filter((e) => e.type === 'file').length;
    expect(manifest).toMatchObject({
      archive: `nightly.${format}`,
      format,
      formatRequested: format,
      sha256: sha,
      archiveBytes: bytes.length,
      files: regularFiles,
      sources: [src],
      skipped: [],
      destinations: [{ name: 'local', kind: 'local', location: archive, ok: true }],
    });
    expect(manifest.sourceBytes).toBeGreaterThan(370_000);
    expect(new Date(manifest.created).toISOString()).toBe(manifest.created);
  });
});

describe('sources', () => {
  it('stores several sources, each under its own base name, and a single file as itself', async () => {
    const root = await tempDir();
    await makeRichTree(root, 'photos');
    await fs.writeFile(path.join(root, 'notes.md'), '# notes\n');
    const run = await runCli(['run', '-s', 'photos', 'notes.md', '-d', 'out', '-f', 'tar.gz', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    const { archive } = parseJsonResult(run);
    expect(archive).toMatch(/^out\/photos-\d{8}-\d{6}\.tar\.gz$/);
    const names = execFileSync('tar', ['-tzf', path.join(root, archive)], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toContain('notes.md');
    expect(names).toContain('photos/readme.txt');
    expect(names.every((n) => n === 'notes.md' || n.startsWith('photos/'))).toBe(true);
  });

  it('leaves out gitignore-style excludes', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    await fs.mkdir(path.join(src, 'node_modules/pkg'), { recursive: true });
    await fs.writeFile(path.join(src, 'node_modules/pkg/index.js'), 'x');
    await fs.writeFile(path.join(src, 'deep/a/cache.tmp'), 'x');
    await fs.writeFile(path.join(src, 'keep.tmp.txt'), 'x');
    // Case-sensitive: `*.tmp` and `node_modules` do not leave out these (the exclude library folds case by default).
    await fs.writeFile(path.join(src, 'deep/a/REPORT.TMP'), 'x');
    await fs.mkdir(path.join(src, 'Node_Modules'));
    await fs.writeFile(path.join(src, 'Node_Modules/kept.js'), 'x');
    const run = await runCli(
      ['run', '-s', 'data', '-d', 'out', '-f', 'zip', '--exclude', 'node_modules', '*.tmp', '/bin/', '--json'],
      { cwd: root },
    );
    expect(run.code, run.stderr).toBe(0);
    const listing = execFileSync('unzip', ['-Z1', path.join(root, parseJsonResult(run).archive)], { encoding: 'utf8' });
    expect(listing).not.toMatch(/node_modules/);
    expect(listing).not.toMatch(/cache\.tmp/);
    expect(listing).not.toMatch(/^data\/bin\//m);
    expect(listing).toMatch(/^data\/keep\.tmp\.txt$/m);
    expect(listing).toMatch(/^data\/deep\/a\/REPORT\.TMP$/m);
    expect(listing).toMatch(/^data\/Node_Modules\/kept\.js$/m);
    expect(listing).toMatch(/^data\/deep\/a\/b\//m);
  });
  it.each(['tar.gz', 'zip'] as const)(
    'stores two sources with the same base name apart (a/data, b/data), records where, and restores both (%s)',
    async (format) => {
      const root = await tempDir();
      const a = await makeRichTree(path.join(root, 'a'));
      const b = path.join(root, 'b', 'data');
      await fs.mkdir(b, { recursive: true });
      await fs.writeFile(path.join(b, 'only-in-b.txt'), 'b\n');
      const run = await runCli(['run', '-s', a, b, a, '-d', 'out', '-f', format, '-n', 'two', '--json'], { cwd: root });
      expect(run.code, run.stderr).toBe(0);
      const result = parseJsonResult(run);
      expect(result.warnings).toContain(`Source ${a} is given more than once; it is stored once.`);
      const archive = path.join(root, result.archive);
      const names = (
        format === 'zip'
          ? execFileSync('unzip', ['-Z1', archive], { encoding: 'utf8' })
          : execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' })
      )
        .trim()
        .split('\n');
      expect(names).toContain('a/data/readme.txt');
      expect(names).toContain('b/data/only-in-b.txt');
      expect(names.every((n) => n.startsWith('a/data/') || n.startsWith('b/data/') || n === 'a/data' || n === 'b/data')).toBe(true);
      // Stored once, although given twice.
      expect(names.filter((n) => n === 'a/data/readme.txt')).toHaveLength(1);
      const manifest = JSON.parse(await fs.readFile(`${archive}.manifest.json`, 'utf8'));
      expect(manifest.roots).toEqual([
        { source: a, root: 'a/data' },
        { source: b, root: 'b/data' },
      ]);

      // The standard tool and our own restore both recreate the two folders.
      const bySystem = path.join(root, 'by-system');
      await fs.mkdir(bySystem);
      extractWithSystemTool(archive, bySystem);
      expect(await describeTree(path.join(bySystem, 'a', 'data'))).toEqual(await describeTree(a));
      const restore = await runCli(['restore', archive, '--to', 'ours', '--json'], { cwd: root });
      expect(restore.code, restore.stderr).toBe(0);
      expect(await describeTree(path.join(root, 'ours', 'a', 'data'))).toEqual(await describeTree(a));
      expect(await describeTree(path.join(root, 'ours', 'b', 'data'))).toEqual(await describeTree(b));
      const verify = await runCli(['verify', archive], { cwd: root });
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    },
  );

  it('refuses a source inside another source (exit 2), writing nothing', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const run = await runCli(['run', '-s', src, path.join(src, 'deep'), '-d', 'out', '-f', 'tar.gz', '--json'], { cwd: root });
    expect(run.code).toBe(2);
    expect(parseJsonResult(run).error).toMatchObject({ code: 'SOURCE_NESTED' });
    expect(parseJsonResult(run).error.message).toContain(`${path.join(src, 'deep')} is inside source ${src}`);
    expect(await listDir(path.join(root, 'out'))).toEqual([]);
  });
});
