/**
 * `backup status` on a run without an end record, through the real command:
 * the history says which boot of this host the run began in, so a run left
 * open by a reboot is killed even when its pid is alive (here: the test's
 * own process, standing in for an unrelated process that got the pid).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonResult, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/fixtures.js';
import type { HistoryRecord } from '../../src/automation/types.js';

async function jobWithOpenRun(extra: Partial<HistoryRecord>): Promise<{ root: string; config: string }> {
  const root = await tempDir();
  const config = path.join(root, 'config', 'settings.json');
  await fs.mkdir(path.dirname(config));
  await fs.writeFile(config, JSON.stringify({ job: 'www', sources: ['./data'], destination: './backups' }));
  await fs.mkdir(path.join(root, 'logs'));
  const start: HistoryRecord = {
    v: 1,
    type: 'start',
    id: 'run-1',
    job: `config:${config}`,
    jobName: 'www',
    command: 'run',
    trigger: 'scheduled',
    host: os.hostname(),
    pid: process.pid,
    start: new Date(Date.now() - 60_000).toISOString(),
    end: null,
    outcome: 'running',
    exitCode: null,
    archive: null,
    bytes: null,
    files: null,
    skipped: null,
    destinations: [],
    error: null,
    ...extra,
  };
  await fs.writeFile(path.join(root, 'logs', 'history.jsonl'), `${JSON.stringify(start)}\n`);
  return { root, config };
}

describe('backup status: a run without an end record', () => {
  const thisBoot = async (): Promise<string> => (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();

  it.each([
    ['this host, this boot, its pid alive: running', async () => ({ bootId: await thisBoot() }), 'never run', true],
    ['this host, another boot (a reboot since), its pid alive: killed', async () => ({ bootId: '00000000-0000-4000-8000-000000000000' }), 'failing', false],
    ['this host, no boot id recorded (an older record): the pid decides, running', async () => ({}), 'never run', true],
    ['another host, open for a minute (no schedule: 24 h allowed): running', async () => ({ host: 'elsewhere.example' }), 'never run', true],
    ['another host, open for two days: killed', async () => ({ host: 'elsewhere.example', start: new Date(Date.now() - 48 * 3_600_000).toISOString() }), 'failing', false],
  ] as const)('%s', async (_name, extra, verdict, running) => {
    const { root, config } = await jobWithOpenRun(await extra());
    const result = await runCli(['status', '--json', '--config', config], { cwd: root });
    expect(result.code, result.stderr).toBe(1);
    const job = parseJsonResult(result).jobs[0];
    expect(job.verdict).toBe(verdict);
    expect(job.running !== null).toBe(running);
    if (!running) expect(job.lastFailure).toMatchObject({ outcome: 'killed', code: 'KILLED' });
  });
});

describe('backup status --config /abs/path from another folder', () => {
  it('finds the history where the job ran (the settings file\'s project folder) and says which file it read', async () => {
    const root = await tempDir();
    await fs.mkdir(path.join(root, 'data'));
    await fs.writeFile(path.join(root, 'data', 'a.txt'), 'a');
    const config = path.join(root, 'config', 'settings.json');
    await fs.mkdir(path.dirname(config));
    await fs.writeFile(config, JSON.stringify({ job: 'www', sources: ['data'], destination: './backups', schedule: 'daily 02:30' }));
    expect((await runCli(['run'], { cwd: root })).code).toBe(0);
    const elsewhere = await tempDir();
    const status = await runCli(['status', '--config', config], { cwd: elsewhere });
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^www: OK - last run succeeded\n/);
    expect(status.stdout).toContain(`history:        ${path.join(root, 'logs', 'history.jsonl')}\n`);
    // Status only reads: nothing is left in the folder it was run from.
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });
});
