/**
 * Verdicts (pure): a job's runs and schedule at an injected `now`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { jobStatus, statusExitCode, type JobStatusInput } from '../../src/automation/status.js';
import { BOOT_ID_FILE, currentBootId, readBootId, runAlive } from '../../src/automation/run-alive.js';
import { isOwnerAlive } from '../../src/lifecycle/lock.js';
import { parseSchedule } from '../../src/automation/schedule.js';
import type { HistoryRecord } from '../../src/automation/types.js';

const H = 3_600_000;
const T0 = new Date('2026-11-28T02:30:00.000Z');
const at = (hours: number): Date => new Date(T0.getTime() + hours * H);

let n = 0;
function run(startHours: number, outcome: HistoryRecord['outcome'], extra: Partial<HistoryRecord> = {}): HistoryRecord {
  const open = outcome === 'running';
  return {
    v: 1,
    type: open ? 'start' : 'end',
    id: `r${n++}`,
    job: 'config:/srv/www/config/settings.json',
    jobName: 'www',
    command: 'run',
    trigger: 'scheduled',
    host: 'host1',
    pid: 100 + n,
    start: at(startHours).toISOString(),
    end: open ? null : at(startHours + 0.1).toISOString(),
    outcome,
    exitCode: open ? null : { ok: 0, warning: 3, failed: 1, cancelled: 130 }[outcome],
    archive: outcome === 'ok' || outcome === 'warning' ? `backups/www-${n}.tar.gz` : null,
    bytes: outcome === 'ok' || outcome === 'warning' ? 2_100_000_000 : null,
    files: null,
    skipped: outcome === 'warning' ? 2 : 0,
    destinations:
      outcome === 'ok' || outcome === 'warning'
        ? [
            { name: 'local', type: 'local', ok: true, location: `/backups/www-${n}.tar.gz`, error: null },
            { name: 's3', type: 's3', ok: outcome === 'ok', location: `s3://b/www-${n}.tar.gz`, error: null },
          ]
        : [],
    error: outcome === 'failed' ? { code: 'DISK_FULL', message: 'no space left on the device', hint: 'disk full on /backups: 120 MB free, last archive was 2.1 GB' } : null,
    ...extra,
  };
}

const daily = parseSchedule('daily 02:30');
const base = (over: Partial<JobStatusInput>): JobStatusInput => ({
  job: { key: 'config:/srv/www/config/settings.json', name: 'www', settingsFile: '/srv/www/config/settings.json' },
  schedule: daily,
  scheduleSince: at(-240),
  runs: [],
  isAlive: () => false,
  now: at(1),
  ...over,
});

describe('jobStatus verdicts', () => {
  const cases: Array<[string, Partial<JobStatusInput>, string, RegExp]> = [
    ['last run ok, within the interval', { runs: [run(0, 'ok')], now: at(20) }, 'ok', /succeeded/],
    ['last run ok, interval + grace not yet over (24 h + 12 h)', { runs: [run(0, 'ok')], now: at(35.9) }, 'ok', /succeeded/],
    ['no success within 24 h + 12 h grace: late', { runs: [run(0, 'ok')], now: at(36.1) }, 'late', /^no successful run since 2026-11-28 02:30 UTC; the run due at 2026-11-29 02:30 UTC did not happen \(expected every day at 02:30\)$/],
    ['a custom grace', { runs: [run(0, 'ok')], now: at(26), graceMs: H }, 'late', /no successful run/],
    ['last run failed: failing, even within the interval', { runs: [run(0, 'ok'), run(24, 'failed')], now: at(25) }, 'failing', /the last run failed: no space left/],
    ['failing wins over late', { runs: [run(0, 'failed')], now: at(100) }, 'failing', /failed/],
    ['a warning run made its backup: ok', { runs: [run(0, 'failed'), run(24, 'warning')], now: at(25) }, 'ok', /with warnings/],
    ['killed (start without end, process gone): failing', { runs: [run(0, 'ok'), run(24, 'running')], now: at(25) }, 'failing', /killed/],
    ['running now: the last finished run decides', { runs: [run(0, 'ok'), run(24, 'running')], isAlive: () => true, now: at(25) }, 'ok', /succeeded/],
    ['a run on another host (cannot tell): running', { runs: [run(0, 'ok'), run(24, 'running')], isAlive: () => undefined, now: at(25) }, 'ok', /succeeded/],
    ['Ctrl-C by a person is not a failure', { runs: [run(0, 'ok'), run(5, 'cancelled', { trigger: 'cli' })], now: at(6) }, 'ok', /succeeded/],
    ['a scheduled run cancelled (SIGTERM, the daemon stopped) is not a failure either', { runs: [run(0, 'ok'), run(24, 'cancelled', { trigger: 'daemon' })], now: at(25) }, 'ok', /succeeded/],
    ['... and the backup it did not make shows up as late', { runs: [run(0, 'ok'), run(24, 'cancelled', { trigger: 'scheduled' })], now: at(51) }, 'late', /no successful run since 2026-11-28 02:30 UTC/],
    ['prune / verify runs do not make the verdict', { runs: [run(0, 'ok'), run(1, 'failed', { command: 'verify' })], now: at(2) }, 'ok', /succeeded/],
    ['never run, schedule new: never run', { scheduleSince: at(0), now: at(10) }, 'never run', /no run yet; late after 2026-11-29 14:30 UTC/],
    ['never run, scheduled for longer than interval + grace: late', { scheduleSince: at(0), now: at(37) }, 'late', /^never run, although scheduled since 2026-11-28 02:30 UTC; the run due at 2026-11-29 02:30 UTC did not happen \(expected every day at 02:30\)$/],
    ['no schedule, never run', { schedule: null, now: at(1000) }, 'never run', /no schedule/],
    ['no schedule, ran once long ago: ok (nothing expected)', { schedule: null, runs: [run(0, 'ok')], now: at(1000) }, 'ok', /succeeded/],
    ['broken settings: failing with the error', { settingsError: { code: 'CONFIG_INVALID', message: 'settings.json: line 3: expected ","' }, runs: [run(0, 'ok')] }, 'failing', /settings cannot be read: settings\.json: line 3/],
  ];
  it.each(cases)('%s', (_name, over, verdict, reason) => {
    const status = jobStatus(base(over));
    expect(status.verdict).toBe(verdict);
    expect(status.reason).toMatch(reason);
  });

  it('fields: last success, last failure with its hint, next run, newest archive per destination', () => {
    const runs = [run(0, 'warning'), run(24, 'ok'), run(48, 'failed')];
    const status = jobStatus(base({ runs, now: at(49) }));
    expect(status).toMatchObject({
      verdict: 'failing',
      lastSuccess: { at: at(24.1).toISOString(), archive: runs[1]!.archive, bytes: 2_100_000_000, outcome: 'ok' },
      lastFailure: { at: at(48.1).toISOString(), outcome: 'failed', code: 'DISK_FULL', error: 'no space left on the device', hint: 'disk full on /backups: 120 MB free, last archive was 2.1 GB' },
      nextRun: '2026-12-01T02:30:00.000Z',
      schedule: { text: 'daily 02:30', description: 'every day at 02:30' },
      lastRun: { outcome: 'failed', exitCode: 1 },
    });
    expect(status.destinations).toEqual([
      { name: 'local', type: 'local', location: runs[1]!.destinations[0]!.location, at: at(24.1).toISOString() },
      { name: 's3', type: 's3', location: runs[1]!.destinations[1]!.location, at: at(24.1).toISOString() },
    ]);
  });

  it('a killed run: its failure says so; a live one is shown as running', () => {
    const killed = jobStatus(base({ runs: [run(0, 'running', { pid: 4242 })], now: at(1) }));
    expect(killed.lastFailure).toMatchObject({ outcome: 'killed', code: 'KILLED', error: expect.stringMatching(/pid 4242 on host1\) ended without a record: it was killed/) });
    expect(killed.lastRun).toMatchObject({ outcome: 'killed' });
    const live = jobStatus(base({ runs: [run(0, 'running', { pid: 4242 })], isAlive: () => true, scheduleSince: at(0), now: at(1) }));
    expect(live.running).toMatchObject({ pid: 4242, host: 'host1', command: 'run' });
    expect(live.verdict).toBe('never run');
  });

  it('hourly and weekly schedules: the grace follows the gap after the due run (at least 1 h, at most a day)', () => {
    // Success 02:30; hourly runs at :00, so 03:00 was due: late after 04:00 (grace 1 h, not half an hour).
    const hourly = parseSchedule('hourly');
    expect(jobStatus(base({ schedule: hourly, runs: [run(0, 'ok')], now: at(1.4) })).verdict).toBe('ok');
    expect(jobStatus(base({ schedule: hourly, runs: [run(0, 'ok')], now: at(1.6) }))).toMatchObject({ verdict: 'late', lateAfter: '2026-11-28T04:00:00.000Z' });
    // Success Saturday 02:30; weekly runs Sunday 00:00: due the next day; half the week is capped at a day, so late Monday 00:00.
    const weekly = parseSchedule('weekly');
    expect(jobStatus(base({ schedule: weekly, runs: [run(0, 'ok')], now: new Date('2026-11-29T23:59:00Z') })).verdict).toBe('ok');
    expect(jobStatus(base({ schedule: weekly, runs: [run(0, 'ok')], now: new Date('2026-11-30T00:01:00Z') }))).toMatchObject({ verdict: 'late', lateAfter: '2026-11-30T00:00:00.000Z' });
  });

  it('exit code: 0 only when every job is ok', () => {
    const ok = jobStatus(base({ runs: [run(0, 'ok')], now: at(2) }));
    const late = jobStatus(base({ runs: [run(0, 'ok')], now: at(40) }));
    expect(statusExitCode([ok])).toBe(0);
    expect(statusExitCode([ok, late])).toBe(1);
    expect(statusExitCode([])).toBe(1);
  });
});

/** A successful run that started at `iso` (an ISO time) and took ten minutes. */
const okAt = (iso: string, extra: Partial<HistoryRecord> = {}): HistoryRecord =>
  run(0, 'ok', { start: new Date(iso).toISOString(), end: new Date(new Date(iso).getTime() + 600_000).toISOString(), ...extra });

