/**
 * Verdicts (pure): a job's runs and schedule at an injected `now`.
 */
import { describe, expect, it } from 'vitest';
import { jobStatus, statusExitCode, type JobStatusInput } from '../../src/automation/status.js';
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
    ['no success within 24 h + 12 h grace: late', { runs: [run(0, 'ok')], now: at(36.1) }, 'late', /no successful run since 2026-11-28 02:30 UTC, expected every day at 02:30 \(at most 24 h apart\)/],
    ['a custom grace', { runs: [run(0, 'ok')], now: at(26), graceMs: H }, 'late', /no successful run/],
    ['last run failed: failing, even within the interval', { runs: [run(0, 'ok'), run(24, 'failed')], now: at(25) }, 'failing', /the last run failed: no space left/],
    ['failing wins over late', { runs: [run(0, 'failed')], now: at(100) }, 'failing', /failed/],
    ['a warning run made its backup: ok', { runs: [run(0, 'failed'), run(24, 'warning')], now: at(25) }, 'ok', /with warnings/],
    ['killed (start without end, process gone): failing', { runs: [run(0, 'ok'), run(24, 'running')], now: at(25) }, 'failing', /killed/],
    ['running now: the last finished run decides', { runs: [run(0, 'ok'), run(24, 'running')], isAlive: () => true, now: at(25) }, 'ok', /succeeded/],
    ['a run on another host (cannot tell): running', { runs: [run(0, 'ok'), run(24, 'running')], isAlive: () => undefined, now: at(25) }, 'ok', /succeeded/],
    ['Ctrl-C by a person is not a failure', { runs: [run(0, 'ok'), run(5, 'cancelled', { trigger: 'cli' })], now: at(6) }, 'ok', /succeeded/],
    ['a scheduled run cancelled (SIGTERM) is', { runs: [run(0, 'ok'), run(24, 'cancelled')], now: at(25) }, 'failing', /cancelled/],
    ['prune / verify runs do not make the verdict', { runs: [run(0, 'ok'), run(1, 'failed', { command: 'verify' })], now: at(2) }, 'ok', /succeeded/],
    ['never run, schedule new: never run', { scheduleSince: at(0), now: at(10) }, 'never run', /no run yet; late after 2026-11-29 14:30 UTC/],
    ['never run, scheduled for longer than interval + grace: late', { scheduleSince: at(0), now: at(37) }, 'late', /never run, although scheduled since 2026-11-28 02:30 UTC/],
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

  it('hourly and weekly schedules: interval and grace follow them (grace at least 1 h)', () => {
    const hourly = parseSchedule('hourly');
    expect(jobStatus(base({ schedule: hourly, runs: [run(0, 'ok')], now: at(1.9) })).verdict).toBe('ok');
    expect(jobStatus(base({ schedule: hourly, runs: [run(0, 'ok')], now: at(2.1) })).verdict).toBe('late');
    const weekly = parseSchedule('weekly');
    expect(jobStatus(base({ schedule: weekly, runs: [run(0, 'ok')], now: at(24 * 10) })).verdict).toBe('ok');
    expect(jobStatus(base({ schedule: weekly, runs: [run(0, 'ok')], now: at(24 * 10.6) })).verdict).toBe('late');
  });

  it('exit code: 0 only when every job is ok', () => {
    const ok = jobStatus(base({ runs: [run(0, 'ok')], now: at(2) }));
    const late = jobStatus(base({ runs: [run(0, 'ok')], now: at(40) }));
    expect(statusExitCode([ok])).toBe(0);
    expect(statusExitCode([ok, late])).toBe(1);
    expect(statusExitCode([])).toBe(1);
  });
});
