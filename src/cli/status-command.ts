/**
 * `backup status [--config FILE...] [--json] [--alert]`: per job (settings
 * file), its verdict (ok | failing | late | never run), the last success,
 * the last failure and why, the next due run and the newest archive on each
 * destination, from the run history beside the job's log. Exit 0 only when
 * every job is ok, 1 otherwise, 2 for a usage error (no settings file at
 * all). A settings file that is missing or broken is that job's verdict
 * `failing` (exit 1), never a usage error: a monitoring check must not go
 * silent because the settings broke.
 *
 * `--alert` (the missed-run check, run from a timer, a cron line or the
 * daemon): a job late or failing with no open incident of that kind sends
 * one `late` / `failure` alert and opens the incident; the same incident on
 * the next check sends nothing; ok again sends one `recovered`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { notifyChannelsOfBrokenSettings } from '../config/notify-fallback.js';
import { DEFAULT_SETTINGS_FILE, loadSettings } from '../config/load-settings.js';
import { DEFAULT_LOG_FILE } from '../config/merge-settings.js';
import { expandHome } from '../config/expand-home.js';
import type { Settings } from '../config/schema.js';
import { UsageError, toBackupError } from '../errors.js';
import { jobName, jobRef, type JobRef } from '../automation/job.js';
import { readJobRuns } from '../automation/history.js';
import { parseSchedule, type Schedule } from '../automation/schedule.js';
import { jobStatus, statusExitCode, utcMinute, type JobStatus } from '../automation/status.js';
import { decideAlert, readAlertState, updateIncident } from '../automation/alert-state.js';
import { sendNotifications } from '../automation/notify/send.js';
import type { SendNotifications } from '../automation/run-report.js';
import type { HistoryRecord, NotifyOutcome } from '../automation/types.js';
import { currentBootId, runAlive } from '../automation/run-alive.js';
import { isOwnerAlive } from '../lifecycle/lock.js';
import type { Logger } from '../log/logger-types.js';
import { oneLine, printable } from '../log/printable.js';
import { humanText, jsonLine, type CliIO } from './io.js';
import { localDateTime, openLogger, reportFailure } from './command-runner.js';
import { formatBytes } from './format-bytes.js';

export interface StatusFlags {
  config?: string[];
  json?: boolean;
  alert?: boolean;
  verbose?: boolean;
}

export interface AlertReport {
  event: 'late' | 'failure' | 'recovered';
  notifications: NotifyOutcome[];
}

export type JobStatusReport = JobStatus & { alert?: AlertReport | null; historyFile?: string };

interface LoadedJob {
  job: JobRef;
  settings?: Settings;
  settingsError?: { code: string; message: string };
  schedule: Schedule | null;
  since: Date | null;
}

async function loadJob(io: CliIO, file: string): Promise<LoadedJob> {
  let settings: Settings | undefined;
  let settingsError: LoadedJob['settingsError'];
  try {
    settings = await loadSettings(file);
  } catch (error) {
    const failure = toBackupError(error);
    settingsError = { code: failure.code, message: failure.message };
  }
  // As `backup run` finds it (a broken settings file: the default, where run records that failure too).
  // A relative log path is relative to the folder the job runs in: this one, or, for
  // `status --config /abs/path` from elsewhere, the project folder of the settings file
  // (the folder holding config/, else the file's own folder), where its runs wrote it.
  const logPath = expandHome(settings?.logFile ?? DEFAULT_LOG_FILE, io.home);
  const name = jobName(file, settings);
  const jobAt = (dir: string): JobRef => jobRef({ settingsFile: file, jobName: name, sources: [], nameTemplate: '', logFile: path.resolve(dir, logPath) });
  let job = jobAt(io.cwd);
  if (!path.isAbsolute(logPath)) {
    const settingsDir = path.dirname(file);
    const project = path.basename(settingsDir) === 'config' ? path.dirname(settingsDir) : settingsDir;
    if (project !== io.cwd && (await readJobRuns(job).catch(() => [])).length === 0) {
      const there = jobAt(project);
      if ((await readJobRuns(there).catch(() => [])).length > 0) job = there;
    }
  }
  let schedule: Schedule | null = null;
  if (settings?.schedule) {
    try {
      schedule = parseSchedule(settings.schedule);
    } catch (error) {
      settingsError = { code: 'CONFIG_INVALID', message: `${file}: schedule: ${error instanceof Error ? error.message : String(error)}` };
    }
  }
  const since = (await fs.stat(file).catch(() => undefined))?.mtime ?? null;
  return { job, ...(settings ? { settings } : {}), ...(settingsError ? { settingsError } : {}), schedule, since };
}

/** runAlive from this host and boot: another boot id is a run killed by a reboot; same boot, the pid decides; another host: unknown. */
function isAlive(host: string, bootId: string | undefined = currentBootId()): (run: HistoryRecord) => boolean | undefined {
  return (run) => runAlive(run, { host, bootId }, () => isOwnerAlive({ pid: run.pid, host: run.host, started: run.start, command: run.command }, host));
}