describe('lateness: from the first run due after the last success, plus half the gap after it (at least 1 h, at most a day)', () => {
  // 2026-11-30 is a Monday.
  const cases: Array<[string, string, string, string, string, RegExp | null]> = [
    // [name, schedule, last success start, now, verdict, reason]
    ['daily: success Mon 02:30, Tue 14:29: ok', 'daily 02:30', '2026-11-30T02:30:00Z', '2026-12-01T14:29:00Z', 'ok', null],
    ['daily: success Mon 02:30, Tue 14:31: late (the Tue 02:30 run + 12 h)', 'daily 02:30', '2026-11-30T02:30:00Z', '2026-12-01T14:31:00Z', 'late',
      /^no successful run since 2026-11-30 02:30 UTC; the run due at 2026-12-01 02:30 UTC did not happen \(expected every day at 02:30\)$/],
    ['weekdays: success Mon 02:00, Tue 13:59: ok', '0 2 * * 1-5', '2026-11-30T02:00:00Z', '2026-12-01T13:59:00Z', 'ok', null],
    ['weekdays: success Mon 02:00, Tue 14:01: late', '0 2 * * 1-5', '2026-11-30T02:00:00Z', '2026-12-01T14:01:00Z', 'late', /the run due at 2026-12-01 02:00 UTC did not happen/],
    ['weekdays: success Mon 02:00, Thu 12:00 (three runs missed): late', '0 2 * * 1-5', '2026-11-30T02:00:00Z', '2026-12-03T12:00:00Z', 'late',
      /^no successful run since 2026-11-30 02:00 UTC; the run due at 2026-12-01 02:00 UTC did not happen \(schedule: cron "0 2 \* \* 1-5"\)$/],
    ['weekdays: success Fri 02:00, Sunday noon (no run due at the weekend): ok', '0 2 * * 1-5', '2026-12-04T02:00:00Z', '2026-12-06T12:00:00Z', 'ok', null],
    ['weekdays: success Fri 02:00, Mon 14:01: late', '0 2 * * 1-5', '2026-12-04T02:00:00Z', '2026-12-07T14:01:00Z', 'late', /the run due at 2026-12-07 02:00 UTC did not happen/],
    // 15th -> 1st is 17 days, but the grace is at most a day: late on the 16th (the longest-gap rule said the 26th).
    ['1st and 15th: success Dec 1, Dec 16 01:59: ok', '0 2 1,15 * *', '2026-12-01T02:00:00Z', '2026-12-16T01:59:00Z', 'ok', null],
    ['1st and 15th: success Dec 1, Dec 16 02:01: late (the 15th missed)', '0 2 1,15 * *', '2026-12-01T02:00:00Z', '2026-12-16T02:01:00Z', 'late', /the run due at 2026-12-15 02:00 UTC did not happen/],
    ['1st and 15th: success Nov 15, Dec 2 01:59: ok', '0 2 1,15 * *', '2026-11-15T02:00:00Z', '2026-12-02T01:59:00Z', 'ok', null],
    ['1st and 15th: success Nov 15, Dec 2 02:01: late (the 1st missed)', '0 2 1,15 * *', '2026-11-15T02:00:00Z', '2026-12-02T02:01:00Z', 'late', /the run due at 2026-12-01 02:00 UTC did not happen/],
    ['a run by hand still going at the due time (02:25-02:35; the 02:30 run refused by its lock) covers that slot', 'daily 02:30', '2026-11-30T02:25:00Z', '2026-11-30T15:00:00Z', 'ok', null],
    ['a run started by hand between two scheduled runs: the next one is due', 'daily 02:30', '2026-11-30T18:00:00Z', '2026-12-01T14:31:00Z', 'late', /since 2026-11-30 18:00 UTC; the run due at 2026-12-01 02:30 UTC/],
  ];
  it.each(cases)('%s', (_name, text, success, now, verdict, reason) => {
    const status = jobStatus(base({ schedule: parseSchedule(text), runs: [okAt(success)], now: new Date(now) }));
    expect(status.verdict).toBe(verdict);
    if (reason) expect(status.reason).toMatch(reason);
    // lateAfter says the same: the verdict turns late exactly when now passes it.
    expect(new Date(now).getTime() > new Date(status.lateAfter!).getTime()).toBe(verdict === 'late');
  });

  it('lateAfter: the due run plus the grace (a custom grace replaces the default)', () => {
    const weekdays = parseSchedule('0 2 * * 1-5');
    expect(jobStatus(base({ schedule: weekdays, runs: [okAt('2026-11-30T02:00:00Z')], now: new Date('2026-11-30T03:00:00Z') })).lateAfter).toBe('2026-12-01T14:00:00.000Z');
    expect(jobStatus(base({ schedule: weekdays, runs: [okAt('2026-12-04T02:00:00Z')], now: new Date('2026-12-04T03:00:00Z') })).lateAfter).toBe('2026-12-07T14:00:00.000Z');
    expect(jobStatus(base({ schedule: weekdays, runs: [okAt('2026-11-30T02:00:00Z')], graceMs: 2 * H, now: new Date('2026-12-01T04:01:00Z') }))).toMatchObject({
      verdict: 'late',
      lateAfter: '2026-12-01T04:00:00.000Z',
    });
  });

  it('never run: the first run due after the schedule began, plus the grace', () => {
    const weekdays = parseSchedule('0 2 * * 1-5');
    // Schedule set Friday 10:00: Monday 02:00 is the first run due; late after Monday 14:00.
    const since = new Date('2026-12-04T10:00:00Z');
    const before = jobStatus(base({ schedule: weekdays, scheduleSince: since, now: new Date('2026-12-07T13:59:00Z') }));
    expect(before).toMatchObject({ verdict: 'never run', lateAfter: '2026-12-07T14:00:00.000Z' });
    expect(before.reason).toBe('no run yet; late after 2026-12-07 14:00 UTC');
    const after = jobStatus(base({ schedule: weekdays, scheduleSince: since, now: new Date('2026-12-07T14:01:00Z') }));
    expect(after.verdict).toBe('late');
    expect(after.reason).toBe('never run, although scheduled since 2026-12-04 10:00 UTC; the run due at 2026-12-07 02:00 UTC did not happen (schedule: cron "0 2 * * 1-5")');
  });
});

