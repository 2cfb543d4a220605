/**
 * Archive fidelity as outside tools see it: hard links (GNU tar lists and
 * extracts them as links; zip holds copies), zip times outside 1970-2038
 * (Info-ZIP, Python), and modification times that GNU tar's compare mode
 * (`tar -d`) finds equal to the files', sub-second times included.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

async function backup(root: string, source: string, format: string): Promise<{ archive: string; result: Record<string, any> }> {
  const run = await runCli(['run', '-s', source, '-d', 'out', '-f', format, '-n', 'fid', '--json'], { cwd: root });
  expect(run.code, run.stderr).toBe(0);
  const result = parseJsonResult(run);
  return { archive: path.join(root, result.archive as string), result };
}

async function inode(file: string): Promise<{ ino: number; nlink: number }> {
  const stat = await fs.stat(file);
  return { ino: stat.ino, nlink: stat.nlink };
}

/** A file with two more names (one in a sub-folder), a 2 MB file (the large-file path) with one more, and a plain file. */
async function makeLinkedTree(root: string): Promise<string> {
  const src = path.join(root, 'data');
  await fs.mkdir(path.join(src, 'sub'), { recursive: true });
  await fs.writeFile(path.join(src, 'a.txt'), 'shared contents\n');
  await fs.link(path.join(src, 'a.txt'), path.join(src, 'b.txt'));
  await fs.link(path.join(src, 'a.txt'), path.join(src, 'sub', 'c.txt'));
  await fs.writeFile(path.join(src, 'big.bin'), randomBytes(2 * 1024 * 1024));
  await fs.link(path.join(src, 'big.bin'), path.join(src, 'sub', 'big-again.bin'));
  await fs.writeFile(path.join(src, 'plain.txt'), 'alone\n');
  return src;
}

describe('hard links', () => {
  it('tar: later paths of one file are hard link entries; GNU tar and our restore recreate the links', async () => {
    const root = await tempDir();
    const src = await makeLinkedTree(root);
    const { archive, result } = await backup(root, 'data', 'tar.gz');

    const listing = execFileSync('tar', ['-tvzf', archive], { encoding: 'utf8' });
    expect(listing).toMatch(/^h.* data\/b\.txt link to data\/a\.txt$/m);
    expect(listing).toMatch(/^h.* data\/sub\/c\.txt link to data\/a\.txt$/m);
    expect(listing).toMatch(/^h.* data\/sub\/big-again\.bin link to data\/big\.bin$/m);
    // The data is stored once: the archive is smaller than two copies of the random 2 MB.
    expect(result.bytes).toBeLessThan(3 * 1024 * 1024);
    // Every path is a file backed up; the bytes read are each file's once.
    expect(result.files).toBe(6);
    expect(result.sourceBytes).toBe(16 + 2 * 1024 * 1024 + 6);
    const manifest = JSON.parse(await fs.readFile(`${archive}.manifest.json`, 'utf8'));
    expect(manifest).toMatchObject({ files: 6, entries: 8, sourceBytes: 16 + 2 * 1024 * 1024 + 6 });

    const byTar = path.join(root, 'by-tar');
    await fs.mkdir(byTar);
    execFileSync('tar', ['-xzf', archive, '-C', byTar]);
    const a = await inode(path.join(byTar, 'data', 'a.txt'));
    expect(a.nlink).toBe(3);
    expect(await inode(path.join(byTar, 'data', 'b.txt'))).toEqual(a);
    expect(await inode(path.join(byTar, 'data', 'sub', 'c.txt'))).toEqual(a);
    expect((await inode(path.join(byTar, 'data', 'sub', 'big-again.bin'))).ino).toBe((await inode(path.join(byTar, 'data', 'big.bin'))).ino);
    expect(await describeTree(path.join(byTar, 'data'))).toEqual(await describeTree(src));

    const restore = await runCli(['restore', archive, '--to', 'ours', '--json'], { cwd: root });
    expect(restore.code, restore.stderr).toBe(0);
    const ours = path.join(root, 'ours', 'data');
    const oursA = await inode(path.join(ours, 'a.txt'));
    expect(oursA.nlink).toBe(3);
    expect(await inode(path.join(ours, 'sub', 'c.txt'))).toEqual(oursA);
    expect((await inode(path.join(ours, 'sub', 'big-again.bin'))).ino).toBe((await inode(path.join(ours, 'big.bin'))).ino);
    expect(await describeTree(ours)).toEqual(await describeTree(src));

    // verify agrees with the manifest's counts.
    const verify = await runCli(['verify', archive], { cwd: root });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('tar: a link whose first path is excluded stores the data under the next path', async () => {
    const root = await tempDir();
    await makeLinkedTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.gz', '-n', 'x', '--exclude', 'a.txt', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tvzf', path.join(root, parseJsonResult(run).archive)], { encoding: 'utf8' });
    expect(listing).toMatch(/^-.* 16 .* data\/b\.txt$/m);
    expect(listing).toMatch(/^h.* data\/sub\/c\.txt link to data\/b\.txt$/m);
  });

  it('zip: each path holds a copy (zip has no hard links)', async () => {
    const root = await tempDir();
    const src = await makeLinkedTree(root);
    const { archive, result } = await backup(root, 'data', 'zip');
    expect(result.files).toBe(6);
    const out = path.join(root, 'by-unzip');
    execFileSync('unzip', ['-q', archive, '-d', out]);
    expect(await describeTree(path.join(out, 'data'))).toEqual(await describeTree(src));
    expect((await inode(path.join(out, 'data', 'b.txt'))).nlink).toBe(1);
  });
});

