/**
 * The systemd units of a scheduled job, as text (pure): a oneshot service
 * that runs `backup run --config FILE` at low CPU and I/O priority in the
 * job's folder, its timer (the schedule as OnCalendar=, Persistent=true so a
 * run missed while the machine was off happens at boot), and a check pair
 * that runs `backup status --alert` a few times a day (missed-run
 * detection with no outside service).
 *
 * Escaping follows systemd.syntax(7) / systemd.service(5): in ExecStart=
 * every argument is double-quoted with `\\` and `"` escaped, `%` doubled
 * (specifiers) and `$` doubled (variable expansion); in path settings `%`
 * is doubled. Control characters are refused (a line cannot hold them).
 */
import { UsageError } from '../errors.js';
import { checkTarget, installName, markerLine, undoCommand, type InstallTarget } from './install-target.js';
import { nextRuns, schedulePattern, type Schedule } from './schedule.js';

export interface UnitFile {
  /** File name, e.g. backup-www-1a2b3c4d.timer */
  name: string;
  text: string;
}

/** When the check pair runs: four times a day, at a minute nobody else uses. */
export const CHECK_ON_CALENDAR = '*-*-* 00/6:17:00';

/** `%` -> `%%`: a value in which systemd expands specifiers. */
export function escapeSpecifiers(value: string): string {
  return value.replace(/%/g, '%%');
}

