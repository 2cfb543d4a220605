/**
 * The hook every recorded command calls: the job's run history (start and
 * end records), its notifications and its incident state
 * (automation/run-report.ts), with the CLI's clock, host, pid and signal.
 * A command whose job is not known (no settings file and no sources) is not
 * recorded: there is no job to file it under.
 */
import path from 'node:path';
import { DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import { failedResult, runDetailsOf } from '../backup/result.js';
import type { NotifyChannel } from '../config/notify-schema.js';
import { expandHome } from '../config/expand-home.js';
import { toBackupError } from '../errors.js';
import { jobRef, type JobRef } from '../automation/job.js';
import { appendHistory } from '../automation/history.js';
import { beginRun, triggerFrom, type RunEnd, type RunReport, type SendNotifications } from '../automation/run-report.js';
import type { HistoryCommand, HistoryRecord } from '../automation/types.js';
import type { Logger } from '../log/logger-types.js';
import type { CliIO } from './io.js';
import type { CommandOutput } from './command-runner.js';
import type { LoadedSettings } from './stores.js';

/** The job a command works for: its settings file, else its sources (as flags give them) and name template. */
export function cliJobRef(
  io: CliIO,
  options: { settingsFile?: string; jobName?: string; sources?: readonly string[]; nameTemplate?: string; logFile: string },
): JobRef | undefined {
  const sources = (options.sources ?? []).map((s) => path.resolve(io.cwd, expandHome(s, io.home)));
  if (!options.settingsFile && sources.length === 0) return undefined;
  return jobRef({
    ...(options.settingsFile ? { settingsFile: path.resolve(io.cwd, options.settingsFile) } : {}),
    ...(options.jobName ? { jobName: options.jobName } : {}),
    sources,
    nameTemplate: options.nameTemplate?.trim() || DEFAULT_NAME_TEMPLATE,
    logFile: options.logFile,
  });
}

/** Starts recording a run (the start record, the healthchecks start ping); undefined when there is no job. */
export async function recordRun(
  io: CliIO,
  logger: Logger,
  job: JobRef | undefined,
  command: HistoryCommand,
  channels: readonly NotifyChannel[] = [],
  send?: SendNotifications,
): Promise<RunReport | undefined> {
  if (!job) return undefined;
  return beginRun({
    job,
    command,
    trigger: triggerFrom(io.env, command === 'wizard' ? 'wizard' : 'cli'),
    host: io.host,
    pid: process.pid,
    now: io.now,
    logger,
    env: io.env,
    signal: io.signal,
    channels,
    ...(send ? { send } : {}),
  });
}

/** How a run ended: its result, or the error that stopped it (with what it knew: destinations, skipped files). */
export function runEnd(io: CliIO, exitCode: number, result: object | undefined, error: unknown): RunEnd {
  if (result) return { exitCode, result };
  if (error === undefined) return { exitCode };
  const failure = toBackupError(error, io.signal);
  return { exitCode, result: failedResult(failure, runDetailsOf(error)), error: failure };
}

/**
 * Prune and verify: recorded when a settings file names the job. Without
 * one (only --dest / --s3-bucket / an archive path) nothing is recorded:
 * those flags say where backups are, not which job they belong to. A
 * settings file that does not load is not recorded either (the command
 * fails before it knows its log folder for sure); `backup run` records that.
 */
export async function recordCommand(
  io: CliIO,
  ctx: { logger: Logger; loaded: LoadedSettings },
  command: 'prune' | 'verify',
  logFile: string,
  skip: boolean,
  body: () => Promise<CommandOutput>,
): Promise<CommandOutput> {
  const job = skip || !ctx.loaded.file ? undefined : cliJobRef(io, { settingsFile: ctx.loaded.file, jobName: ctx.loaded.settings?.job, logFile });
  // verify alerts on the job's channels when it finds a damaged backup; prune does not alert.
  const report = await recordRun(io, ctx.logger, job, command, command === 'verify' ? (ctx.loaded.settings?.notify ?? []) : []);
  try {
    const output = await body();
    await report?.finish(runEnd(io, output.exitCode, { ok: output.exitCode === 0, exitCode: output.exitCode, ...output.json }, undefined));
    return output;
  } catch (error) {
    const failure = toBackupError(error, io.signal);
    await report?.finish(runEnd(io, failure.exitCode, undefined, error));
    throw error;
  }
}

/**
 * The wizard's backup runs before its answers are saved, so it is recorded
 * under the job of its sources. Once saved, the run is filed again under the
 * settings file's job (the same run id: readers keep this later record), so
 * `backup status` right after the wizard shows it instead of "never run".
 */
export async function refileRun(io: CliIO, logger: Logger, end: HistoryRecord, target: { settingsFile: string; jobName?: string; logFile: string }): Promise<void> {
  const job = cliJobRef(io, target);
  if (!job || job.key === end.job) return;
  try {
    await appendHistory(job.historyFile, { ...end, job: job.key, jobName: job.name });
  } catch (error) {
    logger.warn(`run history not written (${job.historyFile}): ${error instanceof Error ? error.message : String(error)}`);
  }
}
