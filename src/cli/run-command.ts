/**
 * `backup run`: one backup from flags and/or a settings file, no prompts.
 */
import path from 'node:path';
import { notifyChannelsOfBrokenSettings } from '../config/notify-fallback.js';
import { UsageError } from '../errors.js';
import { checkSettingsPaths, findSettingsFile, loadSettings } from '../config/load-settings.js';
import { DEFAULT_LOG_FILE, checkS3Target, mergeSettings, resolvePaths, type SettingsOverrides } from '../config/merge-settings.js';
import type { z } from 'zod';
import { MAX_THREADS, bucketSchema, endpointSchema, parseThreads, storageClassSchema, type Settings } from '../config/schema.js';
import { expandHome } from '../config/expand-home.js';
import type { AppLogger } from '../log/logger.js';
import type { CliIO } from './io.js';
import { executeJob, openLogger, reportFailure, type OutputOptions } from './execute-job.js';
import { ExitCode } from '../errors.js';
import { DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import type { EffectiveSettings } from '../config/merge-settings.js';
import type { RetentionSummary } from '../backup/result.js';
import type { Store } from '../storage/store.js';
import { describePolicy, isEmptyPolicy, type RetentionPolicy } from '../lifecycle/retention.js';
import { pruneStores, type JobIdentity } from '../lifecycle/prune.js';
import { jobLock, parseWait } from './job-lock.js';
import { closeStores, openStores, s3Origin } from './stores.js';
import { cliJobRef, recordRun, runEnd } from './run-history.js';

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
  threads?: string;
  s3Bucket?: string;
  s3Prefix?: string;
  s3Region?: string;
  s3Endpoint?: string;
  s3StorageClass?: string;
  /** From --no-local: false only when the user gave it. */
  local?: boolean;
  /** --wait [seconds]: wait for another run of the same job instead of failing. */
  wait?: boolean | string;
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
    threads: flags.threads === undefined ? undefined : parseThreads(flags.threads),
    s3Bucket: flags.s3Bucket,
    s3Prefix: flags.s3Prefix,
    s3Region: flags.s3Region,
    s3Endpoint: flags.s3Endpoint,
    s3StorageClass: flags.s3StorageClass,
    keepLocal: flags.local === false ? false : undefined,
  };
}


/** Checks the flag values the schema checks in settings.json. */
function validateFlags(flags: RunFlags): void {
  const checks: Array<[string, string | undefined, z.ZodType]> = [
    ['--s3-bucket', flags.s3Bucket, bucketSchema],
    ['--s3-endpoint', flags.s3Endpoint, endpointSchema],
    ['--s3-storage-class', flags.s3StorageClass, storageClassSchema],
  ];
  if (flags.threads !== undefined && parseThreads(flags.threads) === undefined) {
    throw new UsageError(`--threads ${JSON.stringify(flags.threads)}: expected a whole number from 1 to ${MAX_THREADS}`, { code: 'USAGE' });
  }
  for (const [flag, value, schema] of checks) {
    if (value === undefined) continue;
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new UsageError(`${flag} ${JSON.stringify(value)}: ${parsed.error.issues[0]?.message}`, { code: 'USAGE' });
    }
  }
}

/** The command line as the lock shows it to a blocked run (paths as given). */
function commandLine(flags: RunFlags): string {
  const words = ['backup', 'run'];
  if (flags.config) words.push('--config', flags.config);
  if (flags.source) words.push('--source', ...flags.source);
  if (flags.dest) words.push('--dest', flags.dest);
  return words.join(' ');
}

/** The settings' retention, on every destination this backup went to; never throws for a failed delete. */
async function applyRetentionAfterRun(io: CliIO, logger: AppLogger, stores: readonly Store[], job: JobIdentity, policy: RetentionPolicy): Promise<RetentionSummary> {
  const summary: RetentionSummary = { policy: describePolicy(policy), removed: [], kept: 0, failed: [] };
  try {
    const results = await pruneStores(stores, job, policy, { dryRun: false, signal: io.signal, logger });
    for (const r of results) {
      summary.removed.push({ location: r.location, files: [...r.removed, ...r.orphansRemoved] });
      summary.kept = Math.max(summary.kept, r.plan.filter((p) => p.action === 'keep').length);
      summary.failed.push(...r.failed);
    }
  } catch (error) {
    if (io.signal.aborted) throw error;
    const message = error instanceof Error ? error.message : String(error);
    logger.error(`retention could not be applied: ${message}`);
    summary.failed.push({ file: '(listing)', error: message });
  }
  return summary;
}