/** One ExecStart= argument: double-quoted, `\` `"` escaped, `%` and `$` doubled. */
export function quoteExecArg(arg: string): string {
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

/** A path setting (WorkingDirectory=): taken as the rest of the line, so no trailing blank or backslash. */
function pathValue(what: string, value: string): string {
  if (/[\s\\]$/.test(value)) throw new UsageError(`${what} ${JSON.stringify(value)} ends with a blank or a backslash, which a systemd unit cannot hold: rename it, or use --cron`);
  return escapeSpecifiers(value);
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/** croner's "any occurrence" mark of a weekday (no `#n` / `L`). */
const ANY_OCCURRENCE = 0b111111;

/** The values set in one of croner's field arrays (index + offset). */
function values(field: number[], offset: number): number[] {
  const out: number[] = [];
  field.forEach((v, i) => {
    if (v) out.push(i + offset);
  });
  return out;
}

/** Values as systemd writes them: `*`, `a/step`, `a..b`, lists; two digits. */
export function compressField(list: number[], min: number, max: number): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (list.length === max - min + 1) return '*';
  if (list.length === 1) return pad(list[0]!);
  const step = list[1]! - list[0]!;
  if (list.length >= 3 && step > 1 && list.every((v, i) => i === 0 || v - list[i - 1]! === step) && list[list.length - 1]! + step > max) return `${pad(list[0]!)}/${step}`;
  const parts: string[] = [];
  for (let i = 0; i < list.length; ) {
    let j = i;
    while (j + 1 < list.length && list[j + 1] === list[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${pad(list[i]!)}..${pad(list[j]!)}`);
    else for (let k = i; k <= j; k++) parts.push(pad(list[k]!));
    i = j + 1;
  }
  return parts.join(',');
}

function weekdayField(days: number[]): string {
  // Monday first, as systemd prints them; runs of three or more as Mon..Fri.
  const order = [1, 2, 3, 4, 5, 6, 0];
  const positions = order.map((d) => days.includes(d));
  const parts: string[] = [];
  for (let i = 0; i < 7; ) {
    if (!positions[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j + 1 < 7 && positions[j + 1]) j++;
    if (j - i >= 2) parts.push(`${WEEKDAYS[order[i]!]}..${WEEKDAYS[order[j]!]}`);
    else for (let k = i; k <= j; k++) parts.push(WEEKDAYS[order[k]!]!);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * The OnCalendar= values of a schedule (croner's parse, re-said in systemd
 * syntax). Day of month and day of week both restricted means either one in
 * cron: two values. `L`, `W` and `#n` have no systemd form: refused.
 */
export function onCalendar(schedule: Schedule): string[] {
  const p = schedulePattern(schedule);
  const weekdayMarks = p.dayOfWeek.slice(0, 7);
  if (p.lastDayOfMonth || p.lastWeekday || p.nearestWeekdays.some(Boolean) || weekdayMarks.some((v) => v !== 0 && v !== ANY_OCCURRENCE)) {
    throw new UsageError(`the schedule "${schedule.text}" uses L, W or # (last day, nearest weekday, nth weekday), which a systemd timer cannot say: use a plain cron expression, or \`backup daemon\``);
  }
  const time = `${compressField(values(p.hour, 0), 0, 23)}:${compressField(values(p.minute, 0), 0, 59)}:${compressField(values(p.second, 0), 0, 59)}`;
  const month = compressField(values(p.month, 1), 1, 12);
  const days = compressField(values(p.day, 1), 1, 31);
  const weekdays = weekdayField(values(weekdayMarks, 0));
  const byDate = `*-${month}-${days} ${time}`;
  const byWeekday = `${weekdays} *-${month}-* ${time}`;
  const domRestricted = !p.starDOM;
  const dowRestricted = !p.starDOW;
  if (domRestricted && dowRestricted) return [byDate, byWeekday];
  if (dowRestricted) return [byWeekday];
  return [byDate];
}

/**
 * RandomizedDelaySec=: a tenth of the shortest time between two runs, at
 * most 5 minutes (so machines sharing a schedule do not all start at once,
 * and a run is never pushed past the next one).
 */
export function randomizedDelaySeconds(schedule: Schedule, now: Date): number {
  const runs = nextRuns(schedule, now, 24);
  let shortest = Infinity;
  for (let i = 1; i < runs.length; i++) shortest = Math.min(shortest, runs[i]!.getTime() - runs[i - 1]!.getTime());
  if (!Number.isFinite(shortest)) return 300;
  return Math.min(300, Math.floor(shortest / 10_000));
}

function execStart(target: InstallTarget, args: string[]): string {
  return `ExecStart=${[target.node, target.bin, ...args].map(quoteExecArg).join(' ')}`;
}

function service(target: InstallTarget, what: string, args: string[], marker: string): string {
  return [
    marker,
    `# Written by \`backup schedule install\`; undo: ${undoCommand(target, target.job.settingsFile, { user: target.user })}`,
    '[Unit]',
    `Description=${escapeSpecifiers(`backup-automation: ${what} ${target.job.name} (${target.job.settingsFile})`)}`,
    // The network (S3, webhooks) is up first; a user manager has no such target.
    ...(target.user ? [] : ['Wants=network-online.target', 'After=network-online.target']),
    '',
    '[Service]',
    'Type=oneshot',
    `WorkingDirectory=${pathValue('the working folder', target.workDir)}`,
    // No EnvironmentFile=: systemd reads .env by its own rules (backticks and inline `# comments`
    // stay in values) and its values would win over backup's own dotenv load, so a quoted password
    // that works by hand would fail under the timer. backup reads WorkingDirectory/.env itself.
    '# .env in WorkingDirectory is read by backup itself (dotenv rules), not by systemd',
    'Environment=BACKUP_TRIGGER=scheduled',
    execStart(target, args),
    'Nice=10',
    'IOSchedulingClass=idle',
    'CPUSchedulingPolicy=batch',
    '',
  ].join('\n');
}

function timer(description: string, unit: string, calendars: string[], extra: string[]): string {
  return [
    '[Unit]',
    `Description=${escapeSpecifiers(description)}`,
    '',
    '[Timer]',
    ...calendars.map((c) => `OnCalendar=${c}`),
    ...extra,
    `Unit=${unit}`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}

/** The four unit files of a job: NAME.service, NAME.timer, NAME-check.service, NAME-check.timer. */
export function systemdUnits(target: InstallTarget, now: Date): UnitFile[] {
  checkTarget(target);
  const name = installName(target.job);
  const marker = markerLine(target);
  const delay = randomizedDelaySeconds(target.schedule, now);
  const runTimer = timer(`backup-automation: run job ${target.job.name} ${target.schedule.text}`, `${name}.service`, onCalendar(target.schedule), [
    'Persistent=true',
    ...(delay > 0 ? [`RandomizedDelaySec=${delay}`] : []),
    'AccuracySec=1s',
  ]);
  const checkTimer = timer(`backup-automation: check job ${target.job.name} for late or failing runs`, `${name}-check.service`, [CHECK_ON_CALENDAR], [
    'Persistent=false',
    'RandomizedDelaySec=300',
  ]);
  return [
    { name: `${name}.service`, text: service(target, 'job', ['run', '--config', target.job.settingsFile], marker) },
    { name: `${name}.timer`, text: runTimer },
    { name: `${name}-check.service`, text: service(target, 'missed-run check of job', ['status', '--alert', '--config', target.job.settingsFile], marker.replace('# backup-automation ', '# backup-automation-check ')) },
    { name: `${name}-check.timer`, text: checkTimer },
  ];
}