/** The missed-run check for one job: at most one alert per incident. Never throws. */
async function alertJob(
  io: CliIO,
  logger: Logger,
  loaded: LoadedJob,
  status: JobStatus,
  lastRun: HistoryRecord | undefined,
  send: SendNotifications,
): Promise<AlertReport | null> {
  const now = io.now();
  // Settings that do not load still name their channels when those entries are valid on their own
  // (a typo elsewhere must not silence the alert). None: leave the incident unopened, so it is alerted once they can.
  const channels = loaded.settings?.notify ?? (loaded.settingsError && loaded.job.settingsFile ? await notifyChannelsOfBrokenSettings(loaded.job.settingsFile) : []);
  if (loaded.settingsError && channels.length === 0) {
    logger.warn(`${loaded.job.name}: no alert sent: ${loaded.settingsError.message}`);
    return null;
  }
  try {
    const state = await readAlertState(loaded.job.alertStateFile);
    const incident = state.jobs[loaded.job.key]?.incident ?? null;
    const decision = decideAlert(status.verdict, incident, now, status.reason);
    let notifications: NotifyOutcome[] = [];
    if (decision.send && channels.length > 0) {
      const reason = decision.send === 'recovered' ? `${incident?.kind === 'late' ? 'late' : 'failing'} since ${incident ? utcMinute(incident.since) : '?'}; ${status.reason}` : status.reason;
      try {
        notifications = await send(channels, { event: decision.send, job: loaded.job.name, host: io.host, at: now, reason, ...(lastRun ? { run: lastRun } : {}) }, { env: io.env, logger, signal: io.signal });
      } catch (error) {
        logger.warn(`${loaded.job.name}: ${decision.send} alert not sent: ${error instanceof Error ? error.message : String(error)}`);
        notifications = [{ channel: '(all)', type: 'all', event: decision.send, ok: false, error: error instanceof Error ? error.message : String(error) }];
      }
      // Each failed channel was logged as a warning by sendNotifications itself.
    }
    // Taken by a channel, or wanted by none: alerted. Every channel failed: the next check tries again.
    const taken = notifications.length === 0 || notifications.some((n) => n.ok);
    const next = decision.next && decision.send && decision.send !== 'recovered' ? { ...decision.next, alertedAt: taken ? now.toISOString() : null } : decision.next;
    await updateIncident(loaded.job.alertStateFile, loaded.job.key, now, () => next);
    return decision.send ? { event: decision.send, notifications } : null;
  } catch (error) {
    logger.warn(`${loaded.job.name}: alert state (${loaded.job.alertStateFile}): ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

/** "3 days ago", "in 5 h": beside a date, for the reader at 3 a.m. */
function relative(at: string, now: Date): string {
  const ms = new Date(at).getTime() - now.getTime();
  const abs = Math.abs(ms);
  const text =
    abs < 90_000 ? `${Math.round(abs / 1000)} s` : abs < 90 * 60_000 ? `${Math.round(abs / 60_000)} min` : abs < 48 * 3_600_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} days`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

const when = (at: string, now: Date): string => `${localDateTime(new Date(at))} (${relative(at, now)})`;

export function renderStatus(statuses: readonly JobStatusReport[], now: Date): string {
  const blocks = statuses.map((s) => {
    const lines = [`${printable(s.name)}: ${s.verdict.toUpperCase()} - ${oneLine(s.reason)}`];
    const row = (label: string, text: string): void => {
      lines.push(`  ${label.padEnd(16)}${text}`);
    };
    if (s.running) row('running now:', `since ${when(s.running.start, now)}, pid ${s.running.pid} on ${printable(s.running.host)} (${s.running.command})`);
    row(
      'last success:',
      s.lastSuccess
        ? `${when(s.lastSuccess.at, now)}  ${s.lastSuccess.archive ? printable(s.lastSuccess.archive) : '(no local copy)'}${s.lastSuccess.bytes !== null ? ` (${formatBytes(s.lastSuccess.bytes)})` : ''}${s.lastSuccess.outcome === 'warning' ? ', some files skipped' : ''}`
        : 'never',
    );
    if (s.lastFailure) {
      row('last failure:', `${when(s.lastFailure.at, now)}  ${s.lastFailure.outcome}${s.lastFailure.code ? ` [${s.lastFailure.code}]` : ''}`);
      // The headline already says the last run's error: not twice.
      if (s.lastFailure.error && !s.reason.includes(s.lastFailure.error)) row('', oneLine(s.lastFailure.error));
      if (s.lastFailure.hint) row('', `hint: ${oneLine(s.lastFailure.hint)}`);
    }
    row('schedule:', s.schedule ? `${printable(s.schedule.text)} (${s.schedule.description})` : 'none (runs only when started)');
    if (s.nextRun) row('next run:', when(s.nextRun, now));
    if (s.lateAfter && s.verdict !== 'late') row('late after:', when(s.lateAfter, now));
    s.destinations.forEach((d, i) => row(i === 0 ? 'newest backup:' : '', `${printable(d.name)}${d.name === d.type ? '' : ` (${d.type})`}: ${printable(d.location)}`));
    if (s.alert) {
      const sent = s.alert.notifications;
      row('alert:', `${s.alert.event}${sent.length === 0 ? ' (no channel takes it)' : `: ${sent.map((n) => `${printable(n.channel)} ${n.ok ? 'sent' : `FAILED (${oneLine(n.error ?? 'failed')})`}`).join(', ')}`}`);
    }
    if (s.settingsFile) row('settings:', printable(s.settingsFile));
    if (s.historyFile) row('history:', printable(s.historyFile));
    return lines.join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}

export async function statusCommand(io: CliIO, flags: StatusFlags, send: SendNotifications = sendNotifications): Promise<number> {
  const output = { json: flags.json === true, verbose: flags.verbose === true };
  // No log file: status only reads; alert problems go to stderr (the cron mail, the journal).
  const logger = openLogger(io, undefined, output);
  try {
    const given = flags.config ?? [];
    let files = given.map((f) => path.resolve(io.cwd, expandHome(f, io.home)));
    if (files.length === 0) {
      const fallback = path.resolve(io.cwd, DEFAULT_SETTINGS_FILE);
      if (!(await fs.stat(fallback).catch(() => undefined))) {
        throw new UsageError(`No job to report on: there is no ${DEFAULT_SETTINGS_FILE} here. Pass --config FILE (one per job).`, { code: 'USAGE' });
      }
      files = [fallback];
    }
    files = [...new Set(files)];
    const now = io.now();
    const statuses: JobStatusReport[] = [];
    for (const file of files) {
      const loaded = await loadJob(io, file);
      let runs: HistoryRecord[] = [];
      let historyError: { code: string; message: string } | undefined;
      try {
        runs = await readJobRuns(loaded.job);
      } catch (error) {
        historyError = { code: 'STORE_FAILED', message: `the run history ${loaded.job.historyFile} cannot be read: ${error instanceof Error ? error.message : String(error)}` };
      }
      const status: JobStatusReport = jobStatus({
        job: loaded.job,
        schedule: loaded.schedule,
        scheduleSince: loaded.since,
        runs,
        isAlive: isAlive(io.host),
        now,
        settingsError: loaded.settingsError ?? historyError ?? null,
      });
      status.historyFile = loaded.job.historyFile;
      if (flags.alert) {
        // The backup run the alert is about: the one that ended last, not one refused by the lock.
        const lastRun = runs
          .filter((r) => (r.command === 'run' || r.command === 'wizard') && r.error?.code !== 'LOCKED')
          .reduce<HistoryRecord | undefined>((last, r) => (!last || (r.end ?? r.start) >= (last.end ?? last.start) ? r : last), undefined);
        status.alert = await alertJob(io, logger, loaded, status, lastRun, send);
        // Once per incident on stderr too: the cron line keeps stderr, so cron mails it even
        // when no channel is configured (the journal has it under systemd).
        if (status.alert && !flags.json) {
          io.stderr.write(humanText(`backup ${status.alert.event}: ${oneLine(printable(loaded.job.name))} on ${oneLine(printable(io.host))}: ${oneLine(status.reason)}\n`));
        }
      }
      statuses.push(status);
    }
    const exitCode = statusExitCode(statuses);
    io.stdout.write(flags.json ? jsonLine({ ok: exitCode === 0, exitCode, jobs: statuses }) : humanText(renderStatus(statuses, now)));
    return exitCode;
  } catch (error) {
    return reportFailure(io, error, logger, output);
  } finally {
    await logger.close();
  }
}
