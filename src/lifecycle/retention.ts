/**
 * Retention: which backups a `--keep-*` policy keeps and which it removes.
 * Pure: no I/O, no clock; the newest backup is the reference point.
 *
 * The semantics are those of restic's `forget` policy, `ApplyPolicy` in
 * restic/internal/data/snapshot_policy.go (master; the same function lived in
 * internal/restic/snapshot_policy.go up to 0.18), with the "keep the oldest"
 * rule released in restic 0.16.0 (issue #3624, PR #4366) and its "oldest"
 * label added by PR #5039 (restic docs, "Removing snapshots according to a
 * policy"):
 *
 * - Backups are sorted newest first, stably (equal times keep input order).
 * - The rules are ORed: a backup is kept if any rule keeps it, and every rule
 *   that keeps it is listed in `reasons`.
 * - `keepLast N` keeps the N newest backups.
 * - Each calendar rule (hourly, daily, weekly, monthly, yearly) walks the
 *   backups newest first with a count of N: a backup is kept when its bucket
 *   (e.g. its day) differs from the bucket of the last backup this rule kept
 *   and the count is not used up; keeping one uses one count. So only periods
 *   that contain a backup count: a day without a backup uses no daily slot, and
 *   within one period only the newest backup is kept.
 * - "Keep the oldest": when the walk reaches the oldest backup and the rule
 *   still has counts left, the oldest backup is kept too, even if it shares its
 *   bucket with the last one kept (restic `|| nr == len(list)-1`). Its reason
 *   then reads e.g. `daily 2026-11-01 (oldest)` (restic: "oldest daily
 *   snapshot"). This keeps the longest history while the counts allow.
 * - Weeks are ISO 8601 weeks (Monday to Sunday) numbered within the ISO
 *   week-numbering year, like Go's `time.ISOWeek`: 2024-12-30 is 2025-W01.
 * - `keepWithin` keeps every backup strictly newer than (newest backup's time
 *   minus the duration), computed like Go's `AddDate(-y, -m, -d)` followed by
 *   `Add(-h hours)`: calendar subtraction with day overflow normalised
 *   (2026-03-31 minus 1m is 2026-03-03), then hours as elapsed time. It is
 *   measured from the newest backup, not from now.
 * - Calendar buckets and calendar subtraction use local time (the default, the
 *   process's TZ) or UTC.
 *
 * Our rules on top of restic:
 * - The newest backup is ALWAYS kept, whatever the policy, with the reason
 *   `newest` (listed first). A policy can therefore never remove every backup.
 *   This matters only where restic itself would keep nothing: an empty policy
 *   (restic's ApplyPolicy keeps nothing; its `forget` command refuses the
 *   policy instead, and callers should refuse it with `isEmptyPolicy` too).
 * - restic takes as "newest" the newest snapshot that is not in the future
 *   (it reads the clock); this module has no clock, so the newest backup is
 *   simply the one with the latest time.
 * - restic's `unlimited` (-1) counts, `--keep-tag` and `--keep-within-daily`
 *   and friends are not offered.
 */
import { parseDuration, type Duration } from '../config/duration.js';

export { parseDuration, type Duration };

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  /** restic duration syntax: `1y5m7d2h` (years, months, days, hours). */
  keepWithin?: string;
}

export interface Dated {
  time: Date;
}

export interface RetentionDecision<T extends Dated> {
  item: T;
  keep: boolean;
  /** Why the item is kept, e.g. `daily 2026-11-20`; empty when it is removed. */
  reasons: string[];
}

export interface RetentionOptions {
  /** Calendar buckets in local time (default) or UTC. */
  timeZone?: 'local' | 'utc';
}

type TimeZone = 'local' | 'utc';

interface CalendarParts {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function calendarParts(time: Date, timeZone: TimeZone): CalendarParts {
  return timeZone === 'utc'
    ? { year: time.getUTCFullYear(), month: time.getUTCMonth() + 1, day: time.getUTCDate(), hour: time.getUTCHours() }
    : { year: time.getFullYear(), month: time.getMonth() + 1, day: time.getDate(), hour: time.getHours() };
}

/** ISO 8601 week of a calendar date: the week (Monday-Sunday) holding its Thursday decides the year. */
function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay(); // Monday = 1 ... Sunday = 7
  const thursday = new Date(date.getTime() + (4 - weekday) * 86_400_000);
  const isoYear = thursday.getUTCFullYear();
  const januaryFirst = new Date(0);
  januaryFirst.setUTCFullYear(isoYear, 0, 1);
  const week = Math.floor((thursday.getTime() - januaryFirst.getTime()) / (7 * 86_400_000)) + 1;
  return { year: isoYear, week };
}

type BucketName = 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

