/**
 * The log file: opened by us, never through a symlink, only a regular file,
 * in folders with safe modes; a huge message is capped; existing logs are
 * never truncated.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, MAX_MESSAGE_BYTES } from '../../src/log/logger.js';
import { tempDir } from '../helpers/fixtures.js';
import { BIN, runCli } from '../helpers/cli.js';

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { stream, text: () => text };
}

describe('the log file', () => {
  it('a symlink planted at the log path: refused, the file it points to untouched', async () => {
    const root = await tempDir();
    const victim = path.join(root, 'victim');
    await fs.writeFile(victim, 'precious\n');
    await fs.mkdir(path.join(root, 'logs'));
    await fs.symlink(victim, path.join(root, 'logs/backup.log'));
    const logger = createLogger({ file: path.join(root, 'logs/backup.log'), console: sink().stream });
    logger.error('written through the link?');
    await logger.close();
    expect(logger.file).toBeUndefined();
    expect(logger.fileRefused?.message).toMatch(/logs\/backup\.log is a symbolic link \(to .*victim\); refusing to write to it/);
    expect(logger.fileRefused?.exitCode).toBe(2);
    expect(await fs.readFile(victim, 'utf8')).toBe('precious\n');

    // Every command stops there with exit 2 and says why; a dangling link creates nothing either.
    await fs.mkdir(path.join(root, 'data'));
    await fs.writeFile(path.join(root, 'data/f'), 'x');
    const run = await runCli(['run', '-s', 'data', '-d', 'out'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error: The log file .*backup\.log is a symbolic link/);
    const list = await runCli(['list', '--json'], { cwd: root });
    expect(list.code).toBe(2);
    expect(JSON.parse(list.stdout).error.code).toBe('LOG_FILE_UNSAFE');
    expect(await fs.readFile(victim, 'utf8')).toBe('precious\n');
    await fs.rm(path.join(root, 'logs/backup.log'));
    await fs.symlink(path.join(root, 'created-by-us'), path.join(root, 'logs/backup.log'));
    expect((await runCli(['list'], { cwd: root })).code).toBe(2);
    await expect(fs.stat(path.join(root, 'created-by-us'))).rejects.toThrow(/ENOENT/);
  });

  it('a FIFO or a folder at the log path: refused at once (no hang)', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'logs'));
    execFileSync('mkfifo', [path.join(root, 'logs/backup.log')]);
    const run = await runCli(['list'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/backup\.log is not a regular file/);
    const folder = await runCli(['list', '--log-file', 'logs'], { cwd: root });
    expect(folder.code).toBe(2);
  });

  it('folders and the file are created 0750 / 0640 even under umask 000', async () => {
    const root = await tempDir();
    execFileSync('sh', ['-c', `umask 000; "${process.execPath}" "${BIN}" list --log-file deep/er/run.log >/dev/null 2>&1; true`], { cwd: root });
    for (const dir of ['deep', 'deep/er']) expect((await fs.stat(path.join(root, dir))).mode & 0o777).toBe(0o750);
    expect((await fs.stat(path.join(root, 'deep/er/run.log'))).mode & 0o777).toBe(0o640);
  });

  it('a 16 MB name in a message: the line is capped, the log and its history intact', async () => {
    const root = await tempDir();
    const file = path.join(root, 'logs/backup.log');
    await fs.mkdir(path.dirname(file));
    await fs.writeFile(file, '2026-01-01T00:00:00.000Z [run 1] INFO  history\n');
    const console = sink();
    const logger = createLogger({ file, console: console.stream, command: 'run' });
    const huge = 'n'.repeat(16 * 1024 * 1024);
    logger.warn(`skipped ${huge}: too long`, { path: huge });
    logger.info('after');
    await logger.close();
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    expect(lines[0]).toBe('2026-01-01T00:00:00.000Z [run 1] INFO  history');
    expect(lines[1]).toMatch(new RegExp(`^\\S+ \\[run ${process.pid}\\] WARN  skipped n+\\.\\.\\. \\(\\d+ more bytes\\) \\{"path":"n+\\.\\.\\. \\(\\d+ more bytes\\)`));
    expect(lines[1]!.length).toBeLessThan(3 * MAX_MESSAGE_BYTES);
    expect(lines[2]).toMatch(/INFO  after$/);
    expect(console.text().length).toBeLessThan(2 * MAX_MESSAGE_BYTES);
  });

  it('rotation renames (backup.log -> backup1.log ...): nothing is truncated', async () => {
    const root = await tempDir();
    const file = path.join(root, 'logs/backup.log');
    await fs.mkdir(path.dirname(file));
    const big = `${'x'.repeat(100)}\n`.repeat(53_000); // > 5 MiB
    await fs.writeFile(file, big);
    await fs.writeFile(path.join(root, 'logs/backup1.log'), 'older\n');
    const logger = createLogger({ file, console: sink().stream });
    logger.info('fresh');
    await logger.close();
    expect(await fs.readFile(path.join(root, 'logs/backup1.log'), 'utf8')).toBe(big);
    expect(await fs.readFile(path.join(root, 'logs/backup2.log'), 'utf8')).toBe('older\n');
    expect(await fs.readFile(file, 'utf8')).toMatch(/^\S+ \[backup \d+\] INFO  fresh\n$/);
  });

  it('a multi-line message cannot forge an entry: later lines are indented', async () => {
    const root = await tempDir();
    const file = path.join(root, 'backup.log');
    const logger = createLogger({ file, console: sink().stream });
    logger.error('first\n2026-12-01T00:00:00.000Z [run 1] ERROR forged\x1b[2J');
    await logger.close();
    expect(await fs.readFile(file, 'utf8')).toMatch(/ERROR first\n {4}\| 2026-12-01T00:00:00\.000Z \[run 1\] ERROR forged\\x1b\[2J\n$/);
  });
});