describe('zip modification times outside 1970-2038', () => {
  /** mtime (s) of the extended timestamp field per entry, read as signed 32-bit, or null when absent; and the DOS time. */
  function zipTimes(archive: string): Record<string, { ut: number | null; dos: number[] }> {
    const script = [
      'import sys, json, struct, zipfile',
      'out = {}',
      'for i in zipfile.ZipFile(sys.argv[1]).infolist():',
      '    e = i.extra; ut = None',
      '    while len(e) >= 4:',
      '        hid, ln = struct.unpack("<HH", e[:4])',
      '        if hid == 0x5455 and e[4] & 1: ut = struct.unpack("<i", e[5:9])[0]',
      '        e = e[4 + ln:]',
      '    out[i.filename] = {"ut": ut, "dos": list(i.date_time)}',
      'print(json.dumps(out))',
    ].join('\n');
    return JSON.parse(execFileSync('python3', ['-c', script, archive], { encoding: 'utf8' }));
  }

  it('1969 as a signed timestamp; past 2038 no timestamp field, so unzip uses the DOS time (to 2107)', async () => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    for (const name of ['moon.txt', 'future.txt', 'now.txt']) await fs.writeFile(path.join(src, name), name);
    execFileSync('touch', ['-d', '1969-07-20 20:17:40 UTC', path.join(src, 'moon.txt')]);
    execFileSync('touch', ['-d', '2040-01-01 00:00:00', path.join(src, 'future.txt')]);
    const { archive } = await backup(root, 'data', 'zip');

    const times = zipTimes(archive);
    expect(times['data/moon.txt']!.ut).toBe(Date.UTC(1969, 6, 20, 20, 17, 40) / 1000);
    expect(times['data/moon.txt']!.dos).toEqual([1980, 1, 1, 0, 0, 0]); // DOS times start in 1980
    expect(times['data/future.txt']).toEqual({ ut: null, dos: [2040, 1, 1, 0, 0, 0] });
    const now = (await fs.stat(path.join(src, 'now.txt'))).mtimeMs;
    expect(times['data/now.txt']!.ut).toBe(Math.floor(now / 1000));

    // Info-ZIP's listing agrees, and its extraction sets 2040 from the DOS time.
    const zipinfo = execFileSync('zipinfo', ['-T', archive], { encoding: 'utf8' });
    expect(zipinfo).toMatch(/20400101\.000000 data\/future\.txt/);
    const out = path.join(root, 'by-unzip');
    execFileSync('unzip', ['-q', archive, '-d', out]);
    expect((await fs.stat(path.join(out, 'data', 'future.txt'))).mtime).toEqual(new Date(2040, 0, 1, 0, 0, 0));
    expect((await fs.stat(path.join(out, 'data', 'now.txt'))).mtimeMs).toBe(Math.floor(now / 1000) * 1000);
    // unzip 6.0 on a 64-bit system reads the field as unsigned and trusts a value with the top
    // bit set only beside a DOS time past 2038; for 1969 it falls back to the DOS time.
    expect((await fs.stat(path.join(out, 'data', 'moon.txt'))).mtime).toEqual(new Date(1980, 0, 1, 0, 0, 0));
  });
});

