/**
 * Runs one backup for the CLI (shared by `backup run` and the wizard):
 * creates the logger, shows progress in a terminal, renders the result, and
 * returns the exit code. Never throws for a failed backup: failures become
 * a result (and, with --json, a JSON object on stdout).
 */
import { runBackup, type BackupJob, type ProgressUpdate } from '../backup/run-backup.js';
import { failedResult, runDetailsOf, type BackupResult } from '../backup/result.js';
import type { BackupError } from '../errors.js';
import type { AppLogger } from '../log/logger.js';
import { printable } from '../log/printable.js';
import { toolVersion } from '../version.js';
import type { CliIO } from './io.js';
import { createProgressBar } from './progress-bar.js';
import { createProgressSink } from './progress-sink.js';
import { renderHuman, renderJson } from './render-result.js';
import { reportFailure as reportCommandFailure } from './command-runner.js';

export interface OutputOptions {
  json: boolean;
  verbose: boolean;
  /** Print every entry in a dry run. */
  listEntries?: boolean;
}

export { openLogger } from './command-runner.js';

/** Prints a failure (human or JSON) and logs it; returns the exit code. */
export function reportFailure(io: CliIO, error: unknown, logger: AppLogger | undefined, output: OutputOptions): BackupError['exitCode'] {
  return reportCommandFailure(io, error, logger, output, (failure, message) => ({ ...failedResult(failure, runDetailsOf(error)), error: { code: failure.code, message } }));
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
): Promise<{ exitCode: number; result?: BackupResult; error?: unknown }> {
  const showProgress = !output.json && !job.dryRun && io.stderr.isTTY === true;
  const bar = showProgress ? createProgressBar(io.stderr) : undefined;
  const sink = job.dryRun ? undefined : createProgressSink(io.progress, 'backup');
  const onProgress =
    bar || sink
      ? (update: ProgressUpdate): void => {
          bar?.update(update);
          // Once the totals are known (the sources are counted alongside the backup).
          if (update.totalBytes !== undefined) {
            const { bytes, totalBytes, files, totalFiles, uploadedBytes } = update;
            sink?.update({ bytes, totalBytes, files, totalFiles, ...(uploadedBytes !== undefined ? { uploadedBytes } : {}) });
          }
        }
      : undefined;
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
      onProgress,
      onDryRunEntry:
        output.listEntries && !output.json
          ? (entry) => io.stdout.write(`${printable(`${entry.archivePath}${entry.kind === 'dir' ? '/' : ''}`)}\n`)
          : undefined,
    });
    bar?.stop();
    sink?.stop();
    await hooks.afterRun?.(result);
    io.stdout.write(output.json ? renderJson(result) : renderHuman(result, logger.file));
    return { exitCode: result.exitCode, result };
  } catch (error) {
    bar?.stop();
    sink?.stop();
    return { exitCode: reportFailure(io, error, logger, output), error };
  }
}
