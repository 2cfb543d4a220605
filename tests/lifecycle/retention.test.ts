import { afterEach, describe, expect, it } from 'vitest';
import {
  applyRetention,
  describePolicy,
  isEmptyPolicy,
  parseDuration,
  subtractDuration,
  type RetentionPolicy,
} from '../../src/lifecycle/retention.js';

/** A backup named by its UTC time, written `YYYY-MM-DD HH:MM`. */
interface Backup {
  id: string;
  time: Date;
}

const backup = (id: string, time = id): Backup => ({ id, time: new Date(`${time.replace(' ', 'T')}:00Z`) });

interface Row {
  name: string;
  policy: RetentionPolicy;
  /** UTC times, in the (deliberately unsorted) order they are passed in. */
  times: string[];
  /** Kept times, newest first. */
  kept: string[];
  /** Exact reasons for some of the backups. */
  reasons?: Record<string, string[]>;
}

const rows: Row[] = [
  {
    name: 'keep-last keeps the N newest, whatever the calendar',
    policy: { keepLast: 3 },
    times: ['2025-01-05 10:00', '2026-07-15 12:00', '2025-03-01 10:00', '2026-01-01 00:30', '2025-06-01 10:00', '2025-12-31 23:00'],
    kept: ['2026-07-15 12:00', '2026-01-01 00:30', '2025-12-31 23:00'],
    reasons: {
      '2026-07-15 12:00': ['newest', 'last 3'],
      '2026-01-01 00:30': ['last 3'],
      '2025-12-31 23:00': ['last 3'],
      '2025-06-01 10:00': [],
    },
  },
  {
    name: 'keep-last larger than the list keeps everything',
    policy: { keepLast: 10 },
    times: ['2025-02-01 10:00', '2026-02-01 10:00'],
    kept: ['2026-02-01 10:00', '2025-02-01 10:00'],
  },
  {
    name: 'hourly: newest of each hour that has a backup; an empty hour uses no slot',
    policy: { keepHourly: 3 },
    times: ['2026-11-20 10:30', '2026-11-20 11:01', '2026-11-20 11:59', '2026-11-20 13:10', '2026-11-20 14:05', '2026-11-20 14:55'],
    kept: ['2026-11-20 14:55', '2026-11-20 13:10', '2026-11-20 11:59'],
    reasons: {
      '2026-11-20 14:55': ['newest', 'hourly 2026-11-20 14:00'],
      '2026-11-20 13:10': ['hourly 2026-11-20 13:00'],
      '2026-11-20 11:59': ['hourly 2026-11-20 11:00'],
    },
  },
  {
    name: 'daily: ties in one day keep only the newest of the day; the empty 18th uses no slot',
    policy: { keepDaily: 3 },
    times: [
      '2026-11-20 08:00',
      '2026-11-20 14:00',
      '2026-11-20 20:00',
      '2026-11-19 09:00',
      '2026-11-19 21:00',
      '2026-11-17 12:00',
      '2026-11-16 12:00',
      '2026-11-10 12:00',
    ],
    kept: ['2026-11-20 20:00', '2026-11-19 21:00', '2026-11-17 12:00'],
    reasons: {
      '2026-11-20 20:00': ['newest', 'daily 2026-11-20'],
      '2026-11-19 21:00': ['daily 2026-11-19'],
      '2026-11-17 12:00': ['daily 2026-11-17'],
      '2026-11-20 14:00': [],
    },
  },
  {
    name: 'daily: a daily backup over two weeks with gaps; counts only days with a backup',
    policy: { keepDaily: 4 },
    times: ['2026-01-02 03:00', '2026-01-05 03:00', '2026-01-12 03:00', '2026-01-13 03:00', '2026-01-14 03:00'],
    kept: ['2026-01-14 03:00', '2026-01-13 03:00', '2026-01-12 03:00', '2026-01-05 03:00'],
  },
  {
    name: 'oldest rule (restic >= 0.16): counts left, so the oldest is kept although it shares its day',
    policy: { keepDaily: 7 },
    times: ['2026-11-01 09:00', '2026-11-01 18:00', '2026-11-02 10:00'],
    kept: ['2026-11-02 10:00', '2026-11-01 18:00', '2026-11-01 09:00'],
    reasons: {
      '2026-11-02 10:00': ['newest', 'daily 2026-11-02'],
      '2026-11-01 18:00': ['daily 2026-11-01'],
      '2026-11-01 09:00': ['daily 2026-11-01 (oldest)'],
    },
  },
  {
    name: 'oldest rule: no count left, so the oldest goes',
    policy: { keepDaily: 2 },
    times: ['2026-11-01 09:00', '2026-11-01 18:00', '2026-11-02 10:00'],
    kept: ['2026-11-02 10:00', '2026-11-01 18:00'],
  },
  {
    name: 'weekly: ISO weeks across 2026/2027 (2026-12-28..2027-01-03 is 2026-W53)',
    policy: { keepWeekly: 3 },
    times: [
      '2026-12-20 10:00',
      '2026-12-21 10:00',
      '2026-12-27 10:00',
      '2026-12-31 10:00',
      '2027-01-01 10:00',
      '2027-01-03 10:00',
      '2027-01-05 10:00',
    ],
    kept: ['2027-01-05 10:00', '2027-01-03 10:00', '2026-12-27 10:00'],
    reasons: {
      '2027-01-05 10:00': ['newest', 'weekly 2027-W01'],
      '2027-01-03 10:00': ['weekly 2026-W53'],
      '2026-12-27 10:00': ['weekly 2026-W52'],
      '2027-01-01 10:00': [],
    },
  },
  {
    name: 'weekly: 2024-12-30 is ISO 2025-W01, the same week as 2025-01-02',
    policy: { keepWeekly: 2 },
    times: ['2024-12-23 10:00', '2024-12-29 20:00', '2024-12-30 08:00', '2025-01-02 10:00'],
    kept: ['2025-01-02 10:00', '2024-12-29 20:00'],
    reasons: {
      '2025-01-02 10:00': ['newest', 'weekly 2025-W01'],
      '2024-12-29 20:00': ['weekly 2024-W52'],
    },
  },
  {
    name: 'weekly: weeks without a backup use no slot',
    policy: { keepWeekly: 3 },
    times: ['2025-06-02 10:00', '2025-09-01 10:00', '2025-10-06 10:00', '2025-10-07 10:00', '2026-02-02 10:00'],
    kept: ['2026-02-02 10:00', '2025-10-07 10:00', '2025-09-01 10:00'],
  },
  {
    name: 'monthly: month ends, the last backup of each month is kept',
    policy: { keepMonthly: 3 },
    times: ['2025-11-30 12:00', '2025-12-31 23:59', '2026-01-31 12:00', '2026-02-28 23:59', '2026-03-01 00:00', '2026-03-31 23:59'],
    kept: ['2026-03-31 23:59', '2026-02-28 23:59', '2026-01-31 12:00'],
    reasons: {
      '2026-03-31 23:59': ['newest', 'monthly 2026-03'],
      '2026-02-28 23:59': ['monthly 2026-02'],
      '2026-01-31 12:00': ['monthly 2026-01'],
    },
  },
  {
    name: 'monthly: months without a backup use no slot',
    policy: { keepMonthly: 3 },
    times: ['2025-08-01 10:00', '2025-09-01 10:00', '2026-02-10 10:00', '2026-06-15 10:00'],
    kept: ['2026-06-15 10:00', '2026-02-10 10:00', '2025-09-01 10:00'],
  },
  {
    name: 'yearly: the last backup of each year',
    policy: { keepYearly: 2 },
    times: ['2024-12-31 23:59', '2025-01-01 00:00', '2025-12-31 23:00', '2026-01-01 00:00', '2026-06-01 10:00'],
    kept: ['2026-06-01 10:00', '2025-12-31 23:00'],
    reasons: { '2026-06-01 10:00': ['newest', 'yearly 2026'], '2025-12-31 23:00': ['yearly 2025'] },
  },
  {
    name: 'yearly: backups that began mid-year keep the oldest too (restic issue #3624)',
    policy: { keepYearly: 5 },
    times: ['2025-06-01 10:00', '2025-11-01 10:00', '2026-03-01 10:00'],
    kept: ['2026-03-01 10:00', '2025-11-01 10:00', '2025-06-01 10:00'],
    reasons: {
      '2026-03-01 10:00': ['newest', 'yearly 2026'],
      '2025-11-01 10:00': ['yearly 2025'],
      '2025-06-01 10:00': ['yearly 2025 (oldest)'],
    },
  },
  {
    name: 'keep-within is measured from the newest backup, not from now, and is strict',
    policy: { keepWithin: '7d' },
    times: ['2025-02-20 12:00', '2025-03-03 11:59', '2025-03-03 12:00', '2025-03-03 12:01', '2025-03-05 12:00', '2025-03-10 12:00'],
    kept: ['2025-03-10 12:00', '2025-03-05 12:00', '2025-03-03 12:01'],
    reasons: {
      '2025-03-10 12:00': ['newest', 'within 7d'],
      '2025-03-03 12:01': ['within 7d'],
      '2025-03-03 12:00': [],
    },
  },
  {
    name: 'keep-within months subtract like Go AddDate: 2026-03-31 minus 1m is 2026-03-03',
    policy: { keepWithin: '1m' },
    times: ['2026-03-01 10:00', '2026-03-03 09:00', '2026-03-03 10:30', '2026-03-31 10:00'],
    kept: ['2026-03-31 10:00', '2026-03-03 10:30'],
  },
  {
    name: 'keep-within with hours: 1d12h',
    policy: { keepWithin: '1d12h' },
    times: ['2026-05-08 23:00', '2026-05-09 00:30', '2026-05-10 12:00'],
    kept: ['2026-05-10 12:00', '2026-05-09 00:30'],
  },
  {
    name: 'rules are ORed and the reasons merged',
    policy: { keepLast: 2, keepDaily: 3, keepWeekly: 2, keepMonthly: 2, keepWithin: '2d' },
    times: [
      '2026-10-01 18:00',
      '2026-10-31 18:00',
      '2026-11-08 18:00',
      '2026-11-15 18:00',
      '2026-11-19 18:00',
      '2026-11-20 09:00',
      '2026-11-20 18:00',
    ],
    kept: ['2026-11-20 18:00', '2026-11-20 09:00', '2026-11-19 18:00', '2026-11-15 18:00', '2026-10-31 18:00'],
    reasons: {
      '2026-11-20 18:00': ['newest', 'within 2d', 'last 2', 'daily 2026-11-20', 'weekly 2026-W47', 'monthly 2026-11'],
      '2026-11-20 09:00': ['within 2d', 'last 2'],
      '2026-11-19 18:00': ['within 2d', 'daily 2026-11-19'],
      '2026-11-15 18:00': ['daily 2026-11-15', 'weekly 2026-W46'],
      '2026-11-08 18:00': [],
      '2026-10-31 18:00': ['monthly 2026-10'],
      '2026-10-01 18:00': [],
    },
  },
  {
    name: 'the newest is always kept, even by an empty policy',
    policy: {},
    times: ['2025-04-01 10:00', '2026-04-01 10:00', '2025-10-01 10:00'],
    kept: ['2026-04-01 10:00'],
    reasons: { '2026-04-01 10:00': ['newest'], '2025-10-01 10:00': [] },
  },
  {
    name: 'counts of 0 switch a rule off: the newest is still kept',
    policy: { keepLast: 0, keepDaily: 0, keepYearly: 0 },
    times: ['2025-04-01 10:00', '2026-04-01 10:00'],
    kept: ['2026-04-01 10:00'],
    reasons: { '2026-04-01 10:00': ['newest'] },
  },
  {
    name: 'a single backup',
    policy: { keepDaily: 3 },
    times: ['2026-04-01 10:00'],
    kept: ['2026-04-01 10:00'],
    reasons: { '2026-04-01 10:00': ['newest', 'daily 2026-04-01'] },
  },
];

