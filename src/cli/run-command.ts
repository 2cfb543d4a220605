/**
 * `backup run`: one backup from flags and/or a settings file, no prompts.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import { findSettingsFile, loadSettings } from '../config/load-settings.js';
import { DEFAULT_LOG_FILE, mergeSettings, resolvePaths, type SettingsOverrides } from '../config/merge-settings.js';
import type { Settings } from '../config/schema.js';
import { expandHome } from '../config/expand-home.js';
import type { AppLogger } from '../log/logger.js';
import type { CliIO } from './io.js';
import { executeJob, openLogger, reportFailure, type OutputOptions } from './execute-job.js';

export interface RunFlags {
  config?: string;
  source?: string[];
  dest?: string;
  format?: string;
  name?: string;
  exclude?: string[];
  strict?: boolean;
  logFile?: string;
  json?: boolean;
  dryRun?: boolean;
  verbose?: boolean;
}

export function overridesFromFlags(flags: RunFlags): SettingsOverrides {
  return {
    sources: flags.source,
    destination: flags.dest,
    format: flags.format,
    name: flags.name,
    exclude: flags.exclude,
    strict: flags.strict,
    logFile: flags.logFile,
  };
}

export async function runCommand(io: CliIO, flags: RunFlags): Promise<number> {
  const output: OutputOptions = { json: flags.json === true, verbose: flags.verbose === true, listEntries: flags.dryRun === true };
  const settingsFile = findSettingsFile(flags.config, io.cwd);

  let settings: Settings | undefined;
  let settingsError: unknown;
  if (settingsFile) {
    try {
      settings = await loadSettings(settingsFile, io.cwd);
    } catch (error) {
      settingsError = error;
    }
  }
  // The log file is known even when settings.json is broken: flag, file, default.
  const logFile = path.resolve(io.cwd, expandHome(flags.logFile ?? settings?.logFile ?? DEFAULT_LOG_FILE, io.home));
  const logger: AppLogger = openLogger(io, logFile, output);
  try {
    if (settingsError) return reportFailure(io, settingsError, logger, output);

    const effective = resolvePaths(mergeSettings(settings, overridesFromFlags(flags)), io.cwd, io.home);
    if (effective.sources.length === 0) {
      return reportFailure(
        io,
        new UsageError(
          settingsFile
            ? `${settingsFile} lists no sources and no --source was given. Add "sources": ["./data"] or pass --source PATH.`
            : 'Nothing to back up: pass --source PATH (and --dest DIR), or --config FILE. Run `npx backup` for the wizard.',
          { code: 'NO_SOURCE' },
        ),
        logger,
        output,
      );
    }
    if (settings?.s3) {
      return reportFailure(
        io,
        new UsageError(`${settingsFile}: s3: uploading to S3 is not available in this version yet; remove the "s3" block.`, {
          code: 'S3_UNAVAILABLE',
        }),
        logger,
        output,
      );
    }
    if (settingsFile) logger.info(`settings from ${settingsFile}`);
    const { exitCode } = await executeJob(
      io,
      {
        sources: effective.sources,
        destination: effective.destination,
        format: effective.format,
        name: effective.name,
        exclude: effective.exclude,
        strict: effective.strict,
        dryRun: flags.dryRun === true,
        logFile: effective.logFile,
      },
      logger,
      output,
    );
    return exitCode;
  } finally {
    await logger.close();
  }
}