export async function runCommand(io: CliIO, flags: RunFlags): Promise<number> {
  const output: OutputOptions = { json: flags.json === true, verbose: flags.verbose === true, listEntries: flags.dryRun === true };
  const settingsFile = findSettingsFile(flags.config, io.cwd);

  let settings: Settings | undefined;
  let settingsError: unknown;
  if (settingsFile) {
    try {
      settings = await loadSettings(settingsFile);
    } catch (error) {
      settingsError = error;
    }
  }
  // The log file is known even when settings.json is broken: flag, file, default.
  const logFile = path.resolve(io.cwd, expandHome(flags.logFile ?? settings?.logFile ?? DEFAULT_LOG_FILE, io.home));
  const logger: AppLogger = openLogger(io, logFile, output);
  // Run history (every run but a dry run, from here on: a broken settings file and a refused lock included).
  const historyJob = flags.dryRun ? undefined : cliJobRef(io, { settingsFile, jobName: settings?.job, sources: flags.source, nameTemplate: flags.name ?? settings?.name, logFile });
  // A settings file that does not load still alerts on its channels (a typo must not silence the job).
  const channels = settings?.notify ?? (settingsError && settingsFile ? await notifyChannelsOfBrokenSettings(settingsFile) : []);
  const report = await recordRun(io, logger, historyJob, 'run', channels);
  let ended: { exitCode: number; result?: object; error?: unknown } = { exitCode: ExitCode.failed };
  try {
    if (logger.fileRefused) throw logger.fileRefused;
    if (settingsError) throw settingsError;
    validateFlags(flags);
    if (settings && settingsFile) {
      await checkSettingsPaths(settings, settingsFile, io.cwd, io.home, {
        sources: flags.source === undefined,
        destination: flags.dest === undefined,
      });
    }
    const effective = resolvePaths(mergeSettings(settings, overridesFromFlags(flags), io.env), io.cwd, io.home);
    for (const d of effective.destinations) {
      const bucketWarning = d.type === 's3' ? checkS3Target(d.s3, s3Origin(flags, settingsFile), io.env) : undefined;
      if (bucketWarning) logger.warn(bucketWarning);
    }
    if (effective.sources.length === 0) {
      throw new UsageError(
        settingsFile
          ? `${settingsFile} lists no sources and no --source was given. Add "sources": ["./data"] or pass --source PATH.`
          : 'Nothing to back up: pass --source PATH (and --dest DIR), or --config FILE. Run `npx backup` for the wizard.',
        { code: 'NO_SOURCE' },
      );
    }
    if (flags.local === false && effective.destinations.every((d) => d.type === 'local')) {
      throw new UsageError(
        '--no-local keeps no local copy, so it needs another destination: add --s3-bucket BUCKET (or an "s3" block or a remote destination in settings.json).',
        { code: 'USAGE' },
      );
    }
    if (settingsFile) logger.info(`settings from ${settingsFile}`);
    const wait = parseWait(flags.wait);
    // The job's lock lives in the first local folder (runs from other folders meet there), else beside the log.
    const localDestination = effective.destinations.find((d) => d.type === 'local')?.path;
    const nameTemplate = effective.name.trim() || DEFAULT_NAME_TEMPLATE;
    const retention = settings?.retention && !isEmptyPolicy(settings.retention) ? settings.retention : undefined;
    const job = { sources: effective.sources, nameTemplate };
    const lockOptions = { job, localDestination, logFile: effective.logFile, wait, command: commandLine(flags), skip: flags.dryRun === true };
    const lock = jobLock(io, logger, lockOptions);
    const stores = await openStores(io, effective.destinations, s3Origin(flags, settingsFile), logger);
    try {
      const { exitCode, result, error } = await executeJob(
        io,
        {
          sources: effective.sources,
          stores,
          format: effective.format,
          name: effective.name,
          exclude: effective.exclude,
          strict: effective.strict,
          dryRun: flags.dryRun === true,
          logFile: effective.logFile,
          threads: effective.threads,
        },
        logger,
        output,
        {
          beforeWrite: () => lock.acquire(),
          afterRun: async (result) => {
            if (!retention || flags.dryRun) return;
            if (result.exitCode !== ExitCode.ok) {
              const why = result.exitCode === ExitCode.partial ? 'some files were skipped' : 'the backup did not reach every destination';
              const message = `retention not applied: ${why}; older backups are kept until a backup succeeds completely`;
              logger.warn(message);
              result.warnings.push(message);
              return;
            }
            result.retention = await applyRetentionAfterRun(io, logger, stores, { ...job, host: io.host }, retention);
          },
        },
      );
      ended = { exitCode, result, error };
      return exitCode;
    } finally {
      await lock.release();
      await closeStores(io);
    }
  } catch (error) {
    const exitCode = reportFailure(io, error, logger, output);
    ended = { exitCode, error };
    return exitCode;
  } finally {
    await report?.finish(runEnd(io, ended.exitCode, ended.result, ended.error));
    await logger.close();
  }
}