describe('tar modification times: GNU tar --compare finds no difference', () => {
  it.each(['tar.gz', 'tar.bz2'] as const)('%s: sub-second times, small and large files, with and without pax headers', async (format) => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    const long = `${'long-name-'.repeat(12)}.txt`;
    await fs.mkdir(path.join(src, 'ünï'), { recursive: true });
    const files = ['small.txt', long, 'ünï/small.txt', 'big.bin', `big-${long}`, 'ünï/big.bin'];
    for (const name of files) {
      await fs.writeFile(path.join(src, name), name.includes('big') ? randomBytes(1536 * 1024) : `${name}\n`);
    }
    // Nanoseconds that milliseconds cannot carry; the directories too.
    for (const name of [...files, 'ünï', '.']) execFileSync('touch', ['-d', '2024-05-06 07:08:09.123456789', path.join(src, name)]);
    execFileSync('touch', ['-h', '-d', '2024-05-06 07:08:09.987654321', path.join(src, 'small.txt')]);
    // Before 1970 with a fraction: a negative time node-tar cannot put in a ustar header by itself.
    await fs.writeFile(path.join(src, 'moon.txt'), 'moon\n');
    execFileSync('touch', ['-d', '1969-07-20 20:17:40.25 UTC', path.join(src, 'moon.txt')]);
    // After 2242 (past the octal field) with a fraction: the same.
    await fs.writeFile(path.join(src, 'far.txt'), 'far\n');
    execFileSync('touch', ['-d', '2300-01-01 00:00:00.5 UTC', path.join(src, 'far.txt')]);
    await fs.symlink('small.txt', path.join(src, `link-${long}`));
    const { archive } = await backup(root, 'data', format);

    // Entries with a pax header carry the time to the nanosecond; the others whole seconds.
    const listing = execFileSync('tar', ['--full-time', '-tvaf', archive], { encoding: 'utf8' });
    expect(listing).toContain(`2024-05-06 07:08:09.123456789 data/${long}`);
    expect(listing).toMatch(/2024-05-06 07:08:09 +data\/small\.txt$/m);

    const compare = spawnSync('tar', ['-C', root, '-d', '-af', archive], { encoding: 'utf8' });
    expect(compare.stdout + compare.stderr).toBe('');
    expect(compare.status).toBe(0);
    const out = path.join(root, 'by-tar');
    await fs.mkdir(out);
    execFileSync('tar', ['-xaf', archive, '-C', out]);
    expect((await fs.stat(path.join(out, 'data', 'moon.txt'))).mtimeMs).toBe(Date.UTC(1969, 6, 20, 20, 17, 40, 250));
    expect((await fs.stat(path.join(out, 'data', 'far.txt'))).mtimeMs).toBe(Date.UTC(2300, 0, 1, 0, 0, 0, 500));
  });
});

describe('a time less than half a millisecond before a whole second keeps its second', () => {
  // Node's Stats.mtime rounds mtimeMs to the nearest millisecond: 09.9996 s became 10.000 s, and the
  // archive said 10 where GNU tar and Info-ZIP say 09 (a CI run met it: files written in the same
  // clock tick share one time, so several came back a second late).
  it.each(['tar.gz', 'zip'] as const)('%s: 07:08:09.9996 is stored and restored as 07:08:09', async (format) => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(path.join(src, 'folder'), { recursive: true });
    await fs.writeFile(path.join(src, 'late.txt'), 'late\n');
    await fs.writeFile(path.join(src, 'folder', 'inner.txt'), 'inner\n');
    for (const name of ['late.txt', 'folder/inner.txt', 'folder']) {
      execFileSync('touch', ['-d', '2024-05-06 07:08:09.999600000 UTC', path.join(src, name)]);
    }
    const { archive } = await backup(root, 'data', format);
    const second = Date.UTC(2024, 4, 6, 7, 8, 9) / 1000;

    // The standard tool's extraction: the second it finds in the archive.
    const byTool = path.join(root, 'by-tool');
    await fs.mkdir(byTool);
    if (format === 'zip') execFileSync('unzip', ['-q', archive, '-d', byTool]);
    else execFileSync('tar', ['-xaf', archive, '-C', byTool]);
    // Our own restore.
    const run = await runCli(['restore', archive, '--to', 'restored', '--json'], { cwd: root });
    expect(run.code).toBe(0);
    for (const out of [byTool, path.join(root, 'restored')]) {
      for (const name of ['late.txt', 'folder/inner.txt', 'folder']) {
        expect([out, name, Math.floor((await fs.stat(path.join(out, 'data', name))).mtimeMs / 1000)]).toEqual([out, name, second]);
      }
    }
  });
});