describe('applyRetention (UTC)', () => {
  it.each(rows)('$name', ({ policy, times, kept, reasons }) => {
    const decisions = applyRetention(times.map((t) => backup(t)), policy, { timeZone: 'utc' });
    expect(decisions).toHaveLength(times.length);
    expect(decisions.filter((d) => d.keep).map((d) => d.item.id)).toEqual(kept);
    for (const d of decisions) {
      if (!d.keep) expect(d.reasons, d.item.id).toEqual([]);
      else expect(d.reasons.length, d.item.id).toBeGreaterThan(0);
    }
    for (const [id, expected] of Object.entries(reasons ?? {})) {
      expect(decisions.find((d) => d.item.id === id)?.reasons, id).toEqual(expected);
    }
  });

  it('returns every backup newest first, without touching the input', () => {
    const input = ['2025-07-01 10:00', '2026-07-01 10:00', '2025-01-01 10:00', '2026-01-01 10:00'].map((t) => backup(t));
    const before = input.map((b) => b.id);
    const decisions = applyRetention(input, { keepLast: 1 }, { timeZone: 'utc' });
    expect(decisions.map((d) => d.item.id)).toEqual(['2026-07-01 10:00', '2026-01-01 10:00', '2025-07-01 10:00', '2025-01-01 10:00']);
    expect(decisions.map((d) => d.keep)).toEqual([true, false, false, false]);
    expect(input.map((b) => b.id)).toEqual(before);
    expect(decisions[0]?.item).toBe(input[1]);
  });

  it('keeps input order for exactly equal times (stable), and counts each one for keep-last', () => {
    const same = '2026-05-05 12:00';
    const input = [backup('d', '2026-05-04 12:00'), backup('a', same), backup('b', same), backup('c', same)];
    const decisions = applyRetention(input, { keepLast: 2 }, { timeZone: 'utc' });
    expect(decisions.map((d) => [d.item.id, d.keep])).toEqual([
      ['a', true],
      ['b', true],
      ['c', false],
      ['d', false],
    ]);
    expect(decisions[0]?.reasons).toEqual(['newest', 'last 2']);

    const reversed = applyRetention([input[3], input[2], input[1], input[0]] as Backup[], { keepLast: 2 }, { timeZone: 'utc' });
    expect(reversed.map((d) => [d.item.id, d.keep])).toEqual([
      ['c', true],
      ['b', true],
      ['a', false],
      ['d', false],
    ]);
  });

  it('keeps one of several backups with the same time for a daily rule (the first given)', () => {
    const same = '2026-05-05 12:00';
    const input = [backup('a', same), backup('b', same), backup('c', same), backup('d', '2026-05-04 12:00')];
    const decisions = applyRetention(input, { keepDaily: 1 }, { timeZone: 'utc' });
    expect(decisions.map((d) => [d.item.id, d.reasons])).toEqual([
      ['a', ['newest', 'daily 2026-05-05']],
      ['b', []],
      ['c', []],
      ['d', []],
    ]);
  });

  it('returns nothing for no backups', () => {
    expect(applyRetention([], { keepLast: 3 })).toEqual([]);
  });

  it('refuses a bad keep-within duration', () => {
    expect(() => applyRetention([backup('2026-01-01 10:00')], { keepWithin: '2w' }, { timeZone: 'utc' })).toThrow(/weeks/);
  });
});

