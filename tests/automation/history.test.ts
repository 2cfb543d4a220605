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
import { MAX_HISTORY_BYTES, appendHistory, readHistory, readJobRuns, rotatedHistoryFile } from '../../src/automation/history.js';
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

  it('at the cap the file becomes history.jsonl.1 and the one before is dropped: the newest runs are kept', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    const fill = async (prefix: string): Promise<number> => {
      const lines: string[] = [];
      let size = 0;
      let i = 0;
      while (size < MAX_HISTORY_BYTES) {
        const line = `${JSON.stringify(record(`${prefix}-${i++}`, 'end'))}\n`;
        size += Buffer.byteLength(line);
        lines.push(line);
      }
      await fs.appendFile(file, lines.join(''));
      return i;
    };
    const first = await fill('old');
    await appendHistory(file, record('new-1', 'end'));
    expect((await fs.stat(rotatedHistoryFile(file))).size).toBeGreaterThanOrEqual(MAX_HISTORY_BYTES);
    expect((await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id)).toEqual(['new-1']);
    let ids = (await readHistory(file)).runs.map((r) => r.id);
    expect(ids).toHaveLength(first + 1);

    await fill('mid');
    await appendHistory(file, record('new-2', 'end'));
    ids = (await readHistory(file)).runs.map((r) => r.id);
    expect(ids.some((id) => id.startsWith('old-'))).toBe(false);
    expect(ids).toContain('new-1');
    expect(ids).toContain('new-2');
    // Both files together stay near twice the cap.
    const total = (await fs.stat(file)).size + (await fs.stat(rotatedHistoryFile(file))).size;
    expect(total).toBeLessThan(MAX_HISTORY_BYTES * 2 + 64 * 1024);
  });

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

  it('several processes appending at once never interleave inside a line, and rotate the file once (no run lost)', async () => {
    const file = path.join(await tempDir(), 'history.jsonl');
    const writers = 6;
    const each = 150;
    const script = `
      const { appendHistory } = await import(${JSON.stringify(path.join(PROJECT_ROOT, 'dist/automation/history.js'))});
      const [file, writer, count] = process.argv.slice(1);
      const long = 'x'.repeat(1200 + Number(writer) * 60);
      for (let i = 0; i < Number(count); i++) {
        await appendHistory(file, { v: 1, type: 'end', id: writer + '-' + i, job: 'j', jobName: 'j', command: 'run', host: 'h', pid: process.pid,
          start: new Date(0).toISOString(), end: null, outcome: 'failed', exitCode: 1, archive: null, bytes: null, files: null, skipped: null,
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
    // About 1.3 MiB in all: one rotation, and both files together hold every run.
    expect((await fs.stat(rotatedHistoryFile(file))).size).toBeGreaterThanOrEqual(MAX_HISTORY_BYTES);
    expect((await fs.stat(file)).size).toBeLessThan(MAX_HISTORY_BYTES);
    expect((await fs.readdir(path.dirname(file))).sort()).toEqual(['history.jsonl', 'history.jsonl.1']);
    const lines = [rotatedHistoryFile(file), file].flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean));
    expect(lines).toHaveLength(writers * each);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    const { runs, badLines } = await readHistory(file);
    expect(badLines).toBe(0);
    expect(new Set(runs.map((r) => r.id)).size).toBe(writers * each);
  });
});
