/**
 * Durations in restic's syntax (`30d`, `1y6m`, `36h`): parsed where settings
 * are validated (config) and used by the retention policy (lifecycle).
 */

export interface Duration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

const DURATION_HELP = 'expected a duration like 30d, 1y6m or 36h (y = years, m = months, d = days, h = hours)';

/**
 * Parses restic's duration syntax: one or more `<number><unit>` with units
 * y (years), m (months), d (days), h (hours), in any order, e.g. `1y5m7d2h`.
 * Stricter than restic: a unit may appear once, numbers are not negative, and
 * an all-zero duration is refused (it would keep nothing).
 */
export function parseDuration(text: string): Duration {
  const input = text.trim();
  if (input === '') throw new Error(`the duration is empty: ${DURATION_HELP}`);
  if (/^\d+w$/i.test(input)) {
    throw new Error(`invalid duration "${input}": ${DURATION_HELP}; weeks (w) are not supported, write ${Number.parseInt(input, 10) * 7}d instead`);
  }
  if (!/^(\d+[ymdh])+$/.test(input)) {
    const hint = /[MWHDY]|min|w/.test(input) ? '; units are lower case and "m" means months (there are no minutes or weeks)' : '';
    throw new Error(`invalid duration "${input}": ${DURATION_HELP}${hint}`);
  }
  const result: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  const field = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const;
  const seen = new Set<string>();
  for (const match of input.matchAll(/(\d+)([ymdh])/g)) {
    const digits = match[1] ?? '';
    const unit = match[2] as keyof typeof field;
    if (seen.has(unit)) throw new Error(`invalid duration "${input}": the unit "${unit}" appears twice; ${DURATION_HELP}`);
    seen.add(unit);
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) throw new Error(`invalid duration "${input}": ${digits} is too large`);
    result[field[unit]] = value;
  }
  if (result.years === 0 && result.months === 0 && result.days === 0 && result.hours === 0) {
    throw new Error(`invalid duration "${input}": it must be longer than zero, e.g. 30d`);
  }
  return result;
}
