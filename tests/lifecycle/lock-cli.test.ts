/**
 * The job lock as cron sees it: `backup run` while another run of the same
 * job holds the lock (a real second process, holding it through the built
 * lock module), `--wait`, and a stale lock left by a run killed with SIGKILL.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { PROJECT_ROOT, parseJsonResult, runCli } from '../helpers/cli.js';
import { lockFileFor } from '../../src/lifecycle/job-lock-file.js';

const HOLDER = path.join(PROJECT_ROOT, 'tests/helpers/hold-lock.mjs');
const LOCK_MODULE = path.join(PROJECT_ROOT, 'dist/lifecycle/lock.js');

/** Another run of the job: a process holding the job's lock until told to let go. */
async function holdLock(file: string): Promise<{ child: ChildProcess; release: () => Promise<void> }> {
  const child = spawn(process.execPath, [HOLDER, LOCK_MODULE, JSON.stringify({ file, host: os.hostname(), command: 'backup run (the other one)' })], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const events: Array<Record<string, unknown>> = [];
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      events.push(event);
      if (event.event === 'held') resolve();
      if (event.event === 'error') reject(new Error(String(event.message)));
    });
    child.on('exit', () => reject(new Error(`holder exited: ${JSON.stringify(events)}`)));
  });
  return {
    child,
    release: async () => {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.stdin!.write('release\n');
      await exited;
    },
  };
}

async function job(): Promise<{ dir: string; lock: string }> {
  const dir = await tempDir();
  await fs.mkdir(path.join(dir, 'data'));
  await fs.writeFile(path.join(dir, 'data/f.txt'), 'x');
  await fs.mkdir(path.join(dir, 'backups'));
  const lock = lockFileFor({ sources: [path.join(dir, 'data')], nameTemplate: '{source}-{date}-{time}' }, path.join(dir, 'backups'), path.join(dir, 'logs'));
  return { dir, lock };
}

describe('one run of a job at a time', () => {
  it('a second run is refused with exit 1, names the first, and writes nothing', async () => {
    const { dir, lock } = await job();
    const other = await holdLock(lock);
    try {
      const run = await runCli(['run', '-s', 'data', '-d', 'backups', '--json'], { cwd: dir });
      const result = parseJsonResult(run);
      expect(run.code).toBe(1);
      expect(result.error.code).toBe('LOCKED');
      expect(result.error.message).toContain(`pid ${other.child.pid}`);
      expect(result.error.message).toContain('backup run (the other one)');
      expect(await listDir(path.join(dir, 'backups'))).toEqual([path.basename(lock)]);
    } finally {
      await other.release();
    }
    // Once the other run is done, the next one goes ahead.
    const after = parseJsonResult(await runCli(['run', '-s', 'data', '-d', 'backups', '--json'], { cwd: dir }));
    expect(after.exitCode).toBe(0);
    expect((await listDir(path.join(dir, 'backups'))).filter((f) => f.includes('.lock'))).toEqual([]);
  });

  it('--wait starts once the other run ends', async () => {
    const { dir, lock } = await job();
    const other = await holdLock(lock);
    // Once it says it waits (it found the lock taken), the other run ends.
    let released: Promise<void> | undefined;
    const run = await runCli(['run', '-s', 'data', '-d', 'backups', '--wait', '--json'], {
      cwd: dir,
      onSpawn: (child) => {
        let stderr = '';
        const onData = (text: string): void => {
          stderr += text;
          if (!stderr.includes('Waiting for the lock')) return;
          child.stderr!.off('data', onData);
          released = other.release();
        };
        child.stderr!.on('data', onData);
      },
    });
    const saidItWaits = released !== undefined;
    await (released ?? other.release());
    expect(saidItWaits, run.stderr).toBe(true);
    expect(parseJsonResult(run).exitCode).toBe(0);
    expect(run.stderr).toContain(`Waiting for the lock ${lock}`);
  });

  it('a different job (other sources) is not blocked', async () => {
    const { dir, lock } = await job();
    await fs.mkdir(path.join(dir, 'other'));
    const other = await holdLock(lock);
    try {
      const run = await runCli(['run', '-s', 'other', '-d', 'backups', '--json'], { cwd: dir });
      expect(parseJsonResult(run).exitCode).toBe(0);
    } finally {
      await other.release();
    }
  });

  it('a lock left by a run killed with SIGKILL is taken over, with a warning', async () => {
    const { dir, lock } = await job();
    const other = await holdLock(lock);
    const pid = other.child.pid!;
    const exited = new Promise((resolve) => other.child.on('exit', resolve));
    other.child.kill('SIGKILL');
    await exited;
    expect(await listDir(path.join(dir, 'backups'))).toEqual([path.basename(lock)]);
    const run = await runCli(['run', '-s', 'data', '-d', 'backups', '--json'], { cwd: dir });
    expect(parseJsonResult(run).exitCode).toBe(0);
    expect(run.stderr).toContain(`${pid}`);
    expect(run.stderr).toMatch(/stale|taking it over|took over/i);
    expect((await listDir(path.join(dir, 'backups'))).filter((f) => f.includes('.lock'))).toEqual([]);
  });

  it('prune takes the same lock as run', async () => {
    const { dir, lock } = await job();
    const other = await holdLock(lock);
    try {
      const run = await runCli(['prune', '-s', 'data', '-d', 'backups', '--keep-last', '1'], { cwd: dir });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('backup run (the other one)');
    } finally {
      await other.release();
    }
  });
});
