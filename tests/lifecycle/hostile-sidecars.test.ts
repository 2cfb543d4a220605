/**
 * Sidecars planted by someone else in a backup folder other users can write
 * to: a FIFO (reading it would block for ever), a file far larger than any
 * sidecar, a symbolic link to a device. `list` and `verify` finish, name the
 * file and say why it was not read; nothing hangs, nothing is read whole.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { parseJsonResult, runCli, type CliRun } from '../helpers/cli.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { MAX_MANIFEST_BYTES } from '../../src/lifecycle/catalog.js';

/** A backup made by `backup run` in DIR/backups, and its archive's name. */
async function backup(): Promise<{ dir: string; dest: string; name: string }> {
  const dir = await tempDir();
  await makeRichTree(dir);
  const run = await runCli(['run', '-s', 'data', '-d', 'backups', '-f', 'tar.gz', '-n', 'data', '--json'], { cwd: dir });
  expect(parseJsonResult(run).exitCode, run.stderr).toBe(0);
  return { dir, dest: path.join(dir, 'backups'), name: 'data.tar.gz' };
}

/** The CLI; a run that hangs (the bug) is killed so that no process outlives the test. */
function cli(args: string[], cwd: string): Promise<CliRun> {
  return runCli(args, {
    cwd,
    onSpawn: (child: ChildProcess) => {
      const watchdog = setTimeout(() => child.kill('SIGKILL'), 50_000);
      child.on('exit', () => clearTimeout(watchdog));
    },
  });
}

async function mkfifo(file: string): Promise<void> {
  await fs.rm(file, { force: true });
  execFileSync('mkfifo', [file]);
}

describe('a FIFO where a sidecar should be', () => {
  it('at NAME.manifest.json: list and verify finish and name it', async () => {
    const { dir, dest, name } = await backup();
    const manifest = path.join(dest, `${name}.manifest.json`);
    await mkfifo(manifest);

    const list = await cli(['list', '-d', dest, '--json'], dir);
    expect(list.code, list.stderr).toBe(0);
    const [entry] = parseJsonResult(list).locations[0].backups;
    expect(entry).toMatchObject({ name, managed: false });
    expect(entry.unmanagedReason).toBe(`${manifest} is a FIFO (named pipe), not a regular file: it was not read (a sidecar must be a regular file).`);
    const human = await cli(['list', '-d', dest], dir);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`unmanaged: ${manifest} is a FIFO (named pipe), not a regular file`);

    const verify = await cli(['verify', name, '-d', dest, '--json'], dir);
    expect(verify.code, verify.stderr).toBe(1);
    const [outcome] = parseJsonResult(verify).results;
    expect(outcome.checks.find((c: { name: string }) => c.name === 'manifest')).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`${manifest} is a FIFO (named pipe), not a regular file`),
    });
    // The archive itself was still read and checked against its .sha256.
    expect(outcome.checks.find((c: { name: string }) => c.name === 'sha256')).toMatchObject({ ok: true });
  });

  it('at NAME.sha256: verify --all finishes, names it, and goes on to the next backup', async () => {
    const { dir, dest, name } = await backup();
    const other = await runCli(['run', '-s', 'data', '-d', 'backups', '-f', 'zip', '-n', 'other', '--json'], { cwd: dir });
    expect(other.code, other.stderr).toBe(0);
    const sha = path.join(dest, `${name}.sha256`);
    await mkfifo(sha);
    const verify = await cli(['verify', '--all', '-d', dest, '--json'], dir);
    expect(verify.code, verify.stderr).toBe(1);
    const results = parseJsonResult(verify).results as Array<{ location: string; ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> }>;
    expect(results.map((r) => [path.basename(r.location), r.ok]).sort()).toEqual([
      [name, false],
      ['other.zip', true],
    ]);
    const failed = results.find((r) => !r.ok)!;
    expect(failed.checks.find((c) => c.name === 'sidecar')).toMatchObject({ ok: false, detail: `${sha} is a FIFO (named pipe), not a regular file: it was not read (a sidecar must be a regular file).` });
  });
});

describe('a sidecar larger than any sidecar can be', () => {
  it('a 100 MB NAME.manifest.json is refused unread: list says so, verify reports it', async () => {
    const { dir, dest, name } = await backup();
    const manifest = path.join(dest, `${name}.manifest.json`);
    // Sparse: 100 MB to anyone who reads it, nothing on the disk.
    await fs.truncate(manifest, 100 * 1024 * 1024);
    const expected = `${manifest} is 104857600 bytes, more than a sidecar file can be (${MAX_MANIFEST_BYTES}): it was not read.`;

    const list = await cli(['list', '-d', dest, '--json'], dir);
    expect(list.code, list.stderr).toBe(0);
    expect(parseJsonResult(list).locations[0].backups[0]).toMatchObject({ name, managed: false, unmanagedReason: expected });

    const verify = await cli(['verify', name, '-d', dest, '--json'], dir);
    expect(verify.code, verify.stderr).toBe(1);
    const [outcome] = parseJsonResult(verify).results;
    expect(outcome.checks.find((c: { name: string }) => c.name === 'manifest')).toMatchObject({ ok: false, detail: `${name}.manifest.json: ${expected}` });
  });
});

describe('LocalStore.readText', () => {
  it('reads a regular file; refuses a link, a folder, a FIFO and a file above the limit; a missing one is undefined', async () => {
    const dir = await tempDir();
    const store = new LocalStore(dir);
    await fs.writeFile(path.join(dir, 'ok'), 'hello\n');
    expect(await store.readText('ok', 6)).toBe('hello\n');
    expect(await store.readText('missing', 6)).toBeUndefined();
    await expect(store.readText('ok', 5)).rejects.toMatchObject({ code: 'SIDECAR_TOO_LARGE', message: expect.stringContaining(path.join(dir, 'ok')) });
    await fs.symlink('/dev/zero', path.join(dir, 'link'));
    await expect(store.readText('link', 1024)).rejects.toMatchObject({ code: 'SIDECAR_INVALID', message: `${path.join(dir, 'link')} is a symbolic link, not a regular file: it was not read (a sidecar must be a regular file).` });
    await fs.mkdir(path.join(dir, 'folder'));
    await expect(store.readText('folder', 1024)).rejects.toMatchObject({ code: 'SIDECAR_INVALID', message: expect.stringContaining('is a folder, not a regular file') });
    await mkfifo(path.join(dir, 'fifo'));
    await expect(store.readText('fifo', 1024)).rejects.toMatchObject({ code: 'SIDECAR_INVALID', message: expect.stringContaining('is a FIFO (named pipe)') });
  });
});
