/**
 * `backup daemon` as a real process (dist/bin.js), running real `backup
 * run` children at an every-second schedule: backups appear, a failing job
 * does not stop the other, a tick while a run is still going is skipped,
 * SIGTERM cancels the running backup cleanly (no .partial left) and ends
 * with exit 0. No fixed sleeps: each step waits for what it needs to see.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { PROJECT_ROOT, hasPartial, runCli, startCli } from '../helpers/cli.js';
import { lockFileFor } from '../../src/lifecycle/job-lock-file.js';
import { listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait-for.js';
import { runDaemon } from '../../src/automation/daemon.js';
import { cliBin, settingsFiles } from '../../src/cli/daemon-command.js';
import { parseSchedule } from '../../src/automation/schedule.js';
import { readHistory } from '../../src/automation/history.js';

interface Watched {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function watch(child: ChildProcess): Watched {
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdin!.end();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

const archives = async (dir: string): Promise<string[]> => (await listDir(dir)).filter((f) => f.endsWith('.tar.gz'));

/** Lines of `text` that contain `needle`. */
const count = (text: string, needle: string): number => text.split('\n').filter((l) => l.includes(needle)).length;

describe('backup daemon', () => {
  it('runs a job every second (at least two backups) while a job that always fails is logged and does not stop it; SIGTERM: exit 0, "stopped"', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await writeJson(path.join(root, 'config/settings.json'), { job: 'good', sources: ['data'], destination: './backups', schedule: '* * * * * *' });
    // Its source is missing: every run of "bad" fails (exit 2).
    await writeJson(path.join(root, 'config/bad.json'), { job: 'bad', sources: ['missing'], destination: './backups-bad', schedule: '* * * * * *' });
    const daemon = watch(startCli(['daemon', '--config', 'config/settings.json', 'config/bad.json'], { cwd: root }));

    await waitFor('two failed runs of "bad"', () => count(daemon.stdout(), 'bad: run finished') >= 2, 60_000);
    await waitFor('two backups of "good" after the failures', async () => (await archives(path.join(root, 'backups'))).length >= 2 && count(daemon.stdout(), 'good: run finished') >= 2, 60_000);
    daemon.child.kill('SIGTERM');
    const end = await daemon.exited;

    expect(end, daemon.stderr()).toEqual({ code: 0, signal: null });
    const out = daemon.stdout();
    expect(out).toMatch(/^backup daemon: 2 jobs;/);
    expect(out).toMatch(/\n {2}good +cron "\* \* \* \* \* \*" +next run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}\(config\/settings\.json\)\n/);
    expect(out).toMatch(/ good: run finished after [\d.]+ s, exit 0: ok; next run /);
    expect(out).toMatch(/ error: bad: run finished after [\d.]+ s, exit 2: usage or configuration error; next run /);
    expect(out).toMatch(/\n\[good\] Backup complete: backups\/data-\d{8}-\d{6}(-\d+)?\.tar\.gz\n/);
    expect(daemon.stderr()).toMatch(/\[bad\] error: .*sources\[0\]: path does not exist/);
    expect(out.trimEnd()).toMatch(/ stopped$/);
    // Every archive is complete; nothing half-written is left.
    const made = await archives(path.join(root, 'backups'));
    expect(made.length).toBeGreaterThanOrEqual(2);
    expect(await hasPartial(path.join(root, 'backups'))).toBe(false);
    // The daemon's own lines are in the log file too.
    const log = await fs.readFile(path.join(root, 'logs', 'backup.log'), 'utf8');
    expect(log).toMatch(/\[daemon \d+\] INFO {2}good: run started/);
    expect(log).toMatch(/\[daemon \d+\] INFO {2}stopped/);
    // The run history has every finished run of both jobs, started by the daemon, with its outcome.
    const { runs } = await readHistory(path.join(root, 'logs', 'history.jsonl'));
    const finished = (job: string, outcome: string): number =>
      runs.filter((r) => r.jobName === job && r.type === 'end' && r.trigger === 'daemon' && r.outcome === outcome).length;
    expect(finished('good', 'ok')).toBeGreaterThanOrEqual(2);
    expect(finished('bad', 'failed')).toBeGreaterThanOrEqual(2);
    expect(runs.filter((r) => r.jobName === 'bad' && r.type === 'end').every((r) => r.exitCode === 2 && r.error?.code)).toBe(true);
  }, 120_000);

  it('SIGTERM during a long run: the run is cancelled (no .partial left), a tick meanwhile was skipped, exit 0', async () => {
    const root = await tempDir();
    const data = path.join(root, 'big');
    await fs.mkdir(data);
    // Random bytes do not compress: one thread takes seconds over them.
    const handle = await fs.open(path.join(data, 'random.bin'), 'w');
    for (let i = 0; i < 96; i++) await handle.write(randomBytes(1024 * 1024));
    await handle.close();
    await writeJson(path.join(root, 'config/settings.json'), { job: 'big', sources: ['big'], destination: './backups', format: 'tar.gz', threads: 1, schedule: '* * * * * *' });

    const daemon = watch(startCli(['daemon'], { cwd: root }));
    await waitFor('a tick skipped while the run is going, with its .partial written', async () =>
      daemon.stdout().includes('big: still running') && (await hasPartial(path.join(root, 'backups'))), 60_000);
    daemon.child.kill('SIGTERM');
    const end = await daemon.exited;

    expect(end, daemon.stderr()).toEqual({ code: 0, signal: null });
    const out = daemon.stdout();
    expect(out).toMatch(/ warn: big: still running \(pid \d+\) at its next time; this run is skipped/);
    expect(out).toContain('stopping: cancelling 1 running child');
    expect(out).toMatch(/ warn: big: run finished after [\d.]+ s, exit 130: cancelled\n/);
    expect(daemon.stderr()).toContain('[big] Backup cancelled; partial files were removed.');
    expect(out.trimEnd()).toMatch(/ stopped$/);
    expect(await hasPartial(path.join(root, 'backups'))).toBe(false);
    expect((await listDir(path.join(root, 'backups'))).filter((f) => f.includes('.lock'))).toEqual([]);
  }, 120_000);

  it('a run started elsewhere holds the job lock: the daemon\'s runs are refused (exit 1, logged), and once it is released the next run goes ahead', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await fs.mkdir(path.join(root, 'backups'));
    await writeJson(path.join(root, 'config/settings.json'), { job: 'nightly', sources: ['data'], destination: './backups', schedule: '* * * * * *' });
    const lock = lockFileFor({ sources: [path.join(root, 'data')], nameTemplate: '{source}-{date}-{time}' }, path.join(root, 'backups'), path.join(root, 'logs'));
    // Another run of the job (a person, cron): a real process holding the job's lock.
    const holder = spawn(process.execPath, [path.join(PROJECT_ROOT, 'tests/helpers/hold-lock.mjs'), path.join(PROJECT_ROOT, 'dist/lifecycle/lock.js'), JSON.stringify({ file: lock, host: os.hostname(), command: 'backup run (by hand)' })], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let held = '';
    holder.stdout!.setEncoding('utf8').on('data', (d: string) => (held += d));
    await waitFor('the lock held', () => held.includes('"event":"held"'));
    const daemon = watch(startCli(['daemon'], { cwd: root }));

    await waitFor('a refused run', () => daemon.stdout().includes('nightly: run finished'), 60_000);
    const holderExit = new Promise((resolve) => holder.on('exit', resolve));
    holder.stdin!.end('release\n');
    await holderExit;
    await waitFor('a backup once the lock is free', async () => (await archives(path.join(root, 'backups'))).length >= 1 && daemon.stdout().includes('exit 0: ok'), 60_000);
    daemon.child.kill('SIGTERM');
    const end = await daemon.exited;

    expect(end, daemon.stderr()).toEqual({ code: 0, signal: null });
    expect(daemon.stdout()).toMatch(/ error: nightly: run finished after [\d.]+ s, exit 1: failed \(or another run of the job holds its lock\); next run /);
    expect(daemon.stderr()).toMatch(/\[nightly\] error: .*backup run \(by hand\)/);
    expect(daemon.stdout()).toMatch(/ nightly: run finished after [\d.]+ s, exit 0: ok/);
  }, 120_000);

  it('a settings file without a schedule: exit 2, naming the file and how to add one; nothing is run', async () => {
    const root = await tempDir();
    await makeRichTree(root);
    await writeJson(path.join(root, 'config/settings.json'), { sources: ['data'], destination: './backups', schedule: 'daily 02:30' });
    await writeJson(path.join(root, 'config/other.json'), { sources: ['data'], destination: './backups' });

    const run = await runCli(['daemon', '--config', 'config/settings.json', 'config/other.json'], { cwd: root });

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`error: ${path.join(root, 'config/other.json')}: no "schedule"`);
    expect(run.stderr).toContain('"schedule": "daily 02:30"');
    expect(run.stderr).toContain('npx backup daemon --config config/other.json');
    expect(run.stdout).toBe('');
    expect(await listDir(root)).not.toContain('backups');

    // No settings file at all: the default one is named.
    const empty = await tempDir();
    const none = await runCli(['daemon'], { cwd: empty });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(path.join(empty, 'config/settings.json'));
  });

  it('the same file named twice (or through a link) is one job', async () => {
    const root = await tempDir();
    await writeJson(path.join(root, 'config/settings.json'), { sources: ['data'] });
    await fs.symlink('settings.json', path.join(root, 'config/link.json'));
    expect(settingsFiles(['config/settings.json', './config/settings.json', 'config/link.json', 'config/../config/settings.json'], root, root)).toEqual([
      path.join(root, 'config/settings.json'),
    ]);
    expect(settingsFiles(undefined, root, root)).toEqual([path.join(root, 'config/settings.json')]);
  });

  it('the missed-run check runs `backup status --alert` for every job as a child; its failure is logged and the daemon goes on', async () => {
    const root = await tempDir();
    const said: string[] = [];
    const relayed: string[] = [];
    const controller = new AbortController();
    const file = path.join(root, 'settings.json');
    const running = runDaemon({
      // A schedule that never comes during the test.
      jobs: [{ name: 'nightly', settingsFile: file, schedule: parseSchedule('0 0 1 1 *') }],
      execPath: process.execPath,
      bin: cliBin(),
      cwd: root,
      env: { ...process.env, NO_COLOR: '1' },
      signal: controller.signal,
      say: (level, line) => said.push(`${level}: ${line}`),
      relay: (stream, line) => relayed.push(`${stream}: ${line}`),
      checkFirstMs: 0,
      checkEveryMs: 50,
    });
    await waitFor('two checks', () => said.filter((l) => l.includes('missed-run check')).length >= 2, 60_000);
    controller.abort();
    await running;
    // Every check is relayed with its prefix, and said how it went (ok, or what status said).
    expect(
      said.filter((l) => l.includes('missed-run check')).every((l) => /^(info: missed-run check: every job is ok|warn: missed-run check: exit \d+: |info: missed-run check: cancelled \(stopping\)$)/.test(l)),
      said.join('\n'),
    ).toBe(true);
    expect(relayed.every((l) => /^(stdout|stderr): \[check\] /.test(l)), relayed.join('\n')).toBe(true);
  }, 90_000);

  it('SIGTERM to a child that ignores it: after the stop grace its process group (a grandchild too) is SIGKILLed and the daemon returns', async () => {
    const root = await tempDir();
    const stubborn = path.join(root, 'stubborn.mjs');
    await fs.writeFile(
      stubborn,
      `import { spawn } from 'node:child_process';
process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const grandchild = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
console.log('ready ' + grandchild.pid);
setInterval(() => {}, 1000);
`,
    );
    const said: string[] = [];
    const relayed: string[] = [];
    const controller = new AbortController();
    const running = runDaemon({
      jobs: [{ name: 'stubborn', settingsFile: path.join(root, 'settings.json'), schedule: parseSchedule('* * * * * *') }],
      execPath: process.execPath,
      bin: stubborn,
      cwd: root,
      env: process.env,
      signal: controller.signal,
      say: (level, line) => said.push(`${level}: ${line}`),
      relay: (stream, line) => relayed.push(`${stream}: ${line}`),
      checkFirstMs: 3_600_000,
      stopGraceMs: 300,
    });
    await waitFor('the child and its grandchild', () => relayed.some((l) => l.includes('ready ')), 30_000);
    const grandchild = Number(relayed.find((l) => l.includes('ready '))!.split('ready ')[1]);
    controller.abort();
    await running;
    expect(relayed).toContain('stdout: [stubborn] ignoring SIGTERM');
    expect(said.some((l) => /^warn: stopping: a child \(pid \d+\) still running 0 s after SIGTERM; killing its process group \(SIGKILL\)$/.test(l)), said.join('\n')).toBe(true);
    expect(said.some((l) => /stubborn: run finished after [\d.]+ s, killed by SIGKILL$/.test(l)), said.join('\n')).toBe(true);
    // The grandchild was in the child's process group: gone too (or a zombie waiting to be reaped).
    const gone = async (): Promise<boolean> => {
      const status = await fs.readFile(`/proc/${grandchild}/status`, 'utf8').catch(() => '');
      return status === '' || /^State:\s+Z/m.test(status);
    };
    await waitFor('the grandchild to be killed', gone, 10_000);
  }, 60_000);
});
