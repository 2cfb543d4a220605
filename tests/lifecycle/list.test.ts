/**
 * `backup list`: newest first from the manifests; archives without one are
 * "unmanaged"; sidecars, partial files and locks are not backups.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { groupFiles } from '../../src/lifecycle/catalog.js';

describe('backup list', () => {
  it('lists managed backups newest first with their details, and unmanaged archives as such', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'data'));
    await fs.writeFile(path.join(dir, 'data/a.txt'), 'a');
    for (const [name, format] of [['older', 'zip'], ['newer', 'tar.bz2']] as const) {
      expect(parseJsonResult(await runCli(['run', '-s', 'data', '-d', 'backups', '-f', format, '-n', name, '--json'], { cwd: dir })).exitCode).toBe(0);
    }
    await fs.writeFile(path.join(dir, 'backups/dropped-in.tar.gz'), 'x');
    await fs.writeFile(path.join(dir, 'backups/in-progress.zip.partial'), 'x');
    await fs.writeFile(path.join(dir, 'backups/notes.txt'), 'x');

    const run = await runCli(['list', '--dest', 'backups', '--json'], { cwd: dir });
    const result = parseJsonResult(run);
    expect(result.exitCode).toBe(0);
    const backups = result.locations[0].backups;
    expect(backups.filter((b: any) => b.managed).map((b: any) => [b.name, b.format, b.files, b.sources])).toEqual([
      ['newer.tar.bz2', 'tar.bz2', 1, [path.join(dir, 'data')]],
      ['older.zip', 'zip', 1, [path.join(dir, 'data')]],
    ]);
    expect(backups.filter((b: any) => !b.managed).map((b: any) => [b.name, b.unmanagedReason])).toEqual([['dropped-in.tar.gz', 'no manifest beside it']]);

    const human = await runCli(['list', '--dest', 'backups'], { cwd: dir });
    expect(human.stdout).toMatch(/3 backup\(s\) in .*backups, newest first \(1 unmanaged: never pruned\)/);
    expect(human.stdout.indexOf('newer.tar.bz2')).toBeLessThan(human.stdout.indexOf('older.zip'));
  });

  it('uses the settings file\'s destination by default; a missing folder is exit 2', async () => {
    const dir = await tempDir();
    await fs.mkdir(path.join(dir, 'config'));
    await fs.writeFile(path.join(dir, 'config/settings.json'), JSON.stringify({ sources: ['.'], destination: './nightly' }));
    const run = await runCli(['list'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`The backup folder ${path.join(dir, 'nightly')} does not exist.`);
  });
});

describe('a backup folder below a file', () => {
  it('says which part of the path is the file (exit 2), for list, verify --all and prune', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, 'file'), 'x');
    const file = path.join(dir, 'file');
    for (const dest of ['file/sub', 'file/sub/deeper']) {
      const wanted = `error: ${path.join(dir, dest)} is not a backup folder: ${file} is a file, not a folder.\n`;
      for (const args of [['list'], ['verify', '--all'], ['prune', '--keep-last', '1', '-s', '.']]) {
        const run = await runCli([...args, '-d', dest], { cwd: dir });
        expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 2, stderr: wanted });
      }
    }
    const run = await runCli(['list', '-d', 'file', '--json'], { cwd: dir });
    expect(run.code).toBe(2);
    expect(parseJsonResult(run).error).toEqual({ code: 'DESTINATION_NOT_DIR', message: `${file} is a file, not a backup folder.` });
  });
});

describe('groupFiles (pure)', () => {
  const file = (name: string): { name: string; size: number; modified: Date } => ({ name, size: 1, modified: new Date(0) });
  it.each([
    { files: ['a.zip', 'a.zip.sha256', 'a.zip.manifest.json'], archives: [['a.zip', ['a.zip.manifest.json', 'a.zip.sha256']]], orphans: [] },
    { files: ['b.tar.gz.sha256', 'b.tar.gz.manifest.json'], archives: [], orphans: [['b.tar.gz', ['b.tar.gz.sha256', 'b.tar.gz.manifest.json']]] },
    { files: ['c.tgz', 'c.txt', 'c.zip.partial', '.backup-0123.lock', 'x.sha256'], archives: [['c.tgz', []]], orphans: [] },
    { files: ['d.tar.bz2', 'd.tar.bz2.verified.json'], archives: [['d.tar.bz2', ['d.tar.bz2.verified.json']]], orphans: [] },
  ])('$files', ({ files, archives, orphans }) => {
    const grouped = groupFiles(files.map(file));
    expect(grouped.archives.map((a) => [a.name, a.sidecars.sort()])).toEqual(archives);
    expect([...grouped.orphans.entries()]).toEqual(orphans);
  });
});
