/**
 * What every run of a job leaves behind, whatever happens to it: a start
 * record in the history when it begins (a run killed with SIGKILL is a start
 * without an end), an end record when it ends (outcome, archive, bytes,
 * destinations, error and hint, how its notifications went), the run's own
 * notification (start, success, warning, failure), and the job's incident
 * state (a failure opens a `failing` incident already alerted; a success
 * closes an open one with one `recovered`).
 *
 * Nothing here changes the run's result or exit code: a history that cannot
 * be written or a notification that cannot be sent is a warning in the log.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ensureDir } from '../fs/ensure-dir.js';
import type { NotifyChannel } from '../config/notify-schema.js';
import type { Logger } from '../log/logger-types.js';
import { appendHistory, readJobRuns } from './history.js';
import type { JobRef } from './job.js';
import type { NotifyContext } from './notify/send.js';
import type { HistoryCommand, HistoryDestination, HistoryRecord, NotifyEvent, NotifyOutcome, RunOutcome } from './types.js';
import { readAlertState, updateIncident } from './alert-state.js';
import { currentBootId } from './run-alive.js';
import { utcMinute } from './status.js';

export type RunTrigger = NonNullable<HistoryRecord['trigger']>;
export type SendNotifications = (channels: readonly NotifyChannel[], event: NotifyEvent, ctx: NotifyContext) => Promise<NotifyOutcome[]>;

/** `BACKUP_TRIGGER` (scheduled | daemon | ui: set by the schedule lines, the daemon and the web UI), else who ran it by hand. */
export function triggerFrom(env: NodeJS.ProcessEnv, byHand: 'cli' | 'wizard' = 'cli'): RunTrigger {
  const value = env.BACKUP_TRIGGER?.trim().toLowerCase();
  return value === 'scheduled' || value === 'daemon' || value === 'ui' ? value : byHand;
}

/** 0 ok, 3 warning (skipped files), 130 cancelled, anything else failed. */
export function outcomeOf(exitCode: number): Exclude<RunOutcome, 'running'> {
  if (exitCode === 0) return 'ok';
  if (exitCode === 3) return 'warning';
  if (exitCode === 130) return 'cancelled';
  return 'failed';
}

/**
 * The event a finished run sends: success / warning / failure. A cancelled
 * run sends nothing, whoever cancelled it: a person's Ctrl-C, the daemon
 * being stopped, a service stop or a shutdown are all someone's decision.
 * A backup that therefore did not happen is caught by the missed-run check
 * (`late`), once the next due run has not succeeded either.
 */
/** While a job keeps failing, its failure alert is repeated at most this often. */
export const FAILURE_REMINDER_MS = 24 * 60 * 60 * 1000;

export function eventOf(outcome: Exclude<RunOutcome, 'running'>, _trigger: RunTrigger): 'success' | 'warning' | 'failure' | null {
  if (outcome === 'ok') return 'success';
  if (outcome === 'warning') return 'warning';
  if (outcome === 'cancelled') return null;
  return 'failure';
}

export interface BeginRunOptions {
  job: JobRef;
  command: HistoryCommand;
  trigger: RunTrigger;
  host: string;
  pid: number;
  now: () => Date;
  logger: Logger;
  env: NodeJS.ProcessEnv;
  /** The command's signal: cancels sending (sending is bounded without it too). */
  signal?: AbortSignal;
  /** settings.json `notify` (run and wizard only; prune and verify send nothing). */
  channels?: readonly NotifyChannel[];
  /** Injected by tests; the real sender by default. */
  send?: SendNotifications;
}

export interface RunEnd {
  exitCode: number;
  /** The run's --json result (a BackupResult, or another command's JSON). */
  result?: object;
  /** What stopped it, when it failed before a result. */
  error?: unknown;
}

export interface RunReport {
  id: string;
  /** Writes the end record, sends the run's event, updates the incident. Never throws. */
  finish(end: RunEnd): Promise<HistoryRecord>;
}

function errorOf(end: RunEnd): { code: string; message: string; hint?: string } | null {
  const fromResult = (end.result as { error?: unknown } | undefined)?.error;
  const candidate = (fromResult ?? end.error) as { code?: unknown; message?: unknown; hint?: unknown } | undefined | null;
  if (!candidate || typeof candidate !== 'object') {
    if (end.error !== undefined && end.error !== null) return { code: 'INTERNAL', message: String(end.error) };
    return null;
  }
  const code = typeof candidate.code === 'string' ? candidate.code : 'INTERNAL';
  const message = typeof candidate.message === 'string' ? candidate.message : String(candidate);
  const hint = typeof candidate.hint === 'string' ? candidate.hint : undefined;
  return { code, message, ...(hint ? { hint } : {}) };
}

