/**
 * `backup restore` from local archives: round trips for every format
 * (content, symlinks, modes, mtimes), existing files, --include, damaged
 * archives, and hostile archives built here with Python's tarfile/zipfile
 * (absolute paths, `..`, a symlink followed by a file written through it).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeTree, listDir, makeRichTree, mtimes, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { itAsRoot } from '../helpers/root.js';

const FORMATS = ['zip', 'tar.gz', 'tar.bz2'] as const;

async function backup(dir: string, format: string): Promise<string> {
  const run = await runCli(['run', '--source', 'data', '--dest', 'backups', '--format', format, '--json'], { cwd: dir });
  const result = parseJsonResult(run);
  expect(result.exitCode, run.stderr).toBe(0);
  return path.join(dir, result.archive as string);
}

async function restore(dir: string, ...args: string[]): Promise<{ code: number | null; result: Record<string, any>; stderr: string }> {
  const run = await runCli(['restore', ...args, '--json'], { cwd: dir });
  return { code: run.code, result: parseJsonResult(run), stderr: run.stderr };
}

describe.each(FORMATS)('restore %s', (format) => {
  it('gives back the source byte for byte: symlinks, modes, mtimes, empty folders', async () => {
    const dir = await tempDir();
    const src = await makeRichTree(dir);
    // Distinct, old times so a restore that forgot them shows.
    await fs.utimes(path.join(src, 'readme.txt'), new Date('2020-02-03T04:05:06Z'), new Date('2020-02-03T04:05:06Z'));
    await fs.chmod(path.join(src, 'empty-folder'), 0o750);
    await fs.utimes(path.join(src, 'deep/a'), new Date('2019-01-01T00:00:00Z'), new Date('2019-01-01T00:00:00Z'));
    // Non-ASCII paths and link targets over 100 bytes: pax headers next to a ustar prefix field.
    const longDir = path.join(src, 'ünïcödé', 'ä'.repeat(60));
    await fs.mkdir(longDir, { recursive: true });
    await fs.writeFile(path.join(longDir, `${'ö'.repeat(60)}.txt`), 'long unicode path\n');
    await fs.symlink(`../${'ä'.repeat(60)}/${'ö'.repeat(60)}.txt`, path.join(src, 'ünïcödé', 'long-link'));
    const archive = await backup(dir, format);

    const { code, result } = await restore(dir, archive, '--to', 'restored');
    expect(code).toBe(0);
    expect(result.checksum).toBe('match');
    expect(await describeTree(path.join(dir, 'restored', 'data'))).toEqual(await describeTree(src));
    expect(await mtimes(path.join(dir, 'restored', 'data'))).toEqual(await mtimes(src));
    expect((await fs.stat(path.join(dir, 'restored/data/empty-folder'))).mode & 0o777).toBe(0o750);
    // Nothing but the restored tree: no temporary files left behind.
    expect(await listDir(path.join(dir, 'restored'))).toEqual(['data']);
  });
});

describe('restore', () => {
  it('keeps existing files without --overwrite (exit 1, listed), replaces them with it', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'tar.gz');
    await fs.mkdir(path.join(dir, 'out/data'), { recursive: true });
    await fs.writeFile(path.join(dir, 'out/data/readme.txt'), 'my newer edit\n');

    let { code, result } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(1);
    expect(result.existing).toEqual(['data/readme.txt']);
    expect(result.error.code).toBe('RESTORE_INCOMPLETE');
    expect(await fs.readFile(path.join(dir, 'out/data/readme.txt'), 'utf8')).toBe('my newer edit\n');
    // Everything else was restored.
    expect(await fs.readFile(path.join(dir, 'out/data/bin/run.sh'), 'utf8')).toContain('echo run');

    ({ code, result } = await restore(dir, archive, '--to', 'out', '--overwrite'));
    expect(code).toBe(0);
    expect(await fs.readFile(path.join(dir, 'out/data/readme.txt'), 'utf8')).toBe('hello backup\n');
    expect(await describeTree(path.join(dir, 'out/data'))).toEqual(await describeTree(path.join(dir, 'data')));
  });

  it('--include restores only the matching paths', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'zip');
    const { code } = await restore(dir, archive, '--to', 'out', '--include', 'data/deep', '*.sh');
    expect(code).toBe(0);
    const tree = [...(await describeTree(path.join(dir, 'out'))).keys()];
    expect(tree.filter((p) => p.endsWith('.txt') || p.endsWith('.sh'))).toEqual(['data/bin/run.sh', 'data/deep/a/b/c/d/e/f/g/h/leaf.txt']);
  });

  it('--include is case-sensitive: data/Case is not data/case nor data/CASE', async () => {
    const dir = await tempDir();
    for (const name of ['Case', 'case', 'CASE']) {
      await fs.mkdir(path.join(dir, 'data', name), { recursive: true });
      await fs.writeFile(path.join(dir, 'data', name, 'f.txt'), name);
    }
    const archive = await backup(dir, 'tar.gz');
    const { code } = await restore(dir, archive, '--to', 'out', '--include', 'data/Case');
    expect(code).toBe(0);
    expect(await listDir(path.join(dir, 'out', 'data'))).toEqual(['Case']);
    expect(await fs.readFile(path.join(dir, 'out/data/Case/f.txt'), 'utf8')).toBe('Case');
  });

  it('says the checksum does not match when the sidecar disagrees (exit 1)', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'tar.gz');
    const line = await fs.readFile(`${archive}.sha256`, 'utf8');
    await fs.writeFile(`${archive}.sha256`, `${'0'.repeat(64)}${line.slice(64)}`);
    const { code, result } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(1);
    expect(result.checksum).toBe('mismatch');
    expect(result.error.code).toBe('CHECKSUM_MISMATCH');
  });

  it('stops at damage with exit 1 and leaves no half-written file', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'tar.gz');
    const { size } = await fs.stat(archive);
    await fs.truncate(archive, Math.floor(size / 2));
    const { code, result } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(1);
    expect(result.error.code).toBe('ARCHIVE_DAMAGED');
    const leftovers = execFileSync('find', [path.join(dir, 'out'), '-name', '*.restore-*'], { encoding: 'utf8' });
    expect(leftovers).toBe('');
  });

  it('a missing archive is exit 2; no archive and no terminal is exit 2 with how to name one', async () => {
    const dir = await tempDir();
    let run = await runCli(['restore', 'backups/x.zip', '--to', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('x.zip does not exist');
    run = await runCli(['restore', '--to', 'out'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Give an archive path or s3://bucket/key');
  });
});

/** Builds a hostile archive with Python (a second, independent writer). */
function python(script: string, cwd: string): void {
  execFileSync('python3', ['-c', script], { cwd });
}

