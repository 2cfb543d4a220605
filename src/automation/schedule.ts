/**
 * settings.json `schedule`: a cron expression (5 fields, or 6 with seconds)
 * or a word people say: `hourly`, `daily`, `daily 02:30`, `weekly`,
 * `weekly mon 03:00`, `monthly`, `monthly 1 04:00`. Cron is parsed by
 * croner, never by hand; the words are turned into cron first. Pure: every
 * time computation takes the reference time as a parameter.
 */
import { Cron, CronPattern } from 'croner';

export interface Schedule {
  /** As written in settings.json. */
  text: string;
  /** The cron expression it means (5 fields, or 6 when it has seconds). */
  cron: string;
  /** True when the expression has a seconds field (not expressible in a crontab). */
  hasSeconds: boolean;
  /** "every day at 02:30", for people. */
  description: string;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

export class ScheduleError extends Error {}

const EXAMPLES = 'e.g. "daily 02:30", "hourly", "weekly sun 03:00", "monthly 1 04:00" or a cron expression such as "30 2 * * *"';

function parseTime(text: string | undefined, whole: string): { hour: number; minute: number } {
  if (text === undefined) return { hour: 0, minute: 0 };
  const match = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!match) throw new ScheduleError(`"${whole}": "${text}" is not a time; write it as HH:MM, e.g. 02:30`);
  const hour = Number(match[1]);
  const minute = Number(match[2]);
  if (hour > 23 || minute > 59) throw new ScheduleError(`"${whole}": ${text} is not a time of day (00:00 to 23:59)`);
  return { hour, minute };
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** The cron expression and description of a schedule word, or undefined when `text` is not one. */
function fromWords(text: string): { cron: string; description: string } | undefined {
  const words = text.trim().toLowerCase().split(/\s+/);
  const [word, ...rest] = words;
  switch (word) {
    case 'hourly':
    case '@hourly': {
      if (rest.length > 1) throw new ScheduleError(`"${text}": expected "hourly" or "hourly :MM"`);
      const minuteText = rest[0];
      let minute = 0;
      if (minuteText !== undefined) {
        const match = /^:?(\d{1,2})$/.exec(minuteText);
        if (!match || Number(match[1]) > 59) throw new ScheduleError(`"${text}": expected "hourly :MM" with MM from 00 to 59`);
        minute = Number(match[1]);
      }
      return { cron: `${minute} * * * *`, description: `every hour at minute ${pad(minute)}` };
    }
    case 'daily':
    case '@daily':
    case '@midnight':
    case 'nightly': {
      if (rest.length > 1) throw new ScheduleError(`"${text}": expected "daily" or "daily HH:MM"`);
      const { hour, minute } = parseTime(rest[0], text);
      return { cron: `${minute} ${hour} * * *`, description: `every day at ${pad(hour)}:${pad(minute)}` };
    }
    case 'weekly':
    case '@weekly': {
      if (rest.length > 2) throw new ScheduleError(`"${text}": expected "weekly", "weekly DAY" or "weekly DAY HH:MM"`);
      let day: number | undefined;
      let timeText: string | undefined;
      for (const part of rest) {
        const index = DAYS.findIndex((d) => part.startsWith(d) && DAY_NAMES[DAYS.indexOf(d)]!.toLowerCase().startsWith(part));
        if (index >= 0 && day === undefined) day = index;
        else if (index < 0 && timeText === undefined && /^\d/.test(part)) timeText = part;
        else throw new ScheduleError(`"${text}": expected "weekly", "weekly DAY" or "weekly DAY HH:MM" (DAY: sun, mon, ... sat)`);
      }
      day ??= 0;
      const { hour, minute } = parseTime(timeText, text);
      return { cron: `${minute} ${hour} * * ${day}`, description: `every ${DAY_NAMES[day]} at ${pad(hour)}:${pad(minute)}` };
    }
    case 'monthly':
    case '@monthly': {
      if (rest.length > 2) throw new ScheduleError(`"${text}": expected "monthly", "monthly DAY" or "monthly DAY HH:MM" (DAY 1 to 28)`);
      let dayOfMonth = 1;
      let timeText: string | undefined;
      for (const part of rest) {
        if (/^\d{1,2}$/.test(part)) {
          dayOfMonth = Number(part);
          if (dayOfMonth < 1 || dayOfMonth > 28) throw new ScheduleError(`"${text}": day ${part} of the month: use 1 to 28 (every month has them)`);
        } else if (timeText === undefined) timeText = part;
        else throw new ScheduleError(`"${text}": expected "monthly", "monthly DAY" or "monthly DAY HH:MM" (DAY 1 to 28)`);
      }
      const { hour, minute } = parseTime(timeText, text);
      return { cron: `${minute} ${hour} ${dayOfMonth} * *`, description: `on day ${dayOfMonth} of every month at ${pad(hour)}:${pad(minute)}` };
    }
    case 'yearly':
    case 'annually':
    case '@yearly':
    case '@annually': {
      if (rest.length > 0) throw new ScheduleError(`"${text}": expected "${word}" alone (every 1 January at 00:00), or a cron expression`);
      return { cron: '0 0 1 1 *', description: 'every 1 January at 00:00' };
    }
    default:
      if (word?.startsWith('@')) throw new ScheduleError(`"${text}": unknown schedule word; ${EXAMPLES}`);
      return undefined;
  }
}

/**
 * A croner job that never runs, for time computations. Day of month and day
 * of week both restricted means either (cron's OR), as in Vixie cron.
 */
function cronOf(expression: string): Cron {
  return new Cron(expression, { paused: true, mode: '5-or-6-parts', domAndDow: false });
}

/**
 * The parsed fields of a schedule (croner's own parser: which seconds,
 * minutes, hours, days, months and weekdays match), for the systemd and
 * crontab writers that must say the same thing in another syntax.
 */
export function schedulePattern(schedule: Schedule): CronPattern {
  return new CronPattern(schedule.cron, undefined, { mode: '5-or-6-parts' });
}

/** Parses settings.json `schedule`; throws ScheduleError with what is wrong and an example. */
export function parseSchedule(text: string): Schedule {
  const trimmed = text.trim();
  if (trimmed === '') throw new ScheduleError(`the schedule is empty; ${EXAMPLES}`);
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new ScheduleError(`the schedule has a control character; ${EXAMPLES}`);
  const words = fromWords(trimmed);
  if (words) return { text, cron: words.cron, hasSeconds: false, description: words.description };
  const fields = trimmed.split(/\s+/);
  if (fields.length < 5 || fields.length > 6) {
    throw new ScheduleError(`"${trimmed}" is neither a schedule word nor a cron expression (5 fields, or 6 with seconds); ${EXAMPLES}`);
  }
  const cron = fields.join(' ');
  let job: Cron;
  try {
    job = cronOf(cron);
  } catch (error) {
    throw new ScheduleError(`"${trimmed}" is not a valid cron expression: ${(error as Error).message}; ${EXAMPLES}`);
  }
  if (job.nextRun(new Date(0)) === null && job.nextRun() === null) throw new ScheduleError(`"${trimmed}" never runs; ${EXAMPLES}`);
  return { text, cron, hasSeconds: fields.length === 6, description: `cron "${cron}"` };
}

/** The problem with a schedule text, or undefined when it is good (for the schema and the wizard). */
export function scheduleProblem(text: string): string | undefined {
  try {
    parseSchedule(text);
    return undefined;
  } catch (error) {
    if (error instanceof ScheduleError) return error.message;
    throw error;
  }
}

/** The first run strictly after `after`, or null when there is none. */
export function nextRun(schedule: Schedule, after: Date): Date | null {
  return cronOf(schedule.cron).nextRun(after);
}

/** The `count` next runs strictly after `after`. */
export function nextRuns(schedule: Schedule, after: Date, count: number): Date[] {
  return cronOf(schedule.cron).nextRuns(count, after);
}

/** The last run at or before `at` (searching back at most about a year), or null. */
export function previousRun(schedule: Schedule, at: Date): Date | null {
  return cronOf(schedule.cron).previousRuns(1, at)[0] ?? null;
}

/**
 * The longest time between two consecutive runs, in ms, over the runs of
 * the coming `sample` occurrences after `from` (a monthly schedule gives up
 * to 31 days; a daily one 25 hours across a DST change).
 */
export function longestInterval(schedule: Schedule, from: Date, sample = 60): number {
  const runs = nextRuns(schedule, from, sample);
  let longest = 0;
  for (let i = 1; i < runs.length; i++) longest = Math.max(longest, runs[i]!.getTime() - runs[i - 1]!.getTime());
  return longest;
}

/** "daily HH:MM" at a random minute between 01:00 and 04:59: the wizard's default, so machines do not all start at once. */
export function randomNightlySchedule(random: () => number = Math.random): string {
  const minutes = 60 + Math.floor(random() * 240);
  return `daily ${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}
