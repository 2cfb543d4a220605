/**
 * A scheduled job as a marked block in a user's crontab (pure): the run
 * line and the missed-run check line between
 *
 *   # >>> backup-automation NAME SETTINGS >>>
 *   # <<< backup-automation NAME <<<
 *
 * where NAME is the job's install name (backup-<slug>-<hash>, one per
 * settings file). Every other line of the crontab, and every other job's
 * block, is kept byte for byte; a reinstall replaces only its own block.
 *
 * The schedule is written from croner's parse as plain numbers (no names,
 * which Vixie cron does not allow in ranges), keeping cron's rule that a day
 * field starting with `*` is unrestricted. Commands are shell-quoted and `%`
 * is written `\%` (cron turns a bare `%` into a newline).
 */
import { UsageError } from '../errors.js';
import { checkTarget, installName, markerLine, parseMarker, shellQuote, undoCommand, type InstallTarget, type InstalledMarker } from './install-target.js';
import { schedulePattern, type Schedule } from './schedule.js';

/** When the check line runs: four times a day (as the systemd check timer). */
export const CHECK_CRON = '17 */6 * * *';
/** Vixie cron reads at most about 1000 characters of a command. */
const MAX_LINE = 990;

export const beginLine = (name: string, settingsFile: string): string => `# >>> backup-automation ${name} ${settingsFile} >>>`;
export const endLine = (name: string): string => `# <<< backup-automation ${name} <<<`;
const BEGIN = /^# >>> backup-automation (\S+) (.*) >>>$/;
const END = /^# <<< backup-automation (\S+) <<<$/;

function field(values: number[], min: number, max: number, star: boolean): string {
  const full = values.length === max - min + 1;
  if (full && star) return '*';
  if (full) return `${min}-${max}`;
  if (values.length === 1) return String(values[0]);
  const step = values[1]! - values[0]!;
  if (values.length >= 3 && step > 1 && values.every((v, i) => i === 0 || v - values[i - 1]! === step) && values[values.length - 1]! + step > max) {
    return values[0] === min && star ? `*/${step}` : `${values[0]}-${max}/${step}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${values[i]}-${values[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(values[k]));
    i = j + 1;
  }
  return parts.join(',');
}

function setIndexes(list: number[], offset: number): number[] {
  const out: number[] = [];
  list.forEach((v, i) => {
    if (v) out.push(i + offset);
  });
  return out;
}

/** The five crontab fields of a schedule; a seconds field or L / W / # is refused. */
export function cronFields(schedule: Schedule): string {
  if (schedule.hasSeconds) {
    throw new UsageError(`the schedule "${schedule.text}" has a seconds field, and cron runs a line at most once a minute: use --systemd, or \`backup daemon\``);
  }
  const p = schedulePattern(schedule);
  const weekdays = p.dayOfWeek.slice(0, 7);
  if (p.lastDayOfMonth || p.lastWeekday || p.nearestWeekdays.some(Boolean) || weekdays.some((v) => v !== 0 && v !== 0b111111)) {
    throw new UsageError(`the schedule "${schedule.text}" uses L, W or # (last day, nearest weekday, nth weekday), which cron cannot say: use --systemd with a plain cron expression, or \`backup daemon\``);
  }
  return [
    field(setIndexes(p.minute, 0), 0, 59, true),
    field(setIndexes(p.hour, 0), 0, 23, true),
    field(setIndexes(p.day, 1), 1, 31, p.starDOM),
    field(setIndexes(p.month, 1), 1, 12, true),
    field(setIndexes(weekdays, 0), 0, 6, p.starDOW),
  ].join(' ');
}

/** `%` -> `\%`: cron would end the command at a bare one. */
export function escapePercent(command: string): string {
  return command.replace(/%/g, '\\%');
}

function commandLine(target: InstallTarget, options: { ionice: boolean; trigger: boolean }, args: string[]): string {
  const words = [
    'cd',
    shellQuote(target.workDir),
    '&&',
    ...(options.trigger ? ['BACKUP_TRIGGER=scheduled'] : []),
    'nice',
    '-n',
    '10',
    ...(options.ionice ? ['ionice', '-c3'] : []),
    shellQuote(target.node),
    shellQuote(target.bin),
    ...args.map(shellQuote),
    '>/dev/null',
  ];
  return escapePercent(words.join(' '));
}

/** The block of one job (with its trailing newline). `ionice`: whether ionice is on this machine. */
export function cronBlock(target: InstallTarget, options: { ionice: boolean }): string {
  checkTarget(target);
  const name = installName(target.job);
  const lines = [
    beginLine(name, target.job.settingsFile),
    markerLine(target),
    // A comment: cron reads no `%` in it, so none escaped.
    `# stdout goes nowhere, stderr stays: cron mails a failure. Undo: ${undoCommand(target, target.job.settingsFile)}`,
    `${cronFields(target.schedule)} ${commandLine(target, { ...options, trigger: true }, ['run', '--config', target.job.settingsFile])}`,
    `${CHECK_CRON} ${commandLine(target, { ...options, trigger: false }, ['status', '--alert', '--config', target.job.settingsFile])}`,
    endLine(name),
  ];
  for (const line of lines) {
    if (line.length > MAX_LINE) throw new UsageError(`a crontab line for this job would be ${line.length} characters, more than cron reads (about 1000): use shorter paths, or --systemd`);
  }
  return `${lines.join('\n')}\n`;
}

export interface CronBlockFound {
  name: string;
  settingsFile: string;
  marker: InstalledMarker | undefined;
  text: string;
}

interface Span {
  name: string;
  settingsFile: string;
  /** Line indexes, end inclusive. */
  start: number;
  end: number;
}

function spans(lines: string[]): Span[] {
  const out: Span[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]!);
    if (!begin) continue;
    let j = i + 1;
    while (j < lines.length && !(END.exec(lines[j]!)?.[1] === begin[1])) j++;
    if (j >= lines.length) {
      throw new UsageError(`your crontab has the start of the backup-automation block ${begin[1]} but not its end line; fix it with \`crontab -e\``);
    }
    out.push({ name: begin[1]!, settingsFile: begin[2]!, start: i, end: j });
    i = j;
  }
  return out;
}

/** Every backup-automation block of a crontab. */
export function findBlocks(crontab: string): CronBlockFound[] {
  const lines = crontab.split('\n');
  return spans(lines).map((s) => {
    const text = `${lines.slice(s.start, s.end + 1).join('\n')}\n`;
    return { name: s.name, settingsFile: s.settingsFile, marker: parseMarker(text), text };
  });
}

/**
 * The crontab with the block named `name` replaced by `block` (appended when
 * absent), or removed when `block` is undefined. Everything else is kept
 * byte for byte. `removed`: the block that was there.
 */
export function replaceBlock(crontab: string, name: string, block: string | undefined): { text: string; removed: string | undefined } {
  const lines = crontab.split('\n');
  const found = spans(lines).find((s) => s.name === name);
  if (!found) {
    if (block === undefined) return { text: crontab, removed: undefined };
    const separator = crontab === '' || crontab.endsWith('\n') ? '' : '\n';
    return { text: `${crontab}${separator}${block}`, removed: undefined };
  }
  // The lines before, each with its newline; the block; what followed the end line's newline, as it was.
  const head = lines
    .slice(0, found.start)
    .map((line) => `${line}\n`)
    .join('');
  const removed = `${lines.slice(found.start, found.end + 1).join('\n')}\n`;
  const rest = lines.slice(found.end + 1).join('\n');
  const text = `${head}${block ?? ''}${rest}`;
  return { text, removed };
}
