/**
 * Which job a run belongs to, and where its history lives. A job is a
 * settings file (its absolute path), or, for a run from flags alone, its
 * sources and name template (the same identity as the job's lock). The run
 * history and the alert state sit beside the job's log file, so every job
 * that logs to one folder shares one history (each record names its job).
 * Pure.
 */
import path from 'node:path';
import { jobKey } from '../lifecycle/job-lock-file.js';

export interface JobRef {
  /** Stable identity: `config:/abs/settings.json` or `sources:<hash>`. */
  key: string;
  /** For people: settings.json `job`, else derived from the settings file's path or the first source. */
  name: string;
  /** Absolute path of the settings file, when there is one. */
  settingsFile?: string;
  /** JSON Lines, beside the log file. */
  historyFile: string;
  /** Open incidents (late / failing) already alerted, beside the history. */
  alertStateFile: string;
}

export const HISTORY_FILE_NAME = 'history.jsonl';
export const ALERT_STATE_FILE_NAME = 'alerts.json';

/** The files a run keeps beside its log (history, its rotated copy, the alert state): never archived, like the log itself. */
export function filesBesideLog(logFile: string): string[] {
  const dir = path.dirname(logFile);
  return [HISTORY_FILE_NAME, `${HISTORY_FILE_NAME}.1`, ALERT_STATE_FILE_NAME].map((name) => path.join(dir, name));
}

/** A job's name everywhere it is shown: the settings' "job", else one from the settings file's path. */
export function jobName(settingsFile: string, settings?: { job?: string }): string {
  return settings?.job ?? jobNameFromFile(settingsFile);
}

/**
 * A name for a settings file: `/srv/www/config/settings.json` -> `www`
 * (the project folder), `/etc/backup/nightly.json` -> `nightly`.
 */
export function jobNameFromFile(settingsFile: string): string {
  const base = path.basename(settingsFile).replace(/\.json$/i, '');
  const parent = path.basename(path.dirname(settingsFile));
  if ((base === 'settings' || base === 'config') && parent === 'config') {
    const project = path.basename(path.dirname(path.dirname(settingsFile)));
    if (project && project !== path.sep) return project;
  }
  if (base === 'settings' && parent && parent !== path.sep) return parent;
  return base || 'backup';
}

export function jobRef(options: {
  settingsFile?: string;
  /** settings.json `job`. */
  jobName?: string;
  sources: readonly string[];
  nameTemplate: string;
  /** The job's log file (absolute). */
  logFile: string;
}): JobRef {
  const dir = path.dirname(options.logFile);
  const settingsFile = options.settingsFile ? path.resolve(options.settingsFile) : undefined;
  const key = settingsFile ? `config:${settingsFile}` : `sources:${jobKey({ sources: options.sources, nameTemplate: options.nameTemplate })}`;
  const fallbackName = options.sources[0] ? path.basename(options.sources[0]) || 'backup' : 'backup';
  const name = options.jobName ?? (settingsFile ? jobNameFromFile(settingsFile) : fallbackName);
  return {
    key,
    name,
    ...(settingsFile ? { settingsFile } : {}),
    historyFile: path.join(dir, HISTORY_FILE_NAME),
    alertStateFile: path.join(dir, ALERT_STATE_FILE_NAME),
  };
}