function destinationsOf(result: object | undefined): HistoryDestination[] {
  const list = (result as { destinations?: unknown } | undefined)?.destinations;
  if (!Array.isArray(list)) return [];
  return list.flatMap((d: Record<string, unknown>) => {
    if (!d || typeof d !== 'object' || typeof d.name !== 'string') return [];
    const error = d.error && typeof d.error === 'object' ? (d.error as { code: string; message: string }) : null;
    return [
      {
        name: d.name,
        type: typeof d.type === 'string' ? d.type : 'unknown',
        ok: d.ok === true,
        location: typeof d.location === 'string' ? d.location : '',
        ...(typeof d.bytes === 'number' ? { bytes: d.bytes } : {}),
        error: error ? { code: String(error.code), message: String(error.message) } : null,
      },
    ];
  });
}

const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** 120 MB, 2.1 GB: decimal units, as disk tools and people quote free space. */
export function roundSize(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** The nearest existing folder of `location` (an archive path, or the folder a run could not write). */
async function existingFolder(location: string): Promise<string | undefined> {
  let dir = path.resolve(location);
  for (let i = 0; i < 64; i++) {
    const stat = await fs.stat(dir).catch(() => undefined);
    if (stat?.isDirectory()) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

/**
 * "disk full on /backups: 120 MB free, last archive was 2.1 GB": the free
 * space now (statfs) and the size of the last archive that worked, so the
 * reader knows how much to free without opening the log.
 */
export async function diskFullHint(location: string, lastArchiveBytes: number | null): Promise<string | undefined> {
  const dir = await existingFolder(location);
  if (!dir) return undefined;
  try {
    const stats = await fs.statfs(dir);
    const free = Number(stats.bavail) * Number(stats.bsize);
    return `disk full on ${dir}: ${roundSize(free)} free${lastArchiveBytes !== null ? `, last archive was ${roundSize(lastArchiveBytes)}` : ''}`;
  } catch {
    return undefined;
  }
}

function isDiskFull(code: string | undefined): boolean {
  return code === 'DISK_FULL' || code === 'ENOSPC' || code === 'EDQUOT';
}

/** `bootId` for the start record (a run of this process is of this boot), when this boot's id can be read. */
function bootIdField(): { bootId?: string } {
  const bootId = currentBootId();
  return bootId === undefined ? {} : { bootId };
}

export async function beginRun(options: BeginRunOptions): Promise<RunReport> {
  const { job, logger } = options;
  // Loaded only when a run has channels: nodemailer and the channel code stay out of the
  // memory of every other run (the 1 GiB S3 test measures peak RSS).
  const send: SendNotifications = options.send ?? (async (...args) => (await import('./notify/send.js')).sendNotifications(...args));
  const channels = options.channels ?? [];
  const id = randomUUID();
  const started = options.now();
  const base: HistoryRecord = {
    v: 1,
    type: 'start',
    id,
    job: job.key,
    jobName: job.name,
    command: options.command,
    trigger: options.trigger,
    host: options.host,
    pid: options.pid,
    ...bootIdField(),
    start: started.toISOString(),
    end: null,
    outcome: 'running',
    exitCode: null,
    archive: null,
    bytes: null,
    files: null,
    skipped: null,
    destinations: [],
    error: null,
  };

  let historyWarned = false;
  const append = async (record: HistoryRecord): Promise<void> => {
    try {
      // ensureDir: never Node's recursive mkdir, which loops forever under /proc.
      await ensureDir(path.dirname(job.historyFile), 0o755);
      await appendHistory(job.historyFile, record);
    } catch (error) {
      // Said once per run: the start and the end record fail for the same reason.
      if (historyWarned) return;
      historyWarned = true;
      logger.warn(`run history not written (${job.historyFile}): ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const notify = async (event: NotifyEvent, signal: AbortSignal | undefined, to: readonly NotifyChannel[] = channels): Promise<NotifyOutcome[]> => {
    if (to.length === 0) return [];
    try {
      const outcomes = await send(to, event, { env: options.env, logger, ...(signal ? { signal } : {}) });
      // Each failed channel was logged as a warning by sendNotifications itself.
      return outcomes;
    } catch (error) {
      logger.warn(`notifications (${event.event}) not sent: ${error instanceof Error ? error.message : String(error)}`);
      return [];
    }
  };

  await append(base);
  const isBackup = options.command === 'run' || options.command === 'wizard';
  if (isBackup) await notify({ event: 'start', job: job.name, host: options.host, at: started, run: base }, options.signal);

  return {
    id,
    async finish(end: RunEnd): Promise<HistoryRecord> {
      let record: HistoryRecord = base;
      try {
        const ended = options.now();
        const outcome = outcomeOf(end.exitCode);
        const result = end.result as Record<string, unknown> | undefined;
        const error = errorOf(end);
        const destinations = destinationsOf(result);
        const skippedList = result?.skipped;
        record = {
          ...base,
          type: 'end',
          end: ended.toISOString(),
          outcome,
          exitCode: end.exitCode,
          archive: typeof result?.archive === 'string' ? result.archive : (destinations.find((d) => d.ok)?.location ?? null),
          bytes: num(result?.bytes),
          files: num(result?.files),
          skipped: Array.isArray(skippedList) ? skippedList.length : num(skippedList),
          destinations,
          error,
        };
        if (record.bytes === 0 && outcome !== 'ok' && outcome !== 'warning') record.bytes = null;
        if (error && isDiskFull(error.code)) {
          const full = destinations.find((d) => isDiskFull(d.error?.code)) ?? destinations.find((d) => d.type === 'local');
          if (full?.location) {
            const runs = await readJobRuns(job).catch(() => []);
            const lastGood = [...runs].reverse().find((r) => (r.outcome === 'ok' || r.outcome === 'warning') && typeof r.bytes === 'number');
            const hint = await diskFullHint(full.location, lastGood?.bytes ?? null).catch(() => undefined);
            if (hint) error.hint = hint;
          }
        }

        // The end record first: a run stopped while its notifications are still being sent
        // (a service manager's stop timeout) is not taken for a killed one. Written again
        // below with how the notifications went (the later end record of a run wins).
        await append(record);

        // The command's signal is aborted for a cancelled run: its failure message must still go out (bounded anyway).
        const signal = options.signal?.aborted ? undefined : options.signal;
        // Refused by the job's lock: another run of the job is going on; not a failure of the job
        // (a lock held for good shows as late once no run succeeds).
        const refused = error?.code === 'LOCKED';
        // A backup run: its outcome. A verify that found a damaged backup: a failure too (the
        // backup a person would restore from is not good); it is not an incident of the job's runs.
        // Exit 1 only: a damaged or mismatched backup. Exit 2 is a usage error (a typo, no such archive).
        const verifyFailed = options.command === 'verify' && end.exitCode === 1;
        const event = isBackup && !refused ? eventOf(outcome, options.trigger) : verifyFailed ? 'failure' : null;
        // One failure alert per incident, not one per run (a job failing every 10 s under the
        // daemon, or hourly, would flood the channel), with a reminder once a day while it lasts.
        // Healthchecks still gets every run's /fail ping: that is how the outside check works.
        let to: readonly NotifyChannel[] = channels;
        if (event === 'failure' && isBackup) {
          const open = (await readAlertState(job.alertStateFile).catch(() => undefined))?.jobs[job.key]?.incident;
          const alertedAt = open?.kind === 'failing' && open.alertedAt ? Date.parse(open.alertedAt) : NaN;
          if (ended.getTime() - alertedAt < FAILURE_REMINDER_MS) {
            to = channels.filter((c) => c.type === 'healthchecks');
            logger.info(`failure alert already sent at ${utcMinute(open!.alertedAt!)} for this incident (failing since ${utcMinute(open!.since)}); the next reminder after a day`);
          }
        }
        const notifications: NotifyOutcome[] = [];
        if (event) {
          notifications.push(
            ...(await notify({ event, job: job.name, host: options.host, at: ended, run: record, ...(result ? { result: { ...result } } : {}) }, signal, to)),
          );
        }
        if (isBackup && event) {
          // Alerted when a channel took it, or when no channel wants failures; if every channel
          // failed (the network is down: often why the backup failed too), the missed-run
          // check (`status --alert`) sends it again.
          // People's channels (healthchecks is a ping, not an alert to a person).
          const failureSent = notifications.filter((n) => n.event === 'failure' && n.type !== 'healthchecks');
          const suppressed = to !== channels;
          const alertedAt = failureSent.length === 0 || failureSent.some((n) => n.ok) ? record.end! : null;
          try {
            const { before } = await updateIncident(job.alertStateFile, job.key, ended, (incident) => {
              if (event === 'failure') {
                // Not sent (alerted less than a day ago): as it is. Sent again (a reminder, or the
                // first alert no channel took): alerted from now when a channel took it.
                if (incident?.kind === 'failing') return suppressed ? incident : { ...incident, alertedAt: alertedAt ?? incident.alertedAt };
                return { kind: 'failing', since: record.end!, alertedAt, reason: error?.message ?? `exit ${end.exitCode}` };
              }
              return null;
            });
            if (before && event !== 'failure') {
              const reason = `${before.kind === 'late' ? 'late' : 'failing'} since ${utcMinute(before.since)}`;
              notifications.push(...(await notify({ event: 'recovered', job: job.name, host: options.host, at: ended, run: record, reason }, signal)));
            }
          } catch (stateError) {
            logger.warn(`alert state not updated (${job.alertStateFile}): ${stateError instanceof Error ? stateError.message : String(stateError)}`);
          }
        }
        if (notifications.length > 0) {
          record.notifications = notifications;
          await append(record);
        }
      } catch (error) {
        logger.warn(`run history: ${error instanceof Error ? error.message : String(error)}`);
      }
      return record;
    },
  };
}
