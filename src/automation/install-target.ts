/**
 * What `backup schedule install` makes real, shared by the systemd and the
 * crontab writers: the job, its schedule, the folder it runs in and the two
 * programs it calls (node and dist/bin.js, both absolute); its stable
 * name on this machine; and the marker line that lets `schedule list` find
 * it again. Pure.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { Schedule } from './schedule.js';

export interface InstallTarget {
  job: { key: string; name: string; settingsFile: string };
  schedule: Schedule;
  /** Absolute: the folder `schedule install` ran in. Relative settings paths and `.env` resolve against it. */
  workDir: string;
  /** Absolute path of node (process.execPath). */
  node: string;
  /** Absolute path of dist/bin.js. */
  bin: string;
  /** Installed for the user (systemd --user units), not the system. */
  user?: boolean;
}

/** What the marker line of an installed job records. */
export interface InstalledMarker {
  job: string;
  config: string;
  workdir: string;
  schedule: string;
}

export const MARKER_PREFIX = '# backup-automation ';

/** `www` -> `www`, `Nightly Photos!` -> `nightly-photos`: the readable part of a unit name. */
export function jobSlug(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'job';
}

/** `backup-<slug>-<8 hex of the job key>`: one per settings file, so several jobs sit side by side. */
export function installName(job: { key: string; name: string }): string {
  return `backup-${jobSlug(job.name)}-${createHash('sha256').update(job.key).digest('hex').slice(0, 8)}`;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Refuses a value that cannot be written on one line of a unit file or a crontab. */
export function checkOneLine(what: string, value: string): void {
  if (CONTROL.test(value)) {
    throw new UsageError(`${what} ${JSON.stringify(value)} has a control character (a newline, a tab...); a timer or crontab line cannot hold it: rename it`);
  }
}

/** Every value of a target checked for control characters. */
export function checkTarget(target: InstallTarget): void {
  checkOneLine('the job name', target.job.name);
  checkOneLine('the settings file', target.job.settingsFile);
  checkOneLine('the working folder', target.workDir);
  checkOneLine('the node program', target.node);
  checkOneLine('the program', target.bin);
  checkOneLine('the schedule', target.schedule.text);
}

/** `# backup-automation job="www" config="/srv/www/config/settings.json" workdir="/srv/www" schedule="daily 02:30"` */
export function markerLine(target: InstallTarget): string {
  const marker: InstalledMarker = { job: target.job.name, config: target.job.settingsFile, workdir: target.workDir, schedule: target.schedule.text };
  return `${MARKER_PREFIX}${Object.entries(marker)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join(' ')}`;
}

/** The marker of a unit file or crontab block (its first marker line), or undefined. */
export function parseMarker(text: string): InstalledMarker | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(MARKER_PREFIX)) continue;
    const values: Record<string, string> = {};
    for (const match of line.slice(MARKER_PREFIX.length).matchAll(/(\w+)=("(?:[^"\\]|\\.)*")/g)) {
      try {
        values[match[1]!] = JSON.parse(match[2]!) as string;
      } catch {
        return undefined;
      }
    }
    if (values.job === undefined || values.config === undefined || values.workdir === undefined || values.schedule === undefined) return undefined;
    return { job: values.job, config: values.config, workdir: values.workdir, schedule: values.schedule };
  }
  return undefined;
}

/** A POSIX shell word: bare when only safe characters, else single-quoted (`'` as `'\''`). */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * This tool as a shell command line: the absolute node and dist/bin.js the
 * units and the crontab line call, then `args`. Not `npx backup`, which in a
 * folder without the tool as a dependency fetches an unrelated npm package.
 */
export function selfCommand(programs: { node: string; bin: string }, args: string[]): string {
  return [programs.node, programs.bin, ...args].map(shellQuote).join(' ');
}

/** The command that undoes an install, as printed and written in the comments. */
export function undoCommand(programs: { node: string; bin: string }, settingsFile: string, options: { user?: boolean } = {}): string {
  return selfCommand(programs, ['schedule', 'remove', '--config', settingsFile, ...(options.user ? ['--user'] : [])]);
}