describe('local time zone', () => {
  const original = process.env.TZ;
  afterEach(() => {
    if (original === undefined) delete process.env.TZ;
    else process.env.TZ = original;
  });

  it('puts 2026-03-01T03:00Z in daily bucket 2026-02-28 in New York (the default), 2026-03-01 in UTC', () => {
    process.env.TZ = 'America/New_York';
    const item = { id: 'x', time: new Date('2026-03-01T03:00:00Z') };
    expect(applyRetention([item], { keepDaily: 1 })[0]?.reasons).toEqual(['newest', 'daily 2026-02-28']);
    expect(applyRetention([item], { keepDaily: 1 }, { timeZone: 'local' })[0]?.reasons).toEqual(['newest', 'daily 2026-02-28']);
    expect(applyRetention([item], { keepDaily: 1 }, { timeZone: 'utc' })[0]?.reasons).toEqual(['newest', 'daily 2026-03-01']);
  });

  it('keeps a different set when local days differ from UTC days', () => {
    process.env.TZ = 'America/New_York';
    const input = [
      { id: 'mar1-0100-local', time: new Date('2026-03-01T06:00:00Z') },
      { id: 'feb28-2200-local', time: new Date('2026-03-01T03:00:00Z') },
      { id: 'feb27-0700-local', time: new Date('2026-02-27T12:00:00Z') },
    ];
    const kept = (timeZone: 'local' | 'utc'): string[] =>
      applyRetention(input, { keepDaily: 2 }, { timeZone })
        .filter((d) => d.keep)
        .map((d) => d.item.id);
    expect(kept('local')).toEqual(['mar1-0100-local', 'feb28-2200-local']);
    expect(kept('utc')).toEqual(['mar1-0100-local', 'feb27-0700-local']);
  });

  it('subtracts calendar days in local time across the DST change (23 hours)', () => {
    process.env.TZ = 'America/New_York';
    const from = new Date('2026-03-08T16:00:00Z'); // 12:00 EDT, the first day of summer time
    const oneDay = { years: 0, months: 0, days: 1, hours: 0 };
    expect(subtractDuration(from, oneDay).toISOString()).toBe('2026-03-07T17:00:00.000Z'); // 12:00 EST
    expect(subtractDuration(from, oneDay, 'utc').toISOString()).toBe('2026-03-07T16:00:00.000Z');
  });
});