const HOSTILE: Array<{ name: string; file: string; script: (outside: string) => string }> = [
  {
    name: 'tar entry with ../',
    file: 'evil.tar.gz',
    script: (outside) => `
import tarfile, io
with tarfile.open('evil.tar.gz', 'w:gz') as t:
    for name, data in [('data/ok.txt', b'ok'), ('data/../../${path.basename(outside)}/pwned', b'x')]:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))`,
  },
  {
    name: 'tar entry with an absolute path',
    file: 'evil.tar.gz',
    script: (outside) => `
import tarfile, io
with tarfile.open('evil.tar.gz', 'w:gz') as t:
    i = tarfile.TarInfo('${outside}/pwned'); i.size = 1; t.addfile(i, io.BytesIO(b'x'))`,
  },
  {
    name: 'tar symlink to outside, then a file through it',
    file: 'evil.tar.gz',
    script: (outside) => `
import tarfile, io
with tarfile.open('evil.tar.gz', 'w:gz') as t:
    l = tarfile.TarInfo('data/escape'); l.type = tarfile.SYMTYPE; l.linkname = '${outside}'; t.addfile(l)
    i = tarfile.TarInfo('data/escape/pwned'); i.size = 1; t.addfile(i, io.BytesIO(b'x'))`,
  },
  {
    name: 'zip entry with ../ (zip slip)',
    file: 'evil.zip',
    script: (outside) => `
import zipfile
with zipfile.ZipFile('evil.zip', 'w') as z:
    z.writestr('data/ok.txt', 'ok')
    z.writestr('../${path.basename(outside)}/pwned', 'x')`,
  },
  {
    name: 'zip entry with an absolute path',
    file: 'evil.zip',
    script: (outside) => `
import zipfile
with zipfile.ZipFile('evil.zip', 'w') as z:
    info = zipfile.ZipInfo('${outside}/pwned')
    z.writestr(info, 'x')`,
  },
  {
    name: 'zip symlink to outside, then a file through it',
    file: 'evil.zip',
    script: (outside) => `
import zipfile, stat
with zipfile.ZipFile('evil.zip', 'w') as z:
    link = zipfile.ZipInfo('data/escape'); link.create_system = 3; link.external_attr = (stat.S_IFLNK | 0o777) << 16
    z.writestr(link, '${outside}')
    z.writestr('data/escape/pwned', 'x')`,
  },
];

