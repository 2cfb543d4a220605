/**
 * Real runs of the built CLI leave their history: a start and an end
 * record with the right fields for an ok, a warning, a failed, a refused
 * and a cancelled run; a run killed with SIGKILL leaves a start without an
 * end, which `backup status` calls killed. Secrets never reach the file.
 * And `backup status` at a clock three days ahead (faketime) says late.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { BIN, hasPartial, parseJsonResult, runCli, signalWhen, startCli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait-for.js';
import { itAsRoot } from '../helpers/root.js';
import type { HistoryRecord } from '../../src/automation/types.js';

async function records(root: string, log = 'logs'): Promise<HistoryRecord[]> {
  const text = await fs.readFile(path.join(root, log, 'history.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as HistoryRecord);
}

async function project(settings: Record<string, unknown> = {}): Promise<{ root: string; config: string }> {
  const root = await tempDir();
  await makeRichTree(root);
  const config = path.join(root, 'config', 'settings.json');
  await fs.mkdir(path.dirname(config));
  await fs.writeFile(config, JSON.stringify({ sources: ['./data'], destination: './backups', format: 'tar.gz', ...settings }));
  return { root, config };
}

/** A source that takes a few seconds to compress (random bytes, bzip2). */
async function bigSource(root: string): Promise<void> {
  await fs.mkdir(path.join(root, 'big'));
  for (let i = 0; i < 4; i++) await fs.writeFile(path.join(root, 'big', `f${i}.bin`), randomBytes(16 * 1024 * 1024));
}

function expectPair(list: HistoryRecord[]): [HistoryRecord, HistoryRecord] {
  expect(list).toHaveLength(2);
  const [start, end] = list as [HistoryRecord, HistoryRecord];
  expect(start).toMatchObject({ v: 1, type: 'start', outcome: 'running', end: null, exitCode: null });
  expect(end).toMatchObject({ v: 1, type: 'end', id: start.id, start: start.start, job: start.job, pid: start.pid, command: start.command, trigger: start.trigger });
  expect(Date.parse(end.end!)).toBeGreaterThanOrEqual(Date.parse(start.start));
  return [start, end];
}

