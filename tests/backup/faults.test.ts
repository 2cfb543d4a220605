/**
 * Faults injected for real: files an unprivileged user cannot read (we run
 * as root, so the CLI is run as nobody through setpriv), FIFOs, symlink
 * loops, a destination inside the source, a full disk (a 1 MiB tmpfs), and
 * a run killed or interrupted half-way.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { hasPartial, parseJsonResult, runCli, signalWhen, startCli } from '../helpers/cli.js';
import { itAsRoot } from '../helpers/root.js';

const NOBODY = 65534;

/** Pids of the running children of `pid` (from /proc, as `pgrep -P` reads it). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

/** The command name of a live process, undefined once it has exited (zombies count as exited). */
function commandOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' ? undefined : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  } catch {
    return undefined;
  }
}

/** A temp root owned by nobody, so the CLI running as nobody can write logs and backups there. */
async function nobodyRoot(): Promise<{ root: string; src: string }> {
  const root = await tempDir();
  const src = await makeRichTree(root);
  execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);
  return { root, src };
}

describe('unreadable files (run as nobody)', () => {
  itAsRoot('are skipped, listed in the result, manifest and log, and the run exits 3', async () => {
    const { root, src } = await nobodyRoot();
    await fs.writeFile(path.join(src, 'secret.key'), 'top secret');
    await fs.chmod(path.join(src, 'secret.key'), 0o000);
    await fs.mkdir(path.join(src, 'locked'));
    await fs.writeFile(path.join(src, 'locked/inside.txt'), 'x');
    await fs.chmod(path.join(src, 'locked'), 0o000);
    execFileSync('chown', ['-R', `${NOBODY}:${NOBODY}`, root]);

    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.gz', '-n', 'x', '--json'], { cwd: root, asUser: NOBODY });
    expect(run.code, run.stderr).toBe(3);
    const result = parseJsonResult(run);
    expect(result.ok).toBe(true);
    expect(result.exitCode).toBe(3);
    expect(result.skipped).toEqual([
      // A folder's files come before its sub-folders' contents.
      { path: path.join(src, 'secret.key'), reason: expect.stringMatching(/permission denied.*EACCES/) },
      { path: path.join(src, 'locked'), reason: expect.stringMatching(/folder contents not readable: permission denied/) },
    ]);
    const manifest = JSON.parse(await fs.readFile(path.join(root, 'out/x.tar.gz.manifest.json'), 'utf8'));
    expect(manifest.skipped).toEqual(result.skipped);
    const log = await fs.readFile(path.join(root, 'logs/backup.log'), 'utf8');
    expect(log).toMatch(/WARN  skipped .*secret\.key: permission denied/);

    // Everything readable is there and intact.
    await fs.chmod(path.join(src, 'locked'), 0o755);
    await fs.rm(path.join(src, 'locked/inside.txt'));
    await fs.rm(path.join(src, 'secret.key'));
    const out = path.join(root, 'restored');
    await fs.mkdir(out);
    extractWithSystemTool(path.join(root, 'out/x.tar.gz'), out);
    expect(await describeTree(path.join(out, 'data'))).toEqual(await describeTree(src));
  });

  itAsRoot('with --strict: exit 1, nothing published, no partial left', async () => {
    const { root, src } = await nobodyRoot();
    await fs.writeFile(path.join(src, 'secret.key'), 'x');
    await fs.chmod(path.join(src, 'secret.key'), 0o000);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '--strict', '--json'], { cwd: root, asUser: NOBODY });
    expect(run.code).toBe(1);
    expect(parseJsonResult(run)).toMatchObject({ ok: false, error: { code: 'SOURCE_FILE_UNREADABLE' } });
    expect(parseJsonResult(run).error.message).toMatch(/secret\.key.*--strict/);
    expect(await listDir(path.join(root, 'out'))).toEqual([]);
  });

  itAsRoot('an unreadable source folder: exit 2 naming it', async () => {
    const { root, src } = await nobodyRoot();
    await fs.chmod(src, 0o000);
    const run = await runCli(['run', '-s', 'data', '-d', 'out'], { cwd: root, asUser: NOBODY });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`${src} cannot be read: permission denied`));
  });

  itAsRoot('a destination that is not writable: exit 1 naming it, no stack trace', async () => {
    const { root } = await nobodyRoot();
    await fs.mkdir(path.join(root, 'ro'), { mode: 0o555 });
    await fs.chown(path.join(root, 'ro'), 0, 0);
    const run = await runCli(['run', '-s', 'data', '-d', 'ro/out'], { cwd: root, asUser: NOBODY });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Cannot create the destination folder .*ro\/out: permission denied/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('special files and links', () => {
  it('a FIFO is skipped with a warning (never opened), a symlink loop is stored as a link', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    await fs.symlink('.', path.join(src, 'deep/loop'));
    await fs.symlink('loop-b', path.join(src, 'loop-a'));
    await fs.symlink('loop-a', path.join(src, 'loop-b'));
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'zip', '-n', 'x', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(3);
    const result = parseJsonResult(run);
    expect(result.skipped).toEqual([{ path: path.join(src, 'pipe'), reason: expect.stringMatching(/FIFO/) }]);
    const out = path.join(root, 'restored');
    await fs.mkdir(out);
    extractWithSystemTool(path.join(root, 'out/x.zip'), out);
    expect(await fs.readlink(path.join(out, 'data/deep/loop'))).toBe('.');
    expect(await fs.readlink(path.join(out, 'data/loop-a'))).toBe('loop-b');
  });

  it('a destination inside the source is left out of the archive', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.mkdir(path.join(root, 'data/backups'));
    await fs.writeFile(path.join(root, 'data/backups/old.tar.gz'), 'old');
    // The log folder inside the source too: our own log is left out as well.
    const first = await runCli(['run', '-s', 'data', '-d', 'data/backups', '-n', 'a', '--log-file', 'data/backup.log', '--json'], {
      cwd: root,
    });
    expect(first.code, first.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tzf', path.join(root, 'data/backups/a.tar.gz')], { encoding: 'utf8' });
    expect(listing).not.toMatch(/backups/);
    expect(listing).not.toMatch(/backup\.log/);
    expect(listing).toMatch(/^data\/readme\.txt$/m);
  });

  it('on the very first run (the folder does not exist yet) a destination inside the source is left out too', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', '.', '-d', './backups', '-n', 'first', '--json'], { cwd: path.join(root, 'data') });
    expect(run.code, run.stderr).toBe(0);
    const listing = execFileSync('tar', ['-tzf', path.join(root, 'data/backups/first.tar.gz')], { encoding: 'utf8' });
    expect(listing).not.toMatch(/backups/);
    expect(listing).toMatch(/^data\/readme\.txt$/m);
  });

  it('a file name that is not valid UTF-8 is skipped with a reason that says so, not as "vanished"', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    execFileSync('sh', ['-c', `printf 'x' > "$(printf '${src}/caf\\351.txt')"`]);
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(3);
    expect(parseJsonResult(run).skipped).toEqual([
      { path: path.join(src, 'caf\u00e9.txt'), reason: expect.stringMatching(/not valid UTF-8 \(bytes 636166e92e747874\)/) },
    ]);
  });

  it.each(['zip', 'tar.gz'] as const)('%s: files that claim size 0 but never end (/proc) are stored as they were stat-ed, not read forever', async (format) => {
    const root = await tempDir();
    const run = await runCli(['run', '-s', '/proc/self/mem', '/proc/self/status', '-d', 'out', '-f', format, '-n', 'x', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    expect(parseJsonResult(run)).toMatchObject({ ok: true, files: 2 });
    const out = path.join(root, 'restored');
    await fs.mkdir(out);
    extractWithSystemTool(path.join(root, `out/x.${format}`), out);
    expect((await fs.stat(path.join(out, 'mem'))).size).toBe(0);
    expect(await listDir(path.join(root, 'out'))).not.toContain(`x.${format}.partial`);
  });

  it('the destination being the source itself is refused', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', 'data'], { cwd: root });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is the source itself/);
  });
});

