/**
 * BACKUP_PROGRESS_FD=N: `run`, `verify` and `restore` write their progress as
 * JSON lines on descriptor N (what the web UI reads from its child
 * processes). The built CLI as a real subprocess with a pipe on fd 3, and the
 * sink's throttle as a table with an injected clock.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { describeTree, tempDir } from '../helpers/fixtures.js';
import { createProgressSink, INTERVAL_MS } from '../../src/cli/progress-sink.js';

interface Progress {
  type: string;
  phase: string;
  bytes: number;
  totalBytes?: number;
  files?: number;
  totalFiles?: number;
  seconds: number;
  archive?: string;
}

/** Runs the CLI with a pipe on fd 3 and BACKUP_PROGRESS_FD=3; returns exit code, stdout and the progress lines. */
function runWithProgressFd(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string; progress: Progress[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1', BACKUP_PROGRESS_FD: '3', ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let fd3 = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (fd3 += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const progress = fd3
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Progress);
      resolve({ code, stdout, stderr, progress });
    });
  });
}

describe('BACKUP_PROGRESS_FD', () => {
  it('run, verify and restore report progress as JSON lines on the descriptor, ending at the totals; stdout keeps only the result', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data', 'sub'), { recursive: true });
    // Random bytes (not compressible) so the run takes more than one progress interval.
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(root, 'data', 'sub', `f${i}.bin`), Buffer.alloc(4 << 20, i).map((_, j) => (j * 2654435761 + i) >>> 24));
    await fs.writeFile(path.join(root, 'data', 'small.txt'), 'small\n');

    const run = await runWithProgressFd(['run', '--source', 'data', '--dest', 'backups', '--format', 'tar.gz', '--json'], root);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(run.progress.length).toBeGreaterThan(0);
    for (const p of run.progress) expect(p).toMatchObject({ type: 'progress', phase: 'backup' });
    const last = run.progress.at(-1)!;
    expect(last.bytes).toBe(result.sourceBytes);
    expect(last.files).toBe(result.files);
    // Never backwards.
    for (let i = 1; i < run.progress.length; i++) expect(run.progress[i]!.bytes).toBeGreaterThanOrEqual(run.progress[i - 1]!.bytes);
    // Nothing from the sources' names leaks into the progress channel.
    expect(JSON.stringify(run.progress)).not.toMatch(/small\.txt|f0\.bin/);

    const verify = await runWithProgressFd(['verify', result.archive, '--json'], root);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.progress.every((p) => p.phase === 'verify')).toBe(true);
    const verified = verify.progress.at(-1)!;
    expect(verified.bytes).toBe(result.bytes);
    expect(verified.totalBytes).toBe(result.bytes);

    const restore = await runWithProgressFd(['restore', result.archive, '--to', 'restored', '--json'], root);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.progress.length).toBeGreaterThan(0);
    expect(restore.progress.every((p) => p.phase === 'restore')).toBe(true);
    expect(await describeTree(path.join(root, 'restored', 'data'))).toEqual(await describeTree(path.join(root, 'data')));
  });

  it('a value that is not an open descriptor above 2 is ignored: the command runs as without it', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    await fs.writeFile(path.join(root, 'data', 'a.txt'), 'a\n');
    for (const value of ['1', '2', 'abc', '977']) {
      const run = await runWithProgressFd(['run', '--source', 'data', '--dest', `backups-${value}`, '--json'], root, { BACKUP_PROGRESS_FD: value });
      expect(run.code, `${value}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(run.stdout).ok).toBe(true);
      // fd 3 is open but not named: nothing written to it.
      expect(run.progress).toEqual([]);
    }
  });
});

describe('createProgressSink (throttle)', () => {
  const cases: { name: string; updates: [number, number][]; stopAt: number; written: number[] }[] = [
    { name: 'first update written at once', updates: [[0, 1]], stopAt: 10, written: [1] },
    { name: 'updates inside the interval held back; the last one written at stop', updates: [[0, 1], [50, 2], [100, 3]], stopAt: 150, written: [1, 3] },
    { name: 'one per interval', updates: [[0, 1], [INTERVAL_MS, 2], [INTERVAL_MS + 1, 3], [2 * INTERVAL_MS, 4]], stopAt: 2 * INTERVAL_MS + 1, written: [1, 2, 4] },
    { name: 'nothing pending at stop: nothing more', updates: [[0, 1], [INTERVAL_MS, 2]], stopAt: INTERVAL_MS + 5, written: [1, 2] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      let now = 1000;
      const out = new PassThrough();
      let text = '';
      out.on('data', (d: Buffer) => (text += d.toString()));
      const sink = createProgressSink(out, 'backup', {}, () => now)!;
      for (const [at, bytes] of c.updates) {
        now = 1000 + at;
        sink.update({ bytes });
      }
      now = 1000 + c.stopAt;
      sink.stop();
      sink.update({ bytes: 99 }); // after stop: ignored
      const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Progress);
      expect(lines.map((l) => l.bytes)).toEqual(c.written);
    });
  }

  it('no stream: no sink', () => {
    expect(createProgressSink(undefined, 'verify')).toBeUndefined();
  });
});