describe('restore refuses hostile archives', () => {
  it.each(HOSTILE)('$name: exit 1, nothing written outside the target', async ({ file, script }) => {
    const dir = await tempDir();
    const outside = path.join(dir, 'outside');
    await fs.mkdir(outside);
    await fs.mkdir(path.join(dir, 'work/target'), { recursive: true });
    python(script(outside), dir);
    const { code, result } = await restore(path.join(dir, 'work'), path.join(dir, file), '--to', 'target');
    expect(code).toBe(1);
    expect(result.error.code).toBe('ARCHIVE_UNSAFE');
    expect(result.error.message).toMatch(/^Refused: /);
    expect(await listDir(outside)).toEqual([]);
    // Nothing anywhere but the target (and the tool's own log) was created.
    expect(await listDir(path.join(dir, 'work'))).toEqual(['logs', 'target']);
  });
});

describe('restore details', () => {
  it('an archive made with `tar -C dir .` (a ./ entry) restores into the folder', async () => {
    const dir = await tempDir();
    const src = await makeRichTree(dir);
    execFileSync('tar', ['-C', src, '-czf', path.join(dir, 'dot.tar.gz'), '.']);
    const { code, result } = await restore(dir, path.join(dir, 'dot.tar.gz'), '--to', 'out');
    expect(code).toBe(0);
    expect(result.checksum).toBe('no-sidecar');
    expect(await describeTree(path.join(dir, 'out'))).toEqual(await describeTree(src));
  });

  it('a 255-byte name (85 CJK characters) restores: the temporary name never grows with it', async () => {
    const dir = await tempDir();
    const name = '日'.repeat(85);
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data', name), 'long name\n');
    const archive = await backup(dir, 'tar.gz');
    const { code } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(0);
    expect(await fs.readFile(path.join(dir, 'out/data', name), 'utf8')).toBe('long name\n');
  });

  it('an existing folder keeps its own mode without --overwrite', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    await fs.chmod(path.join(dir, 'data/deep'), 0o777);
    const archive = await backup(dir, 'zip');
    await fs.mkdir(path.join(dir, 'out/data/deep'), { recursive: true, mode: 0o700 });
    await fs.chmod(path.join(dir, 'out/data/deep'), 0o700);
    const { code } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(0);
    expect((await fs.stat(path.join(dir, 'out/data/deep'))).mode & 0o777).toBe(0o700);
    // A folder the restore created gets the archive's mode.
    await restore(dir, archive, '--to', 'fresh');
    expect((await fs.stat(path.join(dir, 'fresh/data/deep'))).mode & 0o777).toBe(0o777);
  });

  it('a .sha256 that is not a sha256sum line stops the restore before anything is written (exit 1)', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'tar.gz');
    await fs.writeFile(`${archive}.sha256`, 'garbage\n');
    const { code, result } = await restore(dir, archive, '--to', 'out');
    expect(code).toBe(1);
    expect(result.error.code).toBe('SIDECAR_INVALID');
    expect(await listDir(path.join(dir, 'out'))).toEqual([]);
  });
});