describe('failures mid-run leave nothing under a final name', () => {
  itAsRoot('disk full: exit 1, says so, removes the partial', async () => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'random.bin'), randomBytes(3 * 1024 * 1024));
    const dest = path.join(root, 'small');
    await fs.mkdir(dest);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dest]);
    try {
      const run = await runCli(['run', '-s', 'data', '-d', 'small', '-n', 'x', '--json'], { cwd: root });
      expect(run.code).toBe(1);
      const result = parseJsonResult(run);
      expect(result.error.code).toBe('DISK_FULL');
      expect(result.error.message).toMatch(/no space left on the device.*partial file was removed/);
      expect(await listDir(dest)).toEqual([]);
    } finally {
      execFileSync('umount', [dest]);
    }
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s mid-run: exit 130, partial removed, nothing published', async (signal) => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    // Enough incompressible data that the run is still going when the signal arrives.
    for (let i = 0; i < 8; i++) await fs.writeFile(path.join(src, `r${i}.bin`), randomBytes(16 * 1024 * 1024));
    const out = path.join(root, 'out');
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.bz2', '-n', 'x'], {
      cwd: root,
      onSpawn: signalWhen(() => hasPartial(out), signal),
    });
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/Backup cancelled; partial files were removed/);
    expect(await listDir(out)).toEqual([]);
  });

  it.each(['zip', 'tar.gz'] as const)('one SIGTERM during a long %s run of one big random file: exit 130, no .partial left', async (format) => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'big.bin'), randomBytes(96 * 1024 * 1024));
    const out = path.join(root, 'out');
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', format, '-n', 'x', '--json'], {
      cwd: root,
      onSpawn: signalWhen(() => hasPartial(out), 'SIGTERM'),
    });
    expect(run.code, run.stderr).toBe(130);
    expect(parseJsonResult(run)).toMatchObject({ ok: false, exitCode: 130, error: { code: 'CANCELLED' } });
    expect((await listDir(out)).filter((f) => !/^\.backup-[0-9a-f]+\.lock$/.test(f))).toEqual([]);
  });

  it.each(['bzip2', 'lbzip2'])('a cancelled tar.bz2 run through %s leaves no compressor process behind', async (tool) => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(src, `r${i}.bin`), randomBytes(16 * 1024 * 1024));
    const bin = path.join(root, 'bin-only');
    await fs.mkdir(bin);
    await fs.symlink(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), path.join(bin, tool));
    // The compressors the run had when it was cancelled.
    let children: number[] = [];
    const run = await runCli(['run', '-s', 'data', '-d', 'out', '-f', 'tar.bz2', '-n', 'x'], {
      cwd: root,
      env: { PATH: bin },
      onSpawn: (child) => {
        const timer = setInterval(() => {
          const found = childrenOf(child.pid!).filter((pid) => commandOf(pid) === tool);
          if (found.length > 0) {
            clearInterval(timer);
            children = found;
            child.kill('SIGTERM');
          }
        }, 20);
        child.on('exit', () => clearInterval(timer));
      },
    });
    expect(run.code, run.stderr).toBe(130);
    expect(children.length).toBeGreaterThan(0);
    // Gone by the time the run has exited: not reparented and still compressing.
    expect(children.filter((pid) => commandOf(pid) === tool)).toEqual([]);
    expect(await listDir(path.join(root, 'out'))).toEqual([]);
  });

  it('SIGKILL mid-run (no clean-up possible): only a .partial remains, never a final name', async () => {
    const root = await tempDir();
    const src = path.join(root, 'data');
    await fs.mkdir(src);
    for (let i = 0; i < 8; i++) await fs.writeFile(path.join(src, `r${i}.bin`), randomBytes(16 * 1024 * 1024));
    const out = path.join(root, 'out');
    const child = startCli(['run', '-s', 'data', '-d', 'out', '-n', 'x'], { cwd: root });
    child.stdin!.end();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        void listDir(out).then((files) => {
          if (files.includes('x.tar.gz.partial')) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        });
      }, 10);
    });
    await new Promise((resolve) => child.on('close', resolve));
    // And the job's lock, which the next run takes over (the process is gone).
    expect((await listDir(out)).filter((f) => !/^\.backup-[0-9a-f]+\.lock$/.test(f))).toEqual(['x.tar.gz.partial']);
    // The next run does not touch the stale partial and picks a free name.
    await fs.rm(path.join(src, 'r1.bin'));
    const next = await runCli(['run', '-s', 'data', '-d', 'out', '-n', 'x', '--json'], { cwd: root });
    expect(next.code, next.stderr).toBe(0);
    expect(parseJsonResult(next).archive).toBe('out/x-1.tar.gz');
  });
});