describe('subtractDuration (UTC)', () => {
  it.each([
    ['2026-11-20T14:00:00Z', { years: 1, months: 5, days: 7, hours: 2 }, '2025-06-13T12:00:00.000Z'],
    ['2026-01-01T06:00:00Z', { years: 0, months: 0, days: 0, hours: 36 }, '2025-12-30T18:00:00.000Z'],
    ['2026-03-31T10:00:00Z', { years: 0, months: 1, days: 0, hours: 0 }, '2026-03-03T10:00:00.000Z'],
    ['2028-02-29T00:00:00Z', { years: 1, months: 0, days: 0, hours: 0 }, '2027-03-01T00:00:00.000Z'],
    ['2026-01-15T08:30:00Z', { years: 0, months: 0, days: 30, hours: 0 }, '2025-12-16T08:30:00.000Z'],
  ])('%s minus %j = %s', (from, d, expected) => {
    expect(subtractDuration(new Date(from), d, 'utc').toISOString()).toBe(expected);
  });
});

describe('isEmptyPolicy', () => {
  it.each<[RetentionPolicy, boolean]>([
    [{}, true],
    [{ keepLast: 0 }, true],
    [{ keepLast: 0, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 }, true],
    [{ keepWithin: '' }, true],
    [{ keepLast: 1 }, false],
    [{ keepHourly: 24 }, false],
    [{ keepWeekly: 1 }, false],
    [{ keepYearly: 1 }, false],
    [{ keepDaily: 0, keepWithin: '7d' }, false],
  ])('%j -> %s', (policy, expected) => {
    expect(isEmptyPolicy(policy)).toBe(expected);
  });
});

