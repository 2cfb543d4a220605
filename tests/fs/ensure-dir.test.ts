/**
 * Folders we create have the mode we ask for, whatever the umask (under
 * umask 000, mkdir's default made them writable by every user), and a
 * kernel file system is refused instead of looped over.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDir, ensureDirSync } from '../../src/fs/ensure-dir.js';
import { saveSettings } from '../../src/config/save-settings.js';
import { tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli } from '../helpers/cli.js';

const mode = async (p: string): Promise<number> => (await fs.stat(p)).mode & 0o7777;
const saved = process.umask();
afterEach(() => {
  process.umask(saved);
});

describe('ensureDir', () => {
  it.each([0o000, 0o002, 0o077])('under umask %o: every folder it creates has exactly the mode asked', async (umask) => {
    const root = await tempDir();
    process.umask(umask);
    await ensureDir(path.join(root, 'a/b/c'), 0o755);
    ensureDirSync(path.join(root, 'p/q'), 0o700);
    process.umask(saved);
    for (const dir of ['a', 'a/b', 'a/b/c']) expect(await mode(path.join(root, dir))).toBe(0o755);
    for (const dir of ['p', 'p/q']) expect(await mode(path.join(root, dir))).toBe(0o700);
  });

  it('leaves folders that exist as they are, and says when a part of the path is a file', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'open'), { mode: 0o777 });
    await fs.chmod(path.join(root, 'open'), 0o777);
    await ensureDir(path.join(root, 'open/inner'), 0o700);
    expect(await mode(path.join(root, 'open'))).toBe(0o777);
    expect(await mode(path.join(root, 'open/inner'))).toBe(0o700);
    await fs.writeFile(path.join(root, 'file'), 'x');
    await expect(ensureDir(path.join(root, 'file/inner'), 0o755)).rejects.toMatchObject({ code: 'ENOTDIR', reason: 'not-a-folder' });
    expect(() => ensureDirSync(path.join(root, 'file/inner'), 0o755)).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
  });

  it('under /proc: refused at once, never looping (Node 20 recursive mkdir spins there)', async () => {
    await expect(ensureDir('/proc/backups/x', 0o700)).rejects.toMatchObject({ reason: 'refused' });
    expect(() => ensureDirSync('/proc/backups/x', 0o700)).toThrow(/proc file system/);
  });
});

describe('saveSettings', () => {
  it('under umask 000 creates config/ 0755 and the file 0644, not 0777', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    const file = path.join(root, 'config/settings.json');
    process.umask(0);
    await saveSettings(file, { sources: ['data'], format: 'zip' });
    process.umask(saved);
    expect(await mode(path.join(root, 'config'))).toBe(0o755);
    expect(await mode(file)).toBe(0o644);
  });
});

describe('the CLI never loops on a kernel file system', () => {
  it('--log-file under /proc: the run ends, says it logs to the console only, and the backup is made', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    await fs.writeFile(path.join(root, 'data/f.txt'), 'x');
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--log-file', '/proc/backup-logs/backup.log', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/Cannot write the log file \/proc\/backup-logs\/backup\.log: .*console only/);
    expect(parseJsonResult(run).ok).toBe(true);
  });
});
