/**
 * The missed-run check (`backup status --alert`) over many checks with an
 * injected clock, real settings, history and alert-state files, and a
 * recording sender: one alert per incident, one "recovered", late ->
 * failing, and a retry when no channel took the alert.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.js';
import { statusCommand } from '../../src/cli/status-command.js';
import { appendHistory } from '../../src/automation/history.js';
import { jobRef } from '../../src/automation/job.js';
import { decideAlert, readAlertState, writeAlertState, emptyAlertState, type Incident } from '../../src/automation/alert-state.js';
import type { SendNotifications } from '../../src/automation/run-report.js';
import type { HistoryRecord, NotifyEvent } from '../../src/automation/types.js';
import type { CliIO } from '../../src/cli/io.js';

const H = 3_600_000;
const T0 = new Date('2026-11-28T02:30:00.000Z');
const at = (hours: number): Date => new Date(T0.getTime() + hours * H);

function endRecord(job: { key: string; name: string }, id: string, startHours: number, outcome: 'ok' | 'failed'): HistoryRecord {
  return {
    v: 1, type: 'end', id, job: job.key, jobName: job.name, command: 'run', trigger: 'scheduled', host: 'host1', pid: 1,
    start: at(startHours).toISOString(), end: at(startHours + 0.1).toISOString(), outcome, exitCode: outcome === 'ok' ? 0 : 1,
    archive: outcome === 'ok' ? 'backups/www.tar.gz' : null, bytes: outcome === 'ok' ? 1000 : null, files: 1, skipped: 0, destinations: [],
    error: outcome === 'failed' ? { code: 'DISK_FULL', message: 'no space left on the device' } : null,
  };
}

async function setup(channelsOk = true) {
  const root = await tempDir();
  const settingsFile = path.join(root, 'config', 'settings.json');
  await fs.mkdir(path.dirname(settingsFile));
  await fs.writeFile(settingsFile, JSON.stringify({ job: 'www', sources: ['./data'], schedule: 'daily 02:30', notify: [{ type: 'slack', urlEnv: 'SLACK_URL' }, { type: 'email', smtp: { host: 'mail' }, from: 'b@x.org', to: ['ops@x.org'], on: ['late'] }] }));
  // The schedule exists since T0.
  await fs.utimes(settingsFile, T0, T0);
  const job = jobRef({ settingsFile, jobName: 'www', sources: [], nameTemplate: '', logFile: path.join(root, 'logs', 'backup.log') });
  await fs.mkdir(path.dirname(job.historyFile));
  const events: NotifyEvent[] = [];
  let ok = channelsOk;
  const send: SendNotifications = async (channels, event) => {
    events.push(event);
    // As the notify part does: only the channels whose `on` wants it (recovered: where failure or late goes).
    const wanted = channels.filter((c) => {
      const on = c.on ?? ['failure', 'warning', 'late'];
      return event.event === 'recovered' ? on.includes('failure') || on.includes('late') : (on as string[]).includes(event.event);
    });
    return wanted.map((c) => ({ channel: c.name ?? c.type, type: c.type, event: event.event, ok, ...(ok ? {} : { error: 'HTTP 500' }) }));
  };
  let clock = at(0);
  const stdout = new PassThrough();
  let out = '';
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const io: CliIO = {
    stdin: new PassThrough(),
    stdout,
    stderr: new PassThrough().resume(),
    env: {},
    cwd: root,
    signal: new AbortController().signal,
    now: () => clock,
    host: 'host1',
    home: root,
  };
  const check = async (hours: number): Promise<{ code: number; json: any; sent: string[] }> => {
    clock = at(hours);
    out = '';
    const before = events.length;
    const code = await statusCommand(io, { config: [settingsFile], json: true, alert: true }, send);
    return { code, json: JSON.parse(out), sent: events.slice(before).map((e) => e.event) };
  };
  return { job, events, check, setChannels: (value: boolean) => (ok = value) };
}

describe('decideAlert', () => {
  const now = at(0);
  const open = (kind: 'late' | 'failing', alerted = true): Incident => ({ kind, since: at(-5).toISOString(), alertedAt: alerted ? at(-5).toISOString() : null });
  it.each([
    ['ok', null, null, null],
    ['ok', open('late'), 'recovered', null],
    ['ok', open('failing'), 'recovered', null],
    ['late', null, 'late', 'late'],
    ['late', open('late'), null, 'late'],
    ['late', open('late', false), 'late', 'late'],
    ['failing', open('late'), 'failure', 'failing'],
    ['failing', open('failing'), null, 'failing'],
    ['late', open('failing'), 'late', 'late'],
    ['never run', null, null, null],
    ['never run', open('late'), null, 'late'],
  ] as const)('%s with incident %j: send %s, incident %s', (verdict, incident, send, kind) => {
    const decision = decideAlert(verdict, incident, now);
    expect(decision.send).toBe(send);
    expect(decision.next?.kind ?? null).toBe(kind);
  });
});

describe('backup status --alert over many checks', () => {
  it('late: one alert over many checks; a failed run turns it into failing (one failure alert); a success sends one recovered', async () => {
    const { job, check } = await setup();
    // Scheduled since T0, never run: not late before 24 h + 12 h.
    expect(await check(10)).toMatchObject({ code: 1, sent: [], json: { jobs: [{ verdict: 'never run', alert: null }] } });
    const late = await check(37);
    expect(late.sent).toEqual(['late']);
    expect(late.json.jobs[0]).toMatchObject({ verdict: 'late', alert: { event: 'late', notifications: [{ channel: 'slack', ok: true }, { channel: 'email', ok: true }] } });
    for (const hours of [38, 42, 50, 60, 61]) expect((await check(hours)).sent).toEqual([]);
    expect((await readAlertState(job.alertStateFile)).jobs[job.key]?.incident).toMatchObject({ kind: 'late', since: at(37).toISOString(), alertedAt: at(37).toISOString() });

    // A run fails (recorded without its own notification): failing, a new incident, one alert.
    await appendHistory(job.historyFile, endRecord(job, 'f1', 62, 'failed'));
    const failing = await check(63);
    expect(failing.sent).toEqual(['failure']);
    expect(failing.json.jobs[0]).toMatchObject({ verdict: 'failing', lastFailure: { error: 'no space left on the device' }, alert: { event: 'failure', notifications: [{ channel: 'slack', ok: true }] } });
    for (const hours of [64, 70, 80]) expect((await check(hours)).sent).toEqual([]);
    await appendHistory(job.historyFile, endRecord(job, 'f2', 86, 'failed'));
    expect((await check(87)).sent).toEqual([]);

    // It works again: one recovered, then quiet.
    await appendHistory(job.historyFile, endRecord(job, 'ok1', 110, 'ok'));
    const recovered = await check(111);
    expect(recovered).toMatchObject({ code: 0, sent: ['recovered'], json: { ok: true, jobs: [{ verdict: 'ok', alert: { event: 'recovered' } }] } });
    for (const hours of [112, 120, 130]) expect((await check(hours)).sent).toEqual([]);
    expect((await readAlertState(job.alertStateFile)).jobs[job.key]?.incident).toBeNull();

    // Late again later: a new incident, a new alert.
    expect((await check(110 + 37)).sent).toEqual(['late']);
    expect((await check(110 + 40)).sent).toEqual([]);
  });

  it('when every channel fails, the next check tries again; once taken, it stops', async () => {
    const { check, setChannels } = await setup(false);
    expect((await check(37)).sent).toEqual(['late']);
    expect((await check(38)).sent).toEqual(['late']);
    setChannels(true);
    expect((await check(39)).sent).toEqual(['late']);
    expect((await check(40)).sent).toEqual([]);
  });

  it('settings that cannot be read: failing, but no alert and no incident opened (sent once they can be read)', async () => {
    const { job, check } = await setup();
    const settings = job.settingsFile!;
    const good = await fs.readFile(settings, 'utf8');
    await fs.writeFile(settings, '{ "sources": [ }');
    await fs.utimes(settings, T0, T0);
    const broken = await check(37);
    expect(broken).toMatchObject({ code: 1, sent: [], json: { jobs: [{ verdict: 'failing', alert: null }] } });
    expect((await readAlertState(job.alertStateFile)).jobs).toEqual({});
    await fs.writeFile(settings, good);
    await fs.utimes(settings, T0, T0);
    expect((await check(38)).sent).toEqual(['late']);
  });

  it('the state file: atomic, never through a symlink; a corrupt one is empty (at worst one alert again)', async () => {
    const { job, check } = await setup();
    await fs.writeFile(job.alertStateFile, '{"v":1,"jobs":{');
    expect((await check(37)).sent).toEqual(['late']);
    expect(JSON.parse(await fs.readFile(job.alertStateFile, 'utf8'))).toMatchObject({ v: 1, jobs: { [job.key]: { incident: { kind: 'late' } } } });
    expect((await fs.readdir(path.dirname(job.alertStateFile))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const target = path.join(path.dirname(job.alertStateFile), 'target.json');
    await fs.writeFile(target, 'keep');
    await fs.rm(job.alertStateFile);
    await fs.symlink(target, job.alertStateFile);
    await expect(writeAlertState(job.alertStateFile, emptyAlertState())).rejects.toThrow(/symbolic link/);
    await expect(readAlertState(job.alertStateFile)).rejects.toThrow(/symbolic link/);
    expect(await fs.readFile(target, 'utf8')).toBe('keep');
  });
});