describe('describePolicy', () => {
  it.each<[RetentionPolicy, string]>([
    [{ keepLast: 3, keepDaily: 7, keepWeekly: 4, keepWithin: '30d' }, 'last 3, daily 7, weekly 4, within 30d'],
    [{ keepYearly: 2, keepHourly: 24, keepMonthly: 6, keepLast: 1 }, 'last 1, hourly 24, monthly 6, yearly 2'],
    [{ keepDaily: 0, keepWeekly: 1 }, 'weekly 1'],
    [{ keepWithin: '1y5m7d2h' }, 'within 1y5m7d2h'],
    [{}, 'no rules'],
  ])('%j -> %s', (policy, expected) => {
    expect(describePolicy(policy)).toBe(expected);
  });
});

describe('parseDuration', () => {
  it.each([
    ['30d', { years: 0, months: 0, days: 30, hours: 0 }],
    ['1y5m7d2h', { years: 1, months: 5, days: 7, hours: 2 }],
    ['2h', { years: 0, months: 0, days: 0, hours: 2 }],
    [' 12m ', { years: 0, months: 12, days: 0, hours: 0 }],
    ['7d1y', { years: 1, months: 0, days: 7, hours: 0 }],
    ['0y3d', { years: 0, months: 0, days: 3, hours: 0 }],
  ])('%j -> %j', (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
  });

  it.each([
    ['', /the duration is empty: expected a duration like 30d/],
    ['   ', /the duration is empty/],
    ['2w', /invalid duration "2w": expected a duration like 30d.*weeks \(w\) are not supported, write 14d instead/],
    ['30', /invalid duration "30": expected a duration like 30d/],
    ['d', /invalid duration "d"/],
    ['1.5d', /invalid duration "1\.5d"/],
    ['-1d', /invalid duration "-1d"/],
    ['30 d', /invalid duration "30 d"/],
    ['30D', /units are lower case and "m" means months/],
    ['5min', /units are lower case and "m" means months/],
    ['1d2d', /the unit "d" appears twice/],
    ['0d', /invalid duration "0d": it must be longer than zero/],
    ['0y0m0d0h', /it must be longer than zero/],
    ['99999999999999999999d', /is too large/],
  ])('%j is refused', (text, message) => {
    expect(() => parseDuration(text)).toThrow(message);
  });
});