describe('backup run records its history', () => {
  it('ok: start + end with archive, bytes, files and destinations, under the settings file\'s job', async () => {
    const { root, config } = await project({ job: 'www' });
    const run = await runCli(['run', '--json'], { cwd: root });
    expect(run.code, run.stderr).toBe(0);
    const result = parseJsonResult(run);
    const [start, end] = expectPair(await records(root));
    expect(start).toMatchObject({ job: `config:${config}`, jobName: 'www', command: 'run', trigger: 'cli', pid: expect.any(Number) });
    expect(end).toMatchObject({ outcome: 'ok', exitCode: 0, archive: result.archive, bytes: result.bytes, files: result.files, skipped: 0, error: null });
    expect(end.destinations).toEqual([{ name: 'local', type: 'local', ok: true, location: result.destinations[0].location, bytes: result.bytes, error: null }]);
  });

  it('a dry run is not recorded; a scheduled run says so (BACKUP_TRIGGER)', async () => {
    const { root } = await project();
    expect((await runCli(['run', '--dry-run'], { cwd: root })).code).toBe(0);
    expect(await records(root)).toEqual([]);
    expect((await runCli(['run'], { cwd: root, env: { BACKUP_TRIGGER: 'scheduled' } })).code).toBe(0);
    expect((await records(root)).map((r) => r.trigger)).toEqual(['scheduled', 'scheduled']);
  });

  it('warning (a FIFO skipped): outcome warning, exit 3, the skipped count', async () => {
    const { root } = await project();
    execFileSync('mkfifo', [path.join(root, 'data', 'pipe')]);
    const run = await runCli(['run', '--json'], { cwd: root });
    expect(run.code).toBe(3);
    const [, end] = expectPair(await records(root));
    expect(end).toMatchObject({ outcome: 'warning', exitCode: 3, skipped: 1, archive: parseJsonResult(run).archive });
  });

  it('failed (a destination that cannot be created), from flags alone: outcome failed, the error and the destination', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    const run = await runCli(['run', '-s', 'data', '-d', '/proc/backups', '--json'], { cwd: root });
    expect(run.code).toBe(1);
    const [start, end] = expectPair(await records(root));
    expect(start.job).toMatch(/^sources:/);
    expect(start.jobName).toBe('data');
    expect(end).toMatchObject({ outcome: 'failed', exitCode: 1, archive: null, error: { code: 'DESTINATION_NOT_CREATABLE', message: expect.stringContaining('/proc/backups') } });
    expect(end.destinations).toMatchObject([{ name: 'local', ok: false, location: '/proc/backups', error: { code: 'DESTINATION_NOT_CREATABLE' } }]);
  });

  it('a broken settings file and a run refused by the job lock are recorded as failed', async () => {
    const { root, config } = await project();
    await fs.writeFile(config, '{ "sources": ["./data"], }');
    expect((await runCli(['run'], { cwd: root })).code).toBe(2);
    const [, end] = expectPair(await records(root));
    expect(end).toMatchObject({ job: `config:${config}`, outcome: 'failed', exitCode: 2, error: { code: 'CONFIG_INVALID' } });

    await fs.writeFile(config, JSON.stringify({ sources: ['./big'], destination: './backups', format: 'tar.bz2' }));
    await bigSource(root);
    const first = startCli(['run'], { cwd: root });
    const firstDone = new Promise<number | null>((resolve) => first.on('close', (code) => resolve(code)));
    await waitFor('the first run to write', () => hasPartial(path.join(root, 'backups')));
    const refused = await runCli(['run', '--json'], { cwd: root });
    expect(refused.code).toBe(1);
    expect(parseJsonResult(refused).error.code).toBe('LOCKED');
    first.kill('SIGINT');
    expect(await firstDone).toBe(130);
    const all = await records(root);
    const ends = all.filter((r) => r.type === 'end');
    expect(ends.map((r) => [r.outcome, r.error?.code])).toEqual([
      ['failed', 'CONFIG_INVALID'],
      ['failed', 'LOCKED'],
      ['cancelled', 'CANCELLED'],
    ]);
    expect(ends[2]).toMatchObject({ exitCode: 130, trigger: 'cli' });
  });

  it('cancelled by SIGINT mid-run: an end record, outcome cancelled; status does not call a person\'s Ctrl-C a failure', async () => {
    const { root, config } = await project({ sources: ['./big'], format: 'tar.bz2', schedule: 'daily 02:30' });
    await bigSource(root);
    const run = await runCli(['run'], { cwd: root, onSpawn: signalWhen(() => hasPartial(path.join(root, 'backups')), 'SIGINT') });
    expect(run.code).toBe(130);
    const [, end] = expectPair(await records(root));
    expect(end).toMatchObject({ outcome: 'cancelled', exitCode: 130, error: { code: 'CANCELLED' } });
    const status = await runCli(['status', '--config', config, '--json'], { cwd: root });
    expect(parseJsonResult(status).jobs[0]).toMatchObject({ verdict: 'never run', lastFailure: null });
  });

  it('killed with SIGKILL: a start without an end, and `backup status` says the job is failing because its last run was killed', async () => {
    const { root, config } = await project({ job: 'www', sources: ['./big'], format: 'tar.bz2', schedule: 'daily 02:30' });
    await bigSource(root);
    const child = startCli(['run'], { cwd: root });
    const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    await waitFor('the start record', async () => (await records(root)).some((r) => r.type === 'start'));
    child.kill('SIGKILL');
    expect(await closed).toBe('SIGKILL');
    const list = await records(root);
    expect(list.map((r) => r.type)).toEqual(['start']);

    const status = await runCli(['status', '--config', config], { cwd: root });
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/^www: FAILING - the last run was killed before it ended\n/);
    expect(status.stdout).toMatch(/last failure: .*killed \[KILLED\]/);
    expect(status.stdout).toMatch(new RegExp(`pid ${list[0]!.pid} on .* ended without a record: it was killed, or the machine stopped`));
    const json = parseJsonResult(await runCli(['status', '--config', config, '--json'], { cwd: root }));
    expect(json).toMatchObject({ ok: false, exitCode: 1, jobs: [{ verdict: 'failing', lastRun: { outcome: 'killed' }, running: null }] });
  });

  itAsRoot('disk full (a 1 MiB tmpfs): the failure\'s hint says where, how much is free and how big the last archive was; status shows it', async () => {
    const { root, config } = await project({ job: 'www', destination: './small', schedule: 'daily 02:30' });
    const small = path.join(root, 'small');
    await fs.mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      expect((await runCli(['run'], { cwd: root })).code).toBe(0);
      await fs.writeFile(path.join(root, 'data', 'big.bin'), randomBytes(3 * 1024 * 1024));
      const run = await runCli(['run', '--json'], { cwd: root, env: { BACKUP_TRIGGER: 'scheduled' } });
      expect(run.code).toBe(1);
      expect(parseJsonResult(run).error.code).toBe('DISK_FULL');
      const end = (await records(root)).filter((r) => r.type === 'end').at(-1)!;
      const first = (await records(root)).find((r) => r.type === 'end')!;
      expect(end).toMatchObject({ outcome: 'failed', trigger: 'scheduled', error: { code: 'DISK_FULL' } });
      const kB = Math.round(first.bytes! / 1000);
      expect(end.error!.hint).toMatch(new RegExp(`^disk full on ${small}: [\\d.]+ (bytes|kB|MB) free, last archive was ${kB} kB$`));
      const status = await runCli(['status', '--config', config], { cwd: root });
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(/^www: FAILING - the last run failed: .*no space left on the device/);
      expect(status.stdout).toMatch(/hint: disk full on .*small: .* free, last archive was \d+ kB/);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('secrets never reach the history file', async () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY';
    const hook = 'https://hooks.example.test/services/T000/B000/HOOKSECRET123';
    const { root } = await project({ notify: [{ type: 'slack', urlEnv: 'SLACK_WEBHOOK_URL' }] });
    const env = { AWS_SECRET_ACCESS_KEY: secret, SLACK_WEBHOOK_URL: hook };
    // A failure whose message holds the secret (a missing source named after it).
    const missing = await runCli(['run', '-s', `./${secret}`, '--json'], { cwd: root, env });
    expect(missing.code).toBe(2);
    expect((await runCli(['run'], { cwd: root, env })).code).toBe(0);
    const text = await fs.readFile(path.join(root, 'logs', 'history.jsonl'), 'utf8');
    expect(text).toContain('[redacted]');
    expect(text).not.toContain('SECRETKEY');
    expect(text).not.toContain('HOOKSECRET');
    // One end record per run, and a second one (the same id) with how its notifications went.
    const ends = (await records(root)).filter((r) => r.type === 'end');
    expect(ends.map((r) => r.outcome)).toEqual(['failed', 'failed', 'ok', 'ok']);
    expect(ends.map((r) => r.notifications === undefined)).toEqual([true, false, true, false]);
    expect(new Set(ends.map((r) => r.id)).size).toBe(2);
  });
});

