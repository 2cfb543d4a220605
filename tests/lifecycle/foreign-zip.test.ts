/**
 * Zip archives made by the common writers nobody here wrote (Info-ZIP,
 * 7-Zip, bsdtar, Python's zipfile), restored with our CLI and compared byte
 * for byte with their source: every entry restored exactly, or not restored
 * with a true reason and exit 1. Times before 1970 come back as they were.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { describeTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { entryOf } from '../../src/archive/read/zip-reader.js';

/** 1969-07-20T20:17:40Z: before 1970, a negative Unix time. */
const MOON = new Date('1969-07-20T20:17:40Z');
const RECENT = new Date('2024-02-29T12:34:56Z');

async function sourceTree(dir: string): Promise<string> {
  const src = path.join(dir, 'src');
  await fs.mkdir(path.join(src, 'sub', 'deeper'), { recursive: true });
  await fs.writeFile(path.join(src, 'hello.txt'), 'hello\n');
  await fs.writeFile(path.join(src, 'sub', 'random.bin'), Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)));
  await fs.writeFile(path.join(src, 'sub', 'deeper', 'empty'), '');
  await fs.writeFile(path.join(src, 'moon.txt'), 'one small step\n');
  await fs.writeFile(path.join(src, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await fs.symlink('hello.txt', path.join(src, 'link'));
  await fs.utimes(path.join(src, 'moon.txt'), MOON, MOON);
  await fs.utimes(path.join(src, 'hello.txt'), RECENT, RECENT);
  return src;
}

const WRITERS: Record<string, (zip: string, cwd: string) => void> = {
  'Info-ZIP zip -ry': (zip, cwd) => execFileSync('zip', ['-q', '-r', '-y', zip, 'src'], { cwd }),
  '7-Zip 7z a': (zip, cwd) => execFileSync('7z', ['a', '-bd', '-y', zip, 'src'], { cwd, stdio: 'ignore' }),
  'bsdtar --format zip': (zip, cwd) => execFileSync('bsdtar', ['--format', 'zip', '-cf', zip, 'src'], { cwd }),
};

async function restore(cwd: string, archive: string, to: string, env?: NodeJS.ProcessEnv): Promise<{ code: number | null; result: Record<string, any> }> {
  const run = await runCli(['restore', archive, '--to', to, '--json'], { cwd, env });
  return { code: run.code, result: parseJsonResult(run) };
}

describe.each(Object.entries(WRITERS))('a zip made by %s', (_writer, write) => {
  it('is restored byte for byte, links and modes included, times before 1970 too, and reads to its end', async () => {
    const dir = await tempDir();
    const src = await sourceTree(dir);
    const zip = path.join(dir, 'foreign.zip');
    write(zip, dir);

    const { code, result } = await restore(dir, zip, path.join(dir, 'out'));
    expect(result.notRestored).toEqual([]);
    expect(code).toBe(0);
    expect(result.files).toBe(5);
    expect(result.symlinks).toBe(1);
    const restored = await describeTree(path.join(dir, 'out', 'src'));
    expect(restored).toEqual(await describeTree(src));

    const seconds = async (file: string): Promise<number> => Math.floor((await fs.lstat(file)).mtimeMs / 1000);
    expect(await seconds(path.join(dir, 'out', 'src', 'moon.txt'))).toBe(MOON.getTime() / 1000);
    expect(await seconds(path.join(dir, 'out', 'src', 'hello.txt'))).toBe(RECENT.getTime() / 1000);

    // verify reads it to the end; only the sidecar and manifest this tool writes are missing.
    execFileSync('sh', ['-c', 'sha256sum foreign.zip > foreign.zip.sha256'], { cwd: dir });
    const run = await runCli(['verify', zip, '--json'], { cwd: dir });
    const [outcome] = parseJsonResult(run).results;
    expect(outcome.checks.find((c: { name: string }) => c.name === 'read').ok).toBe(true);
    expect(outcome.checks.find((c: { name: string }) => c.name === 'sha256').ok).toBe(true);
    expect(outcome.problems).toEqual([expect.stringMatching(/no manifest/)]);
  });
});

describe('a zip made by Python zipfile', () => {
  async function pythonZip(dir: string, script: string): Promise<string> {
    const zip = path.join(dir, 'py.zip');
    execFileSync('python3', ['-c', `import zipfile\nz = zipfile.ZipFile(${JSON.stringify(zip)}, 'w', zipfile.ZIP_DEFLATED)\n${script}\nz.close()\n`]);
    return zip;
  }

  it('restores entries with no file-type bits (writestr, MS-DOS made-by) as regular files', async () => {
    const dir = await tempDir();
    const zip = await pythonZip(
      dir,
      [
        "z.writestr('plain.txt', b'written by writestr, mode 0600 and no type bits')",
        "i = zipfile.ZipInfo('folder/dos.txt', (2020, 5, 17, 10, 20, 30)); i.create_system = 0; i.external_attr = 0x20",
        "z.writestr(i, b'made on MS-DOS' * 1000)",
        "i = zipfile.ZipInfo('folder/sub/'); i.create_system = 0; i.external_attr = 0x10",
        "z.writestr(i, b'')",
      ].join('\n'),
    );
    // The DOS date and time are local time: restored in New York, 10:20:30 there (EDT, UTC-4 in May).
    const { code, result } = await restore(dir, zip, path.join(dir, 'out'), { TZ: 'America/New_York' });
    expect(result.notRestored).toEqual([]);
    expect(code).toBe(0);
    expect(result.files).toBe(2);
    expect(await fs.readFile(path.join(dir, 'out', 'plain.txt'), 'utf8')).toBe('written by writestr, mode 0600 and no type bits');
    expect(await fs.readFile(path.join(dir, 'out', 'folder', 'dos.txt'), 'utf8')).toBe('made on MS-DOS'.repeat(1000));
    expect((await fs.stat(path.join(dir, 'out', 'plain.txt'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(dir, 'out', 'folder', 'sub'))).isDirectory()).toBe(true);
    // No extended timestamp: the DOS date and time, in the restoring machine's local time.
    expect((await fs.stat(path.join(dir, 'out', 'folder', 'dos.txt'))).mtime.toISOString()).toBe('2020-05-17T14:20:30.000Z');
  });

  it('reads an extended timestamp past 2038 that a writer stored unsigned (told apart by the DOS date)', async () => {
    const dir = await tempDir();
    const later = Date.UTC(2040, 0, 2, 3, 4, 5) / 1000;
    const zip = await pythonZip(
      dir,
      [
        'import struct',
        "i = zipfile.ZipInfo('future.txt', (2040, 1, 2, 3, 4, 6)); i.create_system = 3; i.external_attr = 0o100644 << 16",
        `i.extra = struct.pack('<HHBI', 0x5455, 5, 1, ${later})`,
        "z.writestr(i, b'from the future')",
      ].join('\n'),
    );
    const { code } = await restore(dir, zip, path.join(dir, 'out'));
    expect(code).toBe(0);
    expect((await fs.stat(path.join(dir, 'out', 'future.txt'))).mtime.getTime()).toBe(later * 1000);
  });

  it('does not drop the data of an entry typed as a FIFO quietly: not restored, named with why, exit 1', async () => {
    const dir = await tempDir();
    const zip = await pythonZip(
      dir,
      [
        "i = zipfile.ZipInfo('fifo-with-data'); i.create_system = 3; i.external_attr = 0o010644 << 16",
        "z.writestr(i, b'real data behind FIFO type bits')",
        "i = zipfile.ZipInfo('empty-fifo'); i.create_system = 3; i.external_attr = 0o010644 << 16",
        "z.writestr(i, b'')",
        "z.writestr('ok.txt', b'fine')",
      ].join('\n'),
    );
    const { code, result } = await restore(dir, zip, path.join(dir, 'out'));
    expect(code).toBe(1);
    expect(result.ok).toBe(false);
    expect(result.files).toBe(1);
    expect(result.notRestored).toEqual([
      { path: 'fifo-with-data', reason: expect.stringMatching(/FIFO entry that holds 31 bytes of data: not restored/) },
      { path: 'empty-fifo', reason: expect.stringMatching(/^FIFO: not restored/) },
    ]);
    expect(await fs.readdir(path.join(dir, 'out'))).toEqual(['ok.txt']);
  });
});

describe('a zip that claims what it does not hold', () => {
  /** A deflated 3 MB entry, then `patch` (Python, on bytearray `b`) edits the headers. */
  async function patchedZip(dir: string, patch: string): Promise<string> {
    const zip = path.join(dir, 'claims.zip');
    execFileSync('python3', [
      '-c',
      [
        'import zipfile, struct',
        `p = ${JSON.stringify(zip)}`,
        "with zipfile.ZipFile(p, 'w', zipfile.ZIP_DEFLATED) as z:",
        "    z.writestr('first.txt', b'fine')",
        "    z.writestr('bomb.bin', bytes(3 * 1024 * 1024))",
        "b = bytearray(open(p, 'rb').read())",
        "local = b.index(b'PK\\x03\\x04bomb.bin'[:4], b.index(b'bomb.bin') - 30)",
        "central = b.index(b'PK\\x01\\x02', b.index(b'PK\\x01\\x02') + 1)",
        "end = b.rindex(b'PK\\x05\\x06')",
        patch,
        "open(p, 'wb').write(b)",
      ].join('\n'),
    ]);
    return zip;
  }

  it('stops inflating an entry at its declared size: damage, exit 1, nothing left behind', async () => {
    const dir = await tempDir();
    // Local and central headers both say 10 bytes; the data inflates to 3 MB.
    const zip = await patchedZip(dir, "struct.pack_into('<I', b, local + 22, 10)\nstruct.pack_into('<I', b, central + 24, 10)");
    const { code, result } = await restore(dir, zip, path.join(dir, 'out'));
    expect(code).toBe(1);
    expect(result.error.code).toBe('ARCHIVE_DAMAGED');
    expect(result.error.message).toMatch(/entry bomb\.bin: more data than its declared size 10\b/);
    expect((await fs.readdir(path.join(dir, 'out'))).sort()).toEqual(['first.txt']);

    const run = await runCli(['verify', zip, '--json'], { cwd: dir });
    expect(run.code).toBe(1);
    expect(parseJsonResult(run).results[0].problems.join('\n')).toMatch(/more data than its declared size 10\b/);
  });

  it.each([
    ['compressed data past the end of the data', "struct.pack_into('<I', b, central + 20, 0x7fffffff)", /claims 2147483647 bytes of data .* past where the data ends/],
    ['more entries than the directory can hold', "struct.pack_into('<HH', b, end + 8, 60000, 60000)", /claims 60000 entries, more than its \d+-byte central directory can hold/],
  ])('refuses a central directory that claims %s', async (_what, patch, message) => {
    const dir = await tempDir();
    const zip = await patchedZip(dir, patch);
    const { code, result } = await restore(dir, zip, path.join(dir, 'out'));
    expect(code).toBe(1);
    expect(result.error.code).toBe('ARCHIVE_DAMAGED');
    expect(result.error.message).toMatch(message);
  });
});

describe('what a zip entry is (made-by, external attributes, name)', () => {
  const UNIX = 3 << 8;
  const DOS = 0;
  const t = new Date(0);
  it.each([
    ['Unix, no attributes at all', 'a', UNIX, 0, 5, { kind: 'file', mode: 0o644 }],
    ['Unix, permissions only (writestr)', 'a', UNIX, 0o600 << 16, 5, { kind: 'file', mode: 0o600 }],
    ['Unix regular file', 'a', UNIX, 0o100755 << 16, 5, { kind: 'file', mode: 0o755 }],
    ['Unix symlink', 'a', UNIX, 0o120777 << 16, 3, { kind: 'symlink' }],
    ['S_IFLNK bits from MS-DOS are not a link', 'a', DOS, 0o120777 << 16, 3, { kind: 'file', mode: 0o644 }],
    ['MS-DOS file', 'a', DOS, 0x20, 5, { kind: 'file', mode: 0o644 }],
    ['MS-DOS folder attribute', 'a', DOS, 0x10, 0, { kind: 'dir', mode: 0o755 }],
    ['a name ending in /', 'a/', UNIX, 0o100644 << 16, 0, { kind: 'dir', path: 'a' }],
    ['Unix folder', 'a/', UNIX, 0o040700 << 16, 0, { kind: 'dir', mode: 0o700 }],
    ['FIFO with data', 'a', UNIX, 0o010644 << 16, 7, { kind: 'other', typeName: 'FIFO', size: 7 }],
    ['character device', 'a', UNIX, 0o020644 << 16, 0, { kind: 'other', typeName: 'character device', size: 0 }],
    ['socket', 'a', UNIX, 0o140644 << 16, 0, { kind: 'other', typeName: 'socket' }],
    ['a folder entry with data', 'a/', UNIX, 0o040755 << 16, 9, { kind: 'other', typeName: 'folder', size: 9 }],
  ])('%s', (_what, name, madeBy, external, size, expected) => {
    expect(entryOf(name as string, madeBy as number, (external as number) >>> 0, size as number, t)).toMatchObject(expected as object);
  });
});

describe('zip names that are not UTF-8, and names given twice', () => {
  it('Info-ZIP under LANG=C (no UTF-8 flag): each file restored under its exact bytes, none lost', async () => {
    const dir = await tempDir();
    const src = Buffer.from(path.join(dir, 'src'));
    await fs.mkdir(src);
    const at = (name: string): Buffer => Buffer.concat([src, Buffer.from('/'), Buffer.from(name, 'latin1')]);
    await fs.writeFile(at('caf\xe9'), 'one');
    await fs.writeFile(at('caf\xe8'), 'two');
    execFileSync('sh', ['-c', 'cd src && zip -q ../names.zip *'], { cwd: dir, env: { ...process.env, LANG: 'C', LC_ALL: 'C' } });
    const { code, result } = await restore(dir, path.join(dir, 'names.zip'), path.join(dir, 'out'));
    expect(code, JSON.stringify(result)).toBe(0);
    expect(result.files).toBe(2);
    const out = Buffer.from(path.join(dir, 'out'));
    const names = (await fs.readdir(out, { encoding: 'buffer' })).map((b) => b.toString('latin1')).sort();
    expect(names).toEqual(['caf\xe8', 'caf\xe9']);
    const read = (name: string): Promise<string> => fs.readFile(Buffer.concat([out, Buffer.from('/'), Buffer.from(name, 'latin1')]), 'utf8');
    expect(await read('caf\xe9')).toBe('one');
    expect(await read('caf\xe8')).toBe('two');
  });

  it('the same name twice (zip has no appending): the second is not restored, said, exit 1', async () => {
    const dir = await tempDir();
    execFileSync('python3', ['-c', "import zipfile, warnings\nwarnings.simplefilter('ignore')\nz = zipfile.ZipFile('twice.zip', 'w')\nz.writestr('report.txt', b'first')\nz.writestr('report.txt', b'second')\nz.close()"], { cwd: dir });
    const { code, result } = await restore(dir, path.join(dir, 'twice.zip'), path.join(dir, 'out'));
    expect(code).toBe(1);
    expect(result.files).toBe(1);
    expect(result.notRestored).toEqual([{ path: 'report.txt', reason: expect.stringMatching(/holds "report.txt" more than once/) }]);
    expect(await fs.readFile(path.join(dir, 'out/report.txt'), 'utf8')).toBe('first');
  });
});
