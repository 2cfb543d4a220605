/**
 * The whole promise of issue 10 through real processes: a job's runs post
 * to a real webhook receiver on 127.0.0.1; a failed run alerts once (the
 * missed-run check does not repeat it); the run that fixes it says
 * "recovered"; three days without a run (faketime) is one `late` alert over
 * many checks; and a receiver that never answers does not change the
 * backup's exit code. The webhook URL (a secret) is in no output, log line
 * or history record.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { BIN, runCli, type CliRun } from '../helpers/cli.js';
import { startHttp, type HttpRecorder } from '../helpers/notify-servers.js';

const SECRET_PATH = '/hooks/T0K3N-s3cr3t-9f8e7d6c5b4a';

const servers: HttpRecorder[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function job(on: string[], extra: Record<string, unknown> = {}): Promise<{ root: string; config: string }> {
  const root = await tempDir();
  await makeRichTree(root);
  const config = path.join(root, 'config', 'settings.json');
  await fs.mkdir(path.dirname(config));
  const settings = {
    job: 'www',
    sources: ['data'],
    destination: './backups',
    schedule: 'daily 02:30',
    notify: [{ type: 'webhook', urlEnv: 'HOOK_URL', on, ...extra }],
  };
  await fs.writeFile(config, `${JSON.stringify(settings, null, 2)}\n`);
  return { root, config };
}

/** The CLI at a clock shifted by `shift` (faketime), e.g. '+3d'. */
function later(shift: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile('faketime', ['-f', shift, process.execPath, BIN, ...args], { cwd, env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr } as CliRun);
    });
  });
}

const events = (server: HttpRecorder): string[] => server.requests.map((r) => (JSON.parse(r.body) as { event: string }).event);