/** A run from `start` to `end` (ISO times). */
const span = (start: string, end: string, outcome: HistoryRecord['outcome'], extra: Partial<HistoryRecord> = {}): HistoryRecord =>
  run(0, outcome, { start: new Date(start).toISOString(), end: new Date(end).toISOString(), ...extra });
const LOCKED = { exitCode: 1, error: { code: 'LOCKED', message: 'another run of this job is going (pid 101 on host1)' } };

describe('the last run: refused runs (LOCKED) do not count, and last means the one that ended last', () => {
  const L = (outcome: HistoryRecord['outcome']): HistoryRecord => span('2026-11-30T01:00:00Z', '2026-11-30T02:40:00Z', outcome);
  const R = (outcome: HistoryRecord['outcome'], extra: Partial<HistoryRecord> = {}): HistoryRecord => span('2026-11-30T02:00:00Z', '2026-11-30T02:00:01Z', outcome, extra);
  const now = new Date('2026-11-30T03:00:00Z');
  const cases: Array<[string, HistoryRecord[], string, RegExp]> = [
    ['L 01:00-02:40 ok, R 02:00-02:00:01 LOCKED: ok', [L('ok'), R('failed', LOCKED)], 'ok', /^last run succeeded$/],
    ['the same in end order in the file', [R('failed', LOCKED), L('ok')], 'ok', /^last run succeeded$/],
    ['L failed, R LOCKED: failing with L\'s error', [L('failed'), R('failed', LOCKED)], 'failing', /^the last run failed: no space left on the device$/],
    ['only a LOCKED run: never run (it did not run)', [R('failed', LOCKED)], 'never run', /^no run yet/],
    ['L ok ended after R failed began and ended: L is the newer outcome', [L('ok'), R('failed')], 'ok', /^last run succeeded$/],
    ['L failed ended after R ok: failing', [L('failed'), R('ok')], 'failing', /^the last run failed/],
  ];
  it.each(cases)('%s', (_name, runs, verdict, reason) => {
    const status = jobStatus(base({ runs, now, scheduleSince: new Date('2026-11-29T12:00:00Z') }));
    expect(status.verdict).toBe(verdict);
    expect(status.reason).toMatch(reason);
  });

  it('a LOCKED run is still listed (lastOther), never as the last run or the last failure', () => {
    const runs = [L('ok'), R('failed', LOCKED)];
    const status = jobStatus(base({ runs, now }));
    expect(status.lastRun).toMatchObject({ id: runs[0]!.id, outcome: 'ok' });
    expect(status.lastFailure).toBeNull();
    expect(status.lastOther).toEqual([expect.objectContaining({ id: runs[1]!.id, outcome: 'failed', error: LOCKED.error })]);
    expect(status.lastSuccess).toMatchObject({ at: '2026-11-30T02:40:00.000Z' });
  });
});