/** The bucket a time falls in, written as it appears in reasons (`2026-11-20`, `2026-W47`...). */
function bucketLabel(name: BucketName, p: CalendarParts): string {
  const year = pad(p.year, 4);
  switch (name) {
    case 'hourly':
      return `${year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:00`;
    case 'daily':
      return `${year}-${pad(p.month)}-${pad(p.day)}`;
    case 'weekly': {
      const w = isoWeek(p.year, p.month, p.day);
      return `${pad(w.year, 4)}-W${pad(w.week)}`;
    }
    case 'monthly':
      return `${year}-${pad(p.month)}`;
    case 'yearly':
      return year;
  }
}

type CountKey = 'keepHourly' | 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly';

const CALENDAR_RULES: ReadonlyArray<{ name: BucketName; key: CountKey }> = [
  { name: 'hourly', key: 'keepHourly' },
  { name: 'daily', key: 'keepDaily' },
  { name: 'weekly', key: 'keepWeekly' },
  { name: 'monthly', key: 'keepMonthly' },
  { name: 'yearly', key: 'keepYearly' },
];

function count(value: number | undefined): number {
  return value !== undefined && value > 0 ? value : 0;
}

function hasWithin(policy: RetentionPolicy): policy is RetentionPolicy & { keepWithin: string } {
  return policy.keepWithin !== undefined && policy.keepWithin.trim() !== '';
}

/** True when the policy has no rule with a count >= 1 and no `keepWithin`: it would keep only the newest backup. */
export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return (
    count(policy.keepLast) === 0 && CALENDAR_RULES.every((rule) => count(policy[rule.key]) === 0) && !hasWithin(policy)
  );
}

/** A short human summary, e.g. `last 3, daily 7, weekly 4, within 30d`; `no rules` for an empty policy. */
export function describePolicy(policy: RetentionPolicy): string {
  const parts: string[] = [];
  if (count(policy.keepLast) > 0) parts.push(`last ${policy.keepLast}`);
  for (const rule of CALENDAR_RULES) {
    const n = count(policy[rule.key]);
    if (n > 0) parts.push(`${rule.name} ${n}`);
  }
  if (hasWithin(policy)) parts.push(`within ${policy.keepWithin}`);
  return parts.length > 0 ? parts.join(', ') : 'no rules';
}

/**
 * `from` minus `d`, as restic computes it: Go's `AddDate(-years, -months, -days)`
 * in the given time zone (overflowing days roll over: 2026-03-31 minus 1 month
 * is 2026-03-03), then minus `hours` of elapsed time.
 */
export function subtractDuration(from: Date, d: Duration, timeZone: TimeZone = 'local'): Date {
  const result = new Date(from.getTime());
  if (timeZone === 'utc') {
    result.setUTCFullYear(from.getUTCFullYear() - d.years, from.getUTCMonth() - d.months, from.getUTCDate() - d.days);
  } else {
    result.setFullYear(from.getFullYear() - d.years, from.getMonth() - d.months, from.getDate() - d.days);
  }
  return new Date(result.getTime() - d.hours * 3_600_000);
}

/**
 * Applies the policy (see the module comment). Returns one decision per item,
 * newest first; items with equal times stay in input order.
 */
export function applyRetention<T extends Dated>(
  items: readonly T[],
  policy: RetentionPolicy,
  options: RetentionOptions = {},
): RetentionDecision<T>[] {
  const timeZone: TimeZone = options.timeZone ?? 'local';
  const sorted = items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => b.item.time.getTime() - a.item.time.getTime() || a.index - b.index)
    .map((entry) => entry.item);
  if (sorted.length === 0) return [];

  const newest = sorted[0] as T;
  const withinSince = hasWithin(policy) ? subtractDuration(newest.time, parseDuration(policy.keepWithin), timeZone) : undefined;

  const lastRule = { left: count(policy.keepLast) };
  const calendarRules = CALENDAR_RULES.map((rule) => ({
    name: rule.name,
    left: count(policy[rule.key]),
    lastKept: undefined as string | undefined,
  }));

  return sorted.map((item, nr) => {
    const reasons: string[] = [];
    const isOldest = nr === sorted.length - 1;
    if (nr === 0) reasons.push('newest');

    if (withinSince !== undefined && item.time.getTime() > withinSince.getTime()) {
      reasons.push(`within ${policy.keepWithin}`);
    }

    // restic's `always` bucket: every backup is its own bucket, so the N newest are kept.
    if (lastRule.left > 0) {
      lastRule.left--;
      reasons.push(`last ${policy.keepLast}`);
    }

    const parts = calendarParts(item.time, timeZone);
    for (const rule of calendarRules) {
      if (rule.left === 0) continue;
      const label = bucketLabel(rule.name, parts);
      if (label !== rule.lastKept) {
        reasons.push(`${rule.name} ${label}`);
      } else if (isOldest) {
        reasons.push(`${rule.name} ${label} (oldest)`);
      } else {
        continue;
      }
      rule.lastKept = label;
      rule.left--;
    }

    return { item, keep: reasons.length > 0, reasons };
  });
}