describe('restore --overwrite never loses the file it would replace', () => {
  const LINKS: Array<{ name: string; script: string; reason: RegExp }> = [
    {
      name: 'a hard link to a file that is not in the archive',
      script: `l = tarfile.TarInfo('data/keep.txt'); l.type = tarfile.LNKTYPE; l.linkname = 'data/missing.txt'; t.addfile(l)`,
      reason: /^a hard link to data\/missing\.txt, which this restore did not write/,
    },
    {
      name: 'a hard link to itself',
      script: `l = tarfile.TarInfo('data/keep.txt'); l.type = tarfile.LNKTYPE; l.linkname = 'data/keep.txt'; t.addfile(l)`,
      reason: /hard link to itself/,
    },
    {
      name: 'a symlink the file system refuses (a 5000-byte target)',
      script: `l = tarfile.TarInfo('data/keep.txt'); l.type = tarfile.SYMTYPE; l.linkname = 'x' * 5000; t.addfile(l)`,
      reason: /name is too long/,
    },
  ];

  it.each(LINKS)('$name: the existing file is intact, exit 1, nothing left behind', async ({ script, reason }) => {
    const dir = await tempDir();
    python(`import tarfile\nt = tarfile.open('links.tar.gz', 'w:gz', format=tarfile.PAX_FORMAT)\n${script}\nt.close()`, dir);
    await fs.mkdir(path.join(dir, 'out/data'), { recursive: true });
    await fs.writeFile(path.join(dir, 'out/data/keep.txt'), 'precious\n');
    const { code, result } = await restore(dir, path.join(dir, 'links.tar.gz'), '--to', 'out', '--overwrite');
    expect(code).toBe(1);
    expect(result.error.code).toBe('RESTORE_INCOMPLETE');
    expect(result.notRestored).toEqual([{ path: 'data/keep.txt', reason: expect.stringMatching(reason) }]);
    expect(await fs.readFile(path.join(dir, 'out/data/keep.txt'), 'utf8')).toBe('precious\n');
    expect(await listDir(path.join(dir, 'out/data'))).toEqual(['keep.txt']);
  });

  it('a hard link and a symlink that can be made replace the existing files', async () => {
    const dir = await tempDir();
    python(
      `
import tarfile, io
with tarfile.open('links.tar.gz', 'w:gz') as t:
    i = tarfile.TarInfo('data/a.txt'); i.size = 3; t.addfile(i, io.BytesIO(b'new'))
    l = tarfile.TarInfo('data/hard.txt'); l.type = tarfile.LNKTYPE; l.linkname = 'data/a.txt'; t.addfile(l)
    s = tarfile.TarInfo('data/soft.txt'); s.type = tarfile.SYMTYPE; s.linkname = 'a.txt'; t.addfile(s)
`,
      dir,
    );
    await fs.mkdir(path.join(dir, 'out/data'), { recursive: true });
    for (const name of ['a.txt', 'hard.txt', 'soft.txt']) await fs.writeFile(path.join(dir, 'out/data', name), 'old\n');
    for (let round = 0; round < 2; round += 1) {
      // Twice: the second time the hard link is already that very file.
      const { code } = await restore(dir, path.join(dir, 'links.tar.gz'), '--to', 'out', '--overwrite');
      expect(code).toBe(0);
      expect(await fs.readFile(path.join(dir, 'out/data/hard.txt'), 'utf8')).toBe('new');
      expect((await fs.stat(path.join(dir, 'out/data/hard.txt'))).ino).toBe((await fs.stat(path.join(dir, 'out/data/a.txt'))).ino);
      expect(await fs.readlink(path.join(dir, 'out/data/soft.txt'))).toBe('a.txt');
      expect(await listDir(path.join(dir, 'out/data'))).toEqual(['a.txt', 'hard.txt', 'soft.txt']);
    }
  });
});