describe('alerts end to end (real runs, a real webhook receiver)', () => {
  it('success, one failure alert (the check does not repeat it), recovered, then one late alert over many checks, recovered by the next run', async () => {
    const hook = await startHttp();
    servers.push(hook);
    const { root, config } = await job(['failure', 'warning', 'success', 'late']);
    const env = { HOOK_URL: `${hook.origin}${SECRET_PATH}` };
    const outputs: string[] = [];
    const cli = async (args: string[]): Promise<CliRun> => {
      const run = await runCli(args, { cwd: root, env });
      outputs.push(run.stdout, run.stderr);
      return run;
    };

    expect((await cli(['run'])).code).toBe(0);
    expect(events(hook)).toEqual(['success']);
    const success = JSON.parse(hook.requests[0]!.body) as Record<string, unknown>;
    expect(success).toMatchObject({ event: 'success', job: 'www', ok: true, exitCode: 0 });
    expect(success.archive).toMatch(/^backups\/data-\d{8}-\d{6}\.tar\.gz$/);

    // The source disappears: the run fails with its own exit code and alerts once.
    await fs.rename(path.join(root, 'data'), path.join(root, 'data.moved'));
    const failed = await cli(['run']);
    expect(failed.code).toBe(2);
    expect(events(hook)).toEqual(['success', 'failure']);
    expect(JSON.parse(hook.requests[1]!.body)).toMatchObject({ event: 'failure', job: 'www', ok: false, exitCode: 2 });

    // The missed-run check sees the same incident: reported (exit 1), not alerted again.
    for (let i = 0; i < 3; i++) {
      const check = await cli(['status', '--alert', '--config', config]);
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/^www: FAILING/);
    }
    expect(events(hook)).toEqual(['success', 'failure']);

    // Fixed: the next run succeeds and says the job recovered, once.
    await fs.rename(path.join(root, 'data.moved'), path.join(root, 'data'));
    expect((await cli(['run'])).code).toBe(0);
    expect(events(hook).slice(2).sort()).toEqual(['recovered', 'success']);
    expect((await cli(['status', '--alert', '--config', config])).code).toBe(0);
    expect(events(hook)).toHaveLength(4);

    // Nothing runs for three days: one late alert, however many checks see it.
    const lateChecks: CliRun[] = [];
    for (const shift of ['+3d', '+3d', '+4d']) {
      const check = await later(shift, ['status', '--alert', '--config', config], root, env);
      outputs.push(check.stdout, check.stderr);
      lateChecks.push(check);
      expect(check.code, check.stderr).toBe(1);
      expect(check.stdout).toMatch(/^www: LATE - no successful run since /);
    }
    // Also once on stderr, which a cron line keeps (cron mails it, with or without channels).
    expect(lateChecks.map((c) => /^backup late: www on \S+: no successful run since /m.test(c.stderr))).toEqual([true, false, false]);
    expect(events(hook).slice(4)).toEqual(['late']);
    const late = JSON.parse(hook.requests[4]!.body) as Record<string, unknown>;
    expect(late).toMatchObject({ event: 'late', job: 'www' });
    expect(String(late.reason)).toMatch(/no successful run since .*expected every day at 02:30/);

    // A run three days later closes the incident: success, and one recovered.
    const back = await later('+3d', ['run'], root, env);
    outputs.push(back.stdout, back.stderr);
    expect(back.code, back.stderr).toBe(0);
    expect(events(hook).slice(5).sort()).toEqual(['recovered', 'success']);

    // The webhook URL is a secret: in no output, no log line, no history record.
    const log = await fs.readFile(path.join(root, 'logs', 'backup.log'), 'utf8');
    const history = await fs.readFile(path.join(root, 'logs', 'history.jsonl'), 'utf8');
    for (const text of [...outputs, log, history]) expect(text).not.toContain('T0K3N');
    // Every run has a start and an end record.
    // (The end record is written before the notifications and again with how they went.)
    const records = history.trim().split('\n').map((line) => JSON.parse(line) as { id: string; type: string; command: string });
    const runs = records.filter((r) => r.command === 'run');
    expect(new Set(runs.filter((r) => r.type === 'start').map((r) => r.id)).size).toBe(4);
    expect(new Set(runs.filter((r) => r.type === 'end').map((r) => r.id))).toEqual(new Set(runs.filter((r) => r.type === 'start').map((r) => r.id)));
  }, 120_000);

  it('a failure alert no channel took (the receiver answered 500) is sent again by the missed-run check, once', async () => {
    // The run's three attempts fail; the receiver works again for the check.
    const hook = await startHttp((_request, index) => (index < 3 ? 500 : 200));
    servers.push(hook);
    const { root, config } = await job(['failure']);
    const env = { HOOK_URL: `${hook.origin}${SECRET_PATH}` };
    await fs.rm(path.join(root, 'data'), { recursive: true });
    expect((await runCli(['run'], { cwd: root, env })).code).toBe(2);
    expect(events(hook)).toEqual(['failure', 'failure', 'failure']);
    for (let i = 0; i < 2; i++) expect((await runCli(['status', '--alert', '--config', config], { cwd: root, env })).code).toBe(1);
    expect(events(hook)).toEqual(['failure', 'failure', 'failure', 'failure']);
  }, 60_000);

  it('a job that keeps failing alerts once per incident, with a reminder a day later; healthchecks still gets every /fail ping', async () => {
    const hook = await startHttp();
    const hc = await startHttp();
    servers.push(hook, hc);
    const { root, config } = await job(['failure']);
    const settings = JSON.parse(await fs.readFile(config, 'utf8')) as { notify: unknown[] };
    settings.notify.push({ type: 'healthchecks', urlEnv: 'HC_URL' });
    await fs.writeFile(config, JSON.stringify(settings));
    const env = { HOOK_URL: `${hook.origin}${SECRET_PATH}`, HC_URL: `${hc.origin}/ping/abc` };
    await fs.rm(path.join(root, 'data'), { recursive: true });
    for (let i = 0; i < 3; i++) expect((await runCli(['run'], { cwd: root, env })).code).toBe(2);
    expect(events(hook)).toEqual(['failure']);
    expect(hc.requests.filter((r) => r.path.includes('/fail'))).toHaveLength(3);
    // A day later it still fails: one reminder, then quiet again.
    for (let i = 0; i < 2; i++) expect((await later('+25h', ['run'], root, env)).code).toBe(2);
    expect(events(hook)).toEqual(['failure', 'failure']);
    expect(hc.requests.filter((r) => r.path.includes('/fail'))).toHaveLength(5);
  }, 60_000);

  it('a settings file with a typo still alerts on its channels: the run fails (exit 2) and says so on the webhook', async () => {
    const hook = await startHttp();
    servers.push(hook);
    const { root, config } = await job(['failure']);
    const settings = JSON.parse(await fs.readFile(config, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(config, JSON.stringify({ ...settings, schedule: 'daily 2:30am' }));
    const env = { HOOK_URL: `${hook.origin}${SECRET_PATH}` };
    const run = await runCli(['run'], { cwd: root, env });
    expect(run.code).toBe(2);
    expect(events(hook)).toEqual(['failure']);
    expect(JSON.parse(hook.requests[0]!.body)).toMatchObject({ event: 'failure', exitCode: 2, error: { code: 'CONFIG_INVALID' } });
    // The check sees the same incident: reported, not alerted again.
    const check = await runCli(['status', '--alert', '--config', config], { cwd: root, env });
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^\S+: FAILING - the settings cannot be read: .*schedule/);
    expect(events(hook)).toEqual(['failure']);
  }, 60_000);

  it('a verify that finds a damaged backup alerts on the job\'s channels ("backup verify FAILED"); a good verify says nothing', async () => {
    const hook = await startHttp();
    servers.push(hook);
    const { root, config } = await job(['failure']);
    const env = { HOOK_URL: `${hook.origin}${SECRET_PATH}` };
    expect((await runCli(['run'], { cwd: root, env })).code).toBe(0);
    expect((await runCli(['verify', '--all', '--config', config], { cwd: root, env })).code).toBe(0);
    // A typo (no such archive, exit 2) is not a damaged backup: no alert.
    expect((await runCli(['verify', 'nosuch-20261126-020000.tar.gz', '--config', config], { cwd: root, env })).code).toBe(2);
    expect(hook.requests).toHaveLength(0);
    const [archive] = (await fs.readdir(path.join(root, 'backups'))).filter((f) => f.endsWith('.tar.gz'));
    const file = path.join(root, 'backups', archive!);
    const bytes = await fs.readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await fs.writeFile(file, bytes);
    expect((await runCli(['verify', '--all', '--config', config], { cwd: root, env })).code).toBe(1);
    expect(events(hook)).toEqual(['failure']);
    expect(JSON.parse(hook.requests[0]!.body).text).toMatch(/^backup verify FAILED: www on /);
    // Not an incident of the job's runs: the last backup run is still ok.
    expect((await runCli(['status', '--config', config], { cwd: root, env })).stdout).toMatch(/^www: OK/);
  }, 60_000);

  it('a receiver that never answers: the backup ends with its own exit code, and the history records the failed notification', async () => {
    const hook = await startHttp(() => 'hang');
    servers.push(hook);
    const { root } = await job(['failure', 'warning', 'success'], { timeoutSeconds: 1 });
    const run = await runCli(['run', '--json'], { cwd: root, env: { HOOK_URL: `${hook.origin}${SECRET_PATH}` } });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, exitCode: 0 });
    expect(run.stderr).toMatch(/warning: notification webhook \(webhook, success\) of job www failed: no answer from 127\.0\.0\.1:\d+ within 1 s/);
    expect(hook.requests.length).toBeGreaterThanOrEqual(1);
    const history = (await fs.readFile(path.join(root, 'logs', 'history.jsonl'), 'utf8')).trim().split('\n');
    const end = JSON.parse(history[history.length - 1]!) as { type: string; outcome: string; exitCode: number; notifications: Array<{ ok: boolean; error?: string }> };
    expect(end).toMatchObject({ type: 'end', outcome: 'ok', exitCode: 0 });
    expect(end.notifications).toEqual([expect.objectContaining({ channel: 'webhook', ok: false, error: expect.stringMatching(/no answer from .* within 1 s/) })]);
    expect(history.join('\n')).not.toContain('T0K3N');
  }, 60_000);
});
