import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestInterval, nextRun, nextRuns, parseSchedule, previousRun, randomNightlySchedule, scheduleProblem } from '../../src/automation/schedule.js';

// Croner computes in the process's local time zone, as cron and systemd do.
// Each test file runs in its own forked process (vitest pool: forks), so the
// zone is pinned here: Berlin, for a DST change to measure.
const originalTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'Europe/Berlin';
});
afterAll(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

const HOUR = 3_600_000;

describe('parseSchedule: words', () => {
  it.each([
    ['hourly', '0 * * * *', 'every hour at minute 00'],
    ['hourly :15', '15 * * * *', 'every hour at minute 15'],
    ['hourly 15', '15 * * * *', 'every hour at minute 15'],
    ['@hourly', '0 * * * *', 'every hour at minute 00'],
    ['daily', '0 0 * * *', 'every day at 00:00'],
    ['daily 02:30', '30 2 * * *', 'every day at 02:30'],
    ['Daily  2:05', '5 2 * * *', 'every day at 02:05'],
    ['nightly', '0 0 * * *', 'every day at 00:00'],
    ['nightly 23:59', '59 23 * * *', 'every day at 23:59'],
    ['@daily', '0 0 * * *', 'every day at 00:00'],
    ['@midnight', '0 0 * * *', 'every day at 00:00'],
    ['weekly', '0 0 * * 0', 'every Sunday at 00:00'],
    ['weekly sun 03:00', '0 3 * * 0', 'every Sunday at 03:00'],
    ['weekly monday', '0 0 * * 1', 'every Monday at 00:00'],
    ['weekly 04:10 sat', '10 4 * * 6', 'every Saturday at 04:10'],
    ['@weekly', '0 0 * * 0', 'every Sunday at 00:00'],
    ['monthly', '0 0 1 * *', 'on day 1 of every month at 00:00'],
    ['monthly 15 04:00', '0 4 15 * *', 'on day 15 of every month at 04:00'],
    ['@monthly', '0 0 1 * *', 'on day 1 of every month at 00:00'],
    ['yearly', '0 0 1 1 *', 'every 1 January at 00:00'],
    ['@annually', '0 0 1 1 *', 'every 1 January at 00:00'],
  ])('%s -> %s', (text, cron, description) => {
    expect(parseSchedule(text)).toEqual({ text, cron, hasSeconds: false, description });
  });
});

describe('parseSchedule: cron', () => {
  it.each([
    ['0 2 * * *', false],
    ['*/15 1-5 * * mon-fri', false],
    ['0 0 1,15 * 0', false],
    ['  30   2 * * *  ', false],
    ['*/10 * * * * *', true],
    ['0 30 2 * * *', true],
  ])('%s (seconds: %s)', (text, hasSeconds) => {
    const schedule = parseSchedule(text);
    expect(schedule.hasSeconds).toBe(hasSeconds);
    expect(schedule.cron).toBe(text.trim().split(/\s+/).join(' '));
    expect(schedule.description).toBe(`cron "${schedule.cron}"`);
  });
});

describe('parseSchedule: errors', () => {
  it.each([
    ['', /the schedule is empty; e\.g\. "daily 02:30"/],
    ['   ', /the schedule is empty/],
    ['daily 25:00', /"daily 25:00": 25:00 is not a time of day \(00:00 to 23:59\)/],
    ['daily 02:60', /not a time of day/],
    ['daily noon', /"noon" is not a time; write it as HH:MM, e\.g\. 02:30/],
    ['daily 02:30 extra', /expected "daily" or "daily HH:MM"/],
    ['hourly :75', /expected "hourly :MM" with MM from 00 to 59/],
    ['weekly funday', /expected "weekly", "weekly DAY" or "weekly DAY HH:MM"/],
    ['weekly mon tue', /expected "weekly"/],
    ['monthly 31', /day 31 of the month: use 1 to 28/],
    ['monthly 0', /use 1 to 28/],
    ['yearly 02:00', /expected "yearly" alone/],
    ['@reboot', /unknown schedule word/],
    ['0 0 1 1 * 2027 x', /neither a schedule word nor a cron expression \(5 fields, or 6 with seconds\)/],
    ['0 0 1 1 * 2027 *', /neither a schedule word nor a cron expression/],
    ['every day', /neither a schedule word nor a cron expression/],
    ['garbage', /neither a schedule word nor a cron expression/],
    ['61 * * * *', /is not a valid cron expression/],
    ['a b c d e', /is not a valid cron expression/],
    ['0 0 31 2 *', /never runs|not a valid/],
    ['daily\n02:30', /control character/],
  ])('%j is refused', (text, message) => {
    expect(() => parseSchedule(text)).toThrow(message);
    expect(scheduleProblem(text)).toMatch(message);
  });

  it('says nothing about a good one', () => {
    expect(scheduleProblem('daily 02:30')).toBeUndefined();
  });
});

describe('run times (Europe/Berlin)', () => {
  const at = (iso: string): Date => new Date(iso);

  it('daily 02:30: next and previous', () => {
    const s = parseSchedule('daily 02:30');
    // 2026-06-10 12:00 Berlin (CEST, UTC+2)
    expect(nextRun(s, at('2026-06-10T10:00:00Z'))?.toISOString()).toBe('2026-06-11T00:30:00.000Z');
    expect(previousRun(s, at('2026-06-10T10:00:00Z'))?.toISOString()).toBe('2026-06-10T00:30:00.000Z');
    // Strictly after: a run exactly now is not the next one.
    expect(nextRun(s, at('2026-06-11T00:30:00Z'))?.toISOString()).toBe('2026-06-12T00:30:00.000Z');
    expect(nextRuns(s, at('2026-06-10T10:00:00Z'), 3).map((d) => d.toISOString())).toEqual([
      '2026-06-11T00:30:00.000Z',
      '2026-06-12T00:30:00.000Z',
      '2026-06-13T00:30:00.000Z',
    ]);
  });

  it('weekly sun 03:00 and monthly 15 04:00', () => {
    // 2026-06-10 is a Wednesday.
    expect(nextRun(parseSchedule('weekly sun 03:00'), at('2026-06-10T10:00:00Z'))?.toISOString()).toBe('2026-06-14T01:00:00.000Z');
    expect(nextRun(parseSchedule('monthly 15 04:00'), at('2026-06-20T10:00:00Z'))?.toISOString()).toBe('2026-07-15T02:00:00.000Z');
  });

  it('cron OR: day of month 1 or any Sunday', () => {
    const s = parseSchedule('0 0 1 * 0');
    // From Wed 2026-06-10: Sunday 14th comes before 1 July.
    expect(nextRun(s, at('2026-06-10T10:00:00Z'))?.toISOString()).toBe('2026-06-13T22:00:00.000Z');
  });

  it('seconds: every 10 seconds', () => {
    const s = parseSchedule('*/10 * * * * *');
    expect(nextRuns(s, at('2026-06-10T10:00:03Z'), 2).map((d) => d.toISOString())).toEqual(['2026-06-10T10:00:10.000Z', '2026-06-10T10:00:20.000Z']);
  });

  it('longestInterval: hourly 1 h, daily 24 h, 25 h across the autumn DST change, monthly 31 days', () => {
    expect(longestInterval(parseSchedule('hourly'), at('2026-06-10T10:00:00Z'))).toBe(HOUR);
    expect(longestInterval(parseSchedule('daily 02:30'), at('2026-06-10T10:00:00Z'), 10)).toBe(24 * HOUR);
    // Berlin leaves summer time on 2026-10-25 (03:00 CEST -> 02:00 CET).
    expect(longestInterval(parseSchedule('daily 02:30'), at('2026-10-20T10:00:00Z'), 10)).toBe(25 * HOUR);
    expect(longestInterval(parseSchedule('weekly'), at('2026-06-10T10:00:00Z'), 5)).toBe(7 * 24 * HOUR);
    expect(longestInterval(parseSchedule('monthly'), at('2026-06-10T10:00:00Z'), 12)).toBe((31 * 24 + 1) * HOUR); // October: 31 days and the hour given back
  });
});

describe('randomNightlySchedule', () => {
  it.each([
    [0, 'daily 01:00'],
    [0.5, 'daily 03:00'],
    [0.9999, 'daily 04:59'],
  ])('random %s -> %s', (r, text) => {
    expect(randomNightlySchedule(() => r)).toBe(text);
    expect(scheduleProblem(text)).toBeUndefined();
  });
});