describe('a hard link is made only onto a file this restore wrote', () => {
  it('--include of the link alone, or the target kept as an existing file: the link is not made onto the file found there; exit 1', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data/a.txt'), 'ARCHIVE-DATA');
    await fs.link(path.join(dir, 'data/a.txt'), path.join(dir, 'data/b.txt'));
    const archive = await backup(dir, 'tar.gz');
    // The target folder already has its own a.txt.
    await fs.mkdir(path.join(dir, 'out/data'), { recursive: true });
    await fs.writeFile(path.join(dir, 'out/data/a.txt'), "user's own file");
    for (const extra of [['--include', 'data/b.txt'], []]) {
      const { code, result } = await restore(dir, archive, '--to', 'out', ...extra);
      expect(code).toBe(1);
      expect(result.notRestored).toEqual([{ path: 'data/b.txt', reason: expect.stringMatching(/a hard link to data\/a.txt, which this restore did not write/) }]);
      await expect(fs.lstat(path.join(dir, 'out/data/b.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await fs.readFile(path.join(dir, 'out/data/a.txt'), 'utf8')).toBe("user's own file");
    }
  });
});

describe('restore says what happened', () => {
  it('--include that matches nothing is exit 2 and says so; nothing is written', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'tar.gz');
    const { code, result } = await restore(dir, archive, '--to', 'out', '--include', 'no-such-thing');
    expect(code).toBe(2);
    expect(result.error.code).toBe('NOTHING_MATCHED');
    expect(result.error.message).toMatch(/^nothing in the archive matched --include no-such-thing; nothing was restored/);
    expect(await listDir(path.join(dir, 'out'))).toEqual([]);
    const run = await runCli(['restore', archive, '--to', 'out', '--include', 'no-such-thing'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('error: nothing in the archive matched --include no-such-thing');
  });

  it('counts are singular for one: "1 file", "1 folder", "1 symlink"', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data/one.txt'), 'one\n');
    await fs.symlink('one.txt', path.join(dir, 'data/link'));
    const archive = await backup(dir, 'tar.gz');
    const run = await runCli(['restore', archive, '--to', 'out'], { cwd: dir });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/: 1 file \(4 B\), 1 folder, 1 symlink\n/);
    const again = await runCli(['restore', archive, '--to', 'out'], { cwd: dir });
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('2 files already exist in');
    expect(again.stdout).toContain('incomplete: 2 entries of the archive were not restored: 2 existing files kept (no --overwrite)');
  });

  it('--to an existing file says it is a file (exit 2), not EEXIST', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'zip');
    await fs.writeFile(path.join(dir, 'target'), 'a file\n');
    const run = await runCli(['restore', archive, '--to', 'target'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`Cannot restore into ${path.join(dir, 'target')}: it is a file; --to takes a folder`);
    expect(run.stderr).not.toContain('EEXIST');
    const below = await runCli(['restore', archive, '--to', 'target/sub'], { cwd: dir });
    expect(below.code).toBe(2);
    expect(below.stderr).toContain('a part of that path is a file, not a folder');
  });

  itAsRoot('a target this user may not write to says so (exit 2)', async () => {
    const dir = await tempDir();
    await makeRichTree(dir);
    const archive = await backup(dir, 'tar.gz');
    // The backup folder is created 0700 (backups hold everything): let nobody read this one.
    await fs.chmod(path.dirname(path.resolve(dir, archive)), 0o755);
    // Run as nobody: root may write anywhere. Its working folder (for the log) is its own.
    const work = path.join(dir, 'work');
    await fs.mkdir(work);
    await fs.chown(work, 65534, 65534);
    await fs.mkdir(path.join(dir, 'root-only'));
    let run = await runCli(['restore', archive, '--to', path.join(dir, 'root-only')], { cwd: work, asUser: 65534 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`Cannot restore into ${path.join(dir, 'root-only')}: it is not writable by this user (uid 65534)`);
    run = await runCli(['restore', archive, '--to', path.join(dir, 'root-only/new')], { cwd: work, asUser: 65534 });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('it does not exist, and this user (uid 65534) may not create it there');
  });
});