describe('prune and verify record their runs when a settings file names the job', () => {
  it('verify and prune with --config: start + end, command verify / prune; with --dest alone: not recorded; a prune dry run: not recorded', async () => {
    const { root, config } = await project({ job: 'www' });
    expect((await runCli(['run'], { cwd: root })).code).toBe(0);
    expect((await runCli(['verify', '--all', '--config', config], { cwd: root })).code).toBe(0);
    expect((await runCli(['prune', '--config', config, '--keep-last', '1', '--dry-run'], { cwd: root })).code).toBe(0);
    expect((await runCli(['prune', '--config', config, '--keep-last', '1'], { cwd: root })).code).toBe(0);
    const elsewhere = await tempDir();
    expect((await runCli(['verify', '--all', '--dest', path.join(root, 'backups')], { cwd: elsewhere })).code).toBe(0);
    const ends = (await records(root)).filter((r) => r.type === 'end');
    expect(ends.map((r) => [r.command, r.outcome, r.job])).toEqual([
      ['run', 'ok', `config:${config}`],
      ['verify', 'ok', `config:${config}`],
      ['prune', 'ok', `config:${config}`],
    ]);
    expect(await records(elsewhere)).toEqual([]);
    // They do not change the verdict: the backup run does.
    const status = parseJsonResult(await runCli(['status', '--json'], { cwd: root }));
    expect(status.jobs[0]).toMatchObject({ verdict: 'ok', lastRun: { command: 'run' }, lastOther: [{ command: 'verify' }, { command: 'prune' }] });
  });
});

describe('backup status', () => {
  it('ok now; three days later (faketime) late, exit 1; no settings file: exit 2', async () => {
    const { root, config } = await project({ job: 'www', schedule: 'daily 02:30' });
    expect((await runCli(['run'], { cwd: root })).code).toBe(0);
    const now = await runCli(['status', '--config', config], { cwd: root });
    expect(now.code, now.stdout + now.stderr).toBe(0);
    expect(now.stdout).toMatch(/^www: OK - last run succeeded\n/);
    expect(now.stdout).toMatch(/next run: +\d{4}-\d\d-\d\d 02:30:00 \(in /);
    expect(now.stdout).toMatch(/newest backup: +local: .*backups\/data-\d{8}-\d{6}\.tar\.gz/);

    const later = execFileSyncStatus(['faketime', '-f', '+3d', process.execPath, BIN, 'status', '--config', config], root);
    expect(later.code).toBe(1);
    expect(later.stdout).toMatch(/^www: LATE - no successful run since \d{4}-\d\d-\d\d \d\d:\d\d UTC; the run due at \d{4}-\d\d-\d\d \d\d:30 UTC did not happen \(expected every day at 02:30\)\n/);
    expect(later.stdout).toMatch(/last success: .*\(3 days ago\)/);

    const none = await runCli(['status'], { cwd: await tempDir() });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/No job to report on/);
  });

  it('a broken or missing settings file is that job failing (exit 1), and the other jobs are still reported', async () => {
    const { root, config } = await project({ job: 'good' });
    expect((await runCli(['run'], { cwd: root })).code).toBe(0);
    const broken = path.join(root, 'config', 'broken.json');
    await fs.writeFile(broken, '{ "sources": [ }');
    const run = await runCli(['status', '--config', config, '--config', broken, '--config', 'config/gone.json', '--json'], { cwd: root });
    expect(run.code).toBe(1);
    const json = parseJsonResult(run);
    expect(json.jobs.map((j: any) => [j.name, j.verdict])).toEqual([
      ['good', 'ok'],
      ['broken', 'failing'],
      ['gone', 'failing'],
    ]);
    expect(json.jobs[1].reason).toMatch(/settings cannot be read: .*broken\.json/);
    expect(json.jobs[2].reason).toMatch(/settings file not found/);
  });
});

function execFileSyncStatus(argv: string[], cwd: string): { code: number; stdout: string } {
  try {
    return { code: 0, stdout: execFileSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }) };
  } catch (error) {
    const e = error as { status: number; stdout: string };
    return { code: e.status, stdout: e.stdout };
  }
}
