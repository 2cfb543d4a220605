/**
 * Runs one backup for the CLI (shared by `backup run` and the wizard):
 * creates the logger, shows progress in a terminal, renders the result, and
 * returns the exit code. Never throws for a failed backup: failures become
 * a result (and, with --json, a JSON object on stdout).
 */
import { runBackup, type BackupJob } from '../backup/run-backup.js';
import { failedResult, type BackupResult } from '../backup/result.js';
import { toBackupError, type BackupError } from '../errors.js';
import { createLogger, type AppLogger } from '../log/logger.js';
import { redactText } from '../log/redact.js';
import { toolVersion } from '../version.js';
import type { CliIO } from './io.js';
import { createProgressBar } from './progress-bar.js';
import { renderHuman, renderJson } from './render-result.js';

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  /** Print every entry in a dry run. */
  listEntries?: boolean;
}

export function openLogger(io: CliIO, logFile: string | undefined, output: OutputOptions): AppLogger {
  const logger = createLogger({ file: logFile, console: io.stderr, verbose: output.verbose });
  if (logger.fileProblem) io.stderr.write(`warning: ${logger.fileProblem}\n`);
  return logger;
}

/** Prints a failure (human or JSON) and logs it; returns the exit code. */
export function reportFailure(io: CliIO, error: unknown, logger: AppLogger | undefined, output: OutputOptions): BackupError['exitCode'] {
  const failure = toBackupError(error, io.signal);
  // The console line is printed below; the log file gets the code and cause too.
  if (failure.code === 'CANCELLED') logger?.fileOnly.warn(failure.message);
  else {
    logger?.fileOnly.error(failure.message, {
      code: failure.code,
      cause: failure.cause instanceof Error ? failure.cause.message : failure.cause,
    });
  }
  const result = failedResult(failure);
  if (output.json) io.stdout.write(renderJson(result));
  else {
    const message = redactText(failure.message);
    io.stderr.write(failure.code === 'CANCELLED' ? `${message}\n` : `error: ${message}\n`);
    if (output.verbose && failure.stack) io.stderr.write(`${failure.stack}\n`);
    if (output.verbose && failure.cause instanceof Error && failure.cause.stack) io.stderr.write(`caused by: ${failure.cause.stack}\n`);
  }
  return result.exitCode;
}

export async function executeJob(
  io: CliIO,
  job: BackupJob,
  logger: AppLogger,
  output: OutputOptions,
  hooks: {
    /** Before anything is written (the job's lock). */
    beforeWrite?: () => Promise<void>;
    /** After the backup, before the result is printed (retention); may add to the result. */
    afterRun?: (result: BackupResult) => Promise<void>;
  } = {},
): Promise<{ exitCode: number; result?: BackupResult }> {
  const showProgress = !output.json && !job.dryRun && io.stderr.isTTY === true;
  const bar = showProgress ? createProgressBar(io.stderr) : undefined;
  try {
    const result = await runBackup(job, {
      now: io.now(),
      host: io.host,
      toolVersion: toolVersion(),
      cwd: io.cwd,
      logger,
      signal: io.signal,
      envPath: io.env.PATH,
      beforeWrite: hooks.beforeWrite,
      onProgress: bar ? (update) => bar.update(update) : undefined,
      onDryRunEntry:
        output.listEntries && !output.json
          ? (entry) => io.stdout.write(`${entry.archivePath}${entry.kind === 'dir' ? '/' : ''}\n`)
          : undefined,
    });
    bar?.stop();
    await hooks.afterRun?.(result);
    io.stdout.write(output.json ? renderJson(result) : renderHuman(result, logger.file));
    return { exitCode: result.exitCode, result };
  } catch (error) {
    bar?.stop();
    return { exitCode: reportFailure(io, error, logger, output) };
  }
}