describe('a run without an end: alive, killed by a reboot, or on another host', () => {
  const thisBoot = readFileSync(BOOT_ID_FILE, 'utf8').trim();
  let deadPid = 0;
  beforeAll(async () => {
    // A real process that has exited: its pid is gone.
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.on('exit', resolve));
    deadPid = child.pid!;
  });

  it('the boot id: read from /proc once, undefined when unreadable', () => {
    expect(thisBoot).toMatch(/^[0-9a-f-]{36}$/);
    expect(readBootId()).toBe(thisBoot);
    expect(currentBootId()).toBe(thisBoot);
    expect(readBootId('/nonexistent/boot_id')).toBeUndefined();
  });

  // [name, the record's host, its boot id, its pid ('self': this process, alive; 'dead'), this machine's boot id, expected]
  const cases: Array<[string, string, string | undefined, 'self' | 'dead', string | undefined, boolean | undefined]> = [
    ['same host, same boot, process alive: alive', 'host1', 'boot-a', 'self', 'boot-a', true],
    ['same host, same boot, process gone: dead', 'host1', 'boot-a', 'dead', 'boot-a', false],
    ['same host, another boot (rebooted; the pid is someone else now): dead', 'host1', 'boot-a', 'self', 'boot-b', false],
    ['same host, a record without a boot id: the process decides', 'host1', undefined, 'self', 'boot-a', true],
    ['same host, this boot id unreadable: the process decides', 'host1', 'boot-a', 'self', undefined, true],
    ['same host, neither has one, process gone: dead', 'host1', undefined, 'dead', undefined, false],
    ['another host: cannot tell, even with the same boot id', 'host2', 'boot-a', 'self', 'boot-a', undefined],
  ];
  it.each(cases)('%s', (_name, host, bootId, pid, hereBoot, expected) => {
    const record = run(0, 'running', { host, pid: pid === 'self' ? process.pid : deadPid, ...(bootId ? { bootId } : {}) });
    const alive = runAlive(record, { host: 'host1', bootId: hereBoot }, () =>
      isOwnerAlive({ pid: record.pid, host: record.host, started: record.start, command: record.command }, 'host1'),
    );
    expect(alive).toBe(expected);
  });

  // Another host (isAlive undefined): running until the run due after it began plus the grace (24 h without a schedule), then killed.
  const otherHost = (start: string): HistoryRecord => run(0, 'running', { host: 'host2', pid: 4242, start: new Date(start).toISOString(), end: null });
  const unknown = (): undefined => undefined;
  const before = okAt('2026-11-29T02:30:00Z');
  const verdicts: Array<[string, string | null, string, string, string, boolean]> = [
    // [name, schedule, open run's start, now, verdict, shown as running]
    // Running, and late: the last success (Sunday) is older than the Monday run that is still going.
    ['daily: open since Mon 02:30, Tue 14:29: running', 'daily 02:30', '2026-11-30T02:30:00Z', '2026-12-01T14:29:00Z', 'late', true],
    ['daily: open since Mon 02:30, Tue 14:31: killed', 'daily 02:30', '2026-11-30T02:30:00Z', '2026-12-01T14:31:00Z', 'failing', false],
    ['weekdays: open since Fri 02:00, Sunday: running', '0 2 * * 1-5', '2026-12-04T02:00:00Z', '2026-12-06T12:00:00Z', 'late', true],
    ['weekdays: open since Fri 02:00, Mon 14:01: killed', '0 2 * * 1-5', '2026-12-04T02:00:00Z', '2026-12-07T14:01:00Z', 'failing', false],
    ['no schedule: open for 23 h: running', null, '2026-11-30T02:30:00Z', '2026-12-01T01:30:00Z', 'ok', true],
    ['no schedule: open for 25 h: killed', null, '2026-11-30T02:30:00Z', '2026-12-01T03:30:00Z', 'failing', false],
  ];
  it.each(verdicts)('%s', (_name, text, start, now, verdict, running) => {
    const status = jobStatus(base({ schedule: text ? parseSchedule(text) : null, runs: [before, otherHost(start)], isAlive: unknown, now: new Date(now) }));
    expect(status.verdict).toBe(verdict);
    expect(status.running !== null).toBe(running);
    if (!running) {
      expect(status.reason).toBe('the last run was killed before it ended');
      expect(status.lastFailure).toMatchObject({ outcome: 'killed', code: 'KILLED', error: expect.stringMatching(/^the run started .* \(pid 4242 on host2, which cannot be checked from here\) had not ended by .*: it was killed, or the machine stopped$/) });
    }
  });

  it('the deadline follows a custom grace', () => {
    const status = (now: string) => jobStatus(base({ runs: [before, otherHost('2026-11-30T02:30:00Z')], isAlive: unknown, graceMs: H, now: new Date(now) }));
    expect(status('2026-12-01T03:29:00Z').running).toMatchObject({ host: 'host2', pid: 4242 });
    expect(status('2026-12-01T03:31:00Z').lastFailure).toMatchObject({ outcome: 'killed', error: expect.stringContaining('had not ended by 2026-12-01 03:30 UTC') });
  });
});
