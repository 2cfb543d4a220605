/**
 * The run history file: appends, the cap (rotation keeps the newest runs),
 * a cut line, a symlink, and several processes appending at once.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { PROJECT_ROOT } from '../helpers/cli.js';
import { KEEP_RUNS_PER_JOB, MAX_HISTORY_BYTES, appendHistory, readHistory, readJobRuns, rotatedHistoryFile } from '../../src/automation/history.js';
import type { HistoryRecord } from '../../src/automation/types.js';

function record(id: string, type: 'start' | 'end', extra: Partial<HistoryRecord> = {}): HistoryRecord {
  return {
    v: 1,
    type,
    id,
    job: 'config:/srv/www/config/settings.json',
    jobName: 'www',
    command: 'run',
    trigger: 'scheduled',
    host: 'host1',
    pid: 1234,
    start: '2026-11-28T02:30:00.000Z',
    end: type === 'end' ? '2026-11-28T02:31:00.000Z' : null,
    outcome: type === 'end' ? 'ok' : 'running',
    exitCode: type === 'end' ? 0 : null,
    archive: type === 'end' ? 'backups/www-20261128-023000.tar.gz' : null,
    bytes: type === 'end' ? 2_100_000_000 : null,
    files: type === 'end' ? 1200 : null,
    skipped: type === 'end' ? 0 : null,
    destinations: [],
    error: null,
    ...extra,
  };
}

describe('run history', () => {
  it('merges the start and end records of a run; a start without an end stays a running (or killed) run', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    await appendHistory(file, record('a', 'start'));
    await appendHistory(file, record('a', 'end'));
    await appendHistory(file, record('b', 'start', { start: '2026-11-29T02:30:00.000Z' }));
    await appendHistory(file, record('c', 'start', { job: 'config:/other.json', start: '2026-11-29T03:00:00.000Z' }));
    const { runs, badLines } = await readHistory(file);
    expect(badLines).toBe(0);
    expect(runs.map((r) => [r.id, r.type, r.outcome])).toEqual([
      ['a', 'end', 'ok'],
      ['b', 'start', 'running'],
      ['c', 'start', 'running'],
    ]);
    expect((await readJobRuns({ key: 'config:/other.json', historyFile: file })).map((r) => r.id)).toEqual(['c']);
    expect((await fs.readFile(file, 'utf8')).trim().split('\n')).toHaveLength(4);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o640);
  });

  it('a missing file is no runs', async () => {
    expect(await readHistory(path.join(await tempDir(), 'history.jsonl'))).toEqual({ runs: [], badLines: 0 });
  });

  it('at the cap the file is compacted into history.jsonl.1 (the newest runs of the job) and a fresh file is started', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    const fill = async (prefix: string, month: number): Promise<number> => {
      const lines: string[] = [];
      let size = 0;
      let i = 0;
      while (size < MAX_HISTORY_BYTES) {
        const line = `${JSON.stringify(record(`${prefix}-${i}`, 'end', { start: new Date(Date.UTC(2026, month, 1) + i * 60_000).toISOString() }))}\n`;
        i += 1;
        size += Buffer.byteLength(line);
        lines.push(line);
      }
      await fs.appendFile(file, lines.join(''));
      return i;
    };
    const first = await fill('old', 0);
    await appendHistory(file, record('new-1', 'end'));
    expect((await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(['new-1']);
    let ids = (await readHistory(file)).runs.map((r) => r.id);
    // The newest runs of the job, in order, then the new one.
    expect(ids).toEqual([...Array.from({ length: KEEP_RUNS_PER_JOB }, (_, i) => `old-${first - KEEP_RUNS_PER_JOB + i}`), 'new-1']);
    expect((await fs.readdir(path.dirname(file))).sort()).toEqual(['history.jsonl', 'history.jsonl.1']);

    await fill('mid', 1);
    await appendHistory(file, record('new-2', 'end'));
    ids = (await readHistory(file)).runs.map((r) => r.id);
    expect(ids.some((id) => id.startsWith('old-'))).toBe(false);
    expect(ids).toHaveLength(KEEP_RUNS_PER_JOB + 1);
    expect(ids).toContain('new-2');
    const total = (await fs.stat(file)).size + (await fs.stat(rotatedHistoryFile(file))).size;
    expect(total).toBeLessThan(MAX_HISTORY_BYTES);
  });

  it('when even the newest runs of every job are above the cap, fewer are kept per job, each job keeps some', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    const long = 'x'.repeat(8000);
    const lines: string[] = [];
    for (let job = 0; job < 10; job++) {
      for (let i = 0; i < 20; i++) lines.push(`${JSON.stringify(record(`j${job}-${i}`, 'end', { job: `job-${job}`, start: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(), error: { code: 'INTERNAL', message: long } }))}\n`);
    }
    await fs.appendFile(file, lines.join(''));
    await appendHistory(file, record('new', 'end'));
    expect((await fs.stat(rotatedHistoryFile(file))).size).toBeLessThanOrEqual(MAX_HISTORY_BYTES);
    const { runs } = await readHistory(file);
    for (let job = 0; job < 10; job++) {
      const mine = runs.filter((r) => r.job === `job-${job}`).map((r) => r.id);
      expect(mine.length).toBeGreaterThan(5);
      expect(mine.at(-1)).toBe(`j${job}-19`);
    }
  });

  it('a weekly job sharing the file with a job that runs every minute keeps its runs (per-job compaction), and the files stay bounded', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    const weekly = 'config:/srv/weekly/settings.json';
    for (let week = 0; week < 3; week++) {
      const start = new Date(Date.UTC(2026, 10, 1 + week * 7, 3)).toISOString();
      await appendHistory(file, record(`weekly-${week}`, 'start', { job: weekly, start }));
      await appendHistory(file, record(`weekly-${week}`, 'end', { job: weekly, start }));
    }
    const busy = 'config:/srv/busy/settings.json';
    for (let i = 0; i < 5000; i++) {
      const start = new Date(Date.UTC(2026, 10, 22) + i * 60_000).toISOString();
      await appendHistory(file, record(`busy-${i}`, 'start', { job: busy, start }));
      await appendHistory(file, record(`busy-${i}`, 'end', { job: busy, start }));
    }
    expect((await readJobRuns({ key: weekly, historyFile: file })).map((r) => [r.id, r.type])).toEqual([
      ['weekly-0', 'end'],
      ['weekly-1', 'end'],
      ['weekly-2', 'end'],
    ]);
    const busyRuns = (await readJobRuns({ key: busy, historyFile: file })).map((r) => r.id);
    // At least the newest 200 busy runs, none missing in between, the newest last.
    expect(busyRuns.length).toBeGreaterThanOrEqual(200);
    expect(busyRuns.at(-1)).toBe('busy-4999');
    const first = Number(busyRuns[0]!.slice('busy-'.length));
    expect(busyRuns).toEqual(Array.from({ length: 5000 - first }, (_, i) => `busy-${first + i}`));
    const total = (await fs.stat(file)).size + (await fs.stat(rotatedHistoryFile(file))).size;
    expect(total).toBeLessThan(MAX_HISTORY_BYTES * 2 + 16 * 1024);
    expect((await fs.readdir(path.dirname(file))).sort()).toEqual(['history.jsonl', 'history.jsonl.1']);
  }, 120_000);

  it('a line cut by a crash is skipped and counted; the next record starts on its own line', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    await appendHistory(file, record('a', 'end'));
    await fs.appendFile(file, JSON.stringify(record('cut', 'end')).slice(0, 57));
    await appendHistory(file, record('b', 'end'));
    const { runs, badLines } = await readHistory(file);
    expect(runs.map((r) => r.id)).toEqual(['a', 'b']);
    expect(badLines).toBe(1);
  });

  it('refuses to write through a symbolic link and leaves its target alone', async () => {
    const dir = await tempDir();
    const target = path.join(dir, 'elsewhere.txt');
    await fs.writeFile(target, 'precious\n');
    const file = path.join(dir, 'history.jsonl');
    await fs.symlink(target, file);
    await expect(appendHistory(file, record('a', 'start'))).rejects.toThrow(/symbolic link/);
    expect(await fs.readFile(target, 'utf8')).toBe('precious\n');
  });

  it('several processes appending at once never interleave inside a line, and compact the file once (no run lost but the oldest)', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    const writers = 6;
    const each = 150;
    // One job per writer: each job's runs kept are a run of its newest, none missing in between.
    const script = `
      const { appendHistory } = await import(${JSON.stringify(path.join(PROJECT_ROOT, 'dist/automation/history.js'))});
      const [file, writer, count] = process.argv.slice(1);
      const long = 'x'.repeat(1200 + Number(writer) * 60);
      for (let i = 0; i < Number(count); i++) {
        await appendHistory(file, { v: 1, type: 'end', id: writer + '-' + i, job: 'j' + writer, jobName: 'j', command: 'run', host: 'h', pid: process.pid,
          start: new Date(i * 1000).toISOString(), end: null, outcome: 'failed', exitCode: 1, archive: null, bytes: null, files: null, skipped: null,
          destinations: [], error: { code: 'INTERNAL', message: long } });
      }`;
    await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(process.execPath, ['--input-type=module', '-e', script, file, String(w), String(each)], { stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
          child.on('error', reject);
          child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${w}: exit ${code}: ${stderr}`))));
        }),
      ),
    );
    // About 1.3 MiB in all: one compaction (of a little over the cap, so a few of each job's oldest go).
    expect((await fs.stat(rotatedHistoryFile(file))).size).toBeLessThanOrEqual(MAX_HISTORY_BYTES);
    expect((await fs.stat(file)).size).toBeLessThan(MAX_HISTORY_BYTES);
    expect((await fs.readdir(path.dirname(file))).sort()).toEqual(['history.jsonl', 'history.jsonl.1']);
    const lines = [rotatedHistoryFile(file), file].flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean));
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    const { runs, badLines } = await readHistory(file);
    expect(badLines).toBe(0);
    for (let w = 0; w < writers; w++) {
      const mine = runs.filter((r) => r.job === `j${w}`).map((r) => Number(r.id.split('-')[1]));
      expect(mine.length).toBeGreaterThan(each / 2);
      const oldest = mine[0]!;
      expect(mine).toEqual(Array.from({ length: each - oldest }, (_, i) => oldest + i));
    }
  });
});
