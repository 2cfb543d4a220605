/**
 * One backup run: sources -> walk -> archive -> hash -> destination(s) ->
 * verify, publish, sidecars, manifest. No prompts, no printing, no exiting:
 * it returns a BackupResult or throws a BackupError.
 */
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Duplex, Readable, Writable } from 'node:stream';
import { ArchiveError, BackupError, CancelledError, UsageError, describeErrno, errnoCode, toBackupError } from '../errors.js';
import { candidateFileName, renderName, DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import { countSources, type Entry } from '../archive/walk.js';
import { createArchiveStages } from '../archive/create-archive.js';
import { HashStream } from '../archive/hash-stream.js';
import { ArchiveProgress, type ProgressSnapshot } from '../archive/progress-counter.js';
import type { ArchiveWrite, Store } from '../storage/store.js';
import { FanOut } from '../storage/fan-out.js';
import type { Logger } from '../log/logger-types.js';
import { redactText } from '../log/redact.js';
import type { Manifest, ManifestDestination } from './manifest.js';
import { runDetailsOf, withRunDetails, type BackupResult, type DestinationOutcome } from './result.js';
import { checkDestinations, checkSources, chooseFormat, failedOutcome, inodesToLeaveOut, type CheckedDestinations } from './preflight.js';
import { dryRun } from './dry-run.js';
import { describeFailedDestinations, publishAll } from './publish.js';
import { SkipCollector, outcomeExitCode } from './skips.js';
import { archiveRoots } from '../archive/archive-roots.js';

export interface BackupJob {
  /** Absolute paths. */
  sources: string[];
  /** Where the archive goes, in order (open-store.ts); the caller closes them. */
  stores: Store[];
  /** As asked (flag, settings, wizard); resolved here, with the ZIP fallback. */
  format?: string;
  /** Name template; empty means the default. */
  name?: string;
  exclude: string[];
  strict: boolean;
  dryRun: boolean;
  /** Absolute path of the log file, kept out of the archive. */
  logFile?: string;
  /** Cores for compression (default: all, os.availableParallelism()). */
  threads?: number;
}

export interface ProgressUpdate extends ProgressSnapshot {
  totalFiles?: number;
  totalBytes?: number;
  /** Bytes the slowest remote destination has acknowledged, when uploading. */
  uploadedBytes?: number;
}

export interface RunContext {
  now: Date;
  host: string;
  toolVersion: string;
  /** Paths in the result are shown relative to this folder when inside it. */
  cwd: string;
  logger: Logger;
  signal?: AbortSignal;
  /** Called as work progresses; when set, the sources are scanned first to know the totals. */
  onProgress?: (update: ProgressUpdate) => void;
  /** Called for each entry in a dry run. */
  onDryRunEntry?: (entry: Entry) => void;
  /** PATH used to find lbzip2/bzip2 (tests). */
  envPath?: string;
  /**
   * Called once the sources are checked and the local folder exists, before
   * anything is written (not in a dry run): the job's lock is taken here.
   */
  beforeWrite?: () => Promise<void>;
}

function displayPath(cwd: string, absolute: string): string {
  const rel = path.relative(cwd, absolute);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : absolute;
}

/** Compression workers: as asked, never more than the cores (a worker per core is all they can use). */
export function workerCount(threads: number | undefined): number {
  const cores = os.availableParallelism();
  return Math.max(1, Math.min(threads ?? cores, cores));
}

export async function runBackup(job: BackupJob, ctx: RunContext): Promise<BackupResult> {
  const { logger } = ctx;
  const started = performance.now();
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    logger.warn(message);
  };

  // One controller for the whole run: Ctrl-C (ctx.signal) or --strict on the first skip.
  const controller = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, controller.signal]) : controller.signal;
  const skips = new SkipCollector(job.strict, logger, (failure) => controller.abort(failure));
  const details = (): Partial<BackupResult> => ({ skipped: skips.skipped, warnings });

  // Preflight: sources, format, name, destinations.
  if (job.stores.length === 0) {
    throw new UsageError('No destination: give a local folder (--dest), an S3 bucket (--s3-bucket), or "destinations" in settings.json.', { code: 'NO_DESTINATION' });
  }
  warnings.push(...(await checkSources(job.sources, ctx.cwd)));
  const threads = workerCount(job.threads);
  const chosen = chooseFormat(job.format, ctx.envPath, threads, warnings);
  const rendered = renderName(job.name, { sources: job.sources, now: ctx.now, host: ctx.host });
  warnings.push(...rendered.warnings);
  for (const message of warnings) logger.warn(message);

  logger.info('backup started', {
    sources: job.sources,
    destinations: job.stores.map((store) => ({ name: store.name, type: store.kind, location: store.label })),
    formatRequested: chosen.requested,
    format: chosen.format,
    name: rendered.name,
    exclude: job.exclude,
    strict: job.strict,
    dryRun: job.dryRun,
    threads,
  });

  // The local folder is created first, so that on a first run it is already there to be
  // left out of the archive when it lies inside a source.
  const checked = await checkDestinations(job.stores, { dryRun: job.dryRun, logger, signal }).catch((error: unknown) => {
    throw withRunDetails(toCancelled(error, ctx.signal) as object, { ...details(), dryRun: job.dryRun || undefined });
  });
  const destinations: ArchiveWrite[] = [];
  /** The store each write belongs to (its name, for the outcome). */
  const storeOf = new Map<ArchiveWrite, Store>();
  const failures = new Map<ArchiveWrite, BackupError>();
  // Counting the sources runs alongside the backup: cancelled and awaited at the end, never left walking.
  const counting = new AbortController();
  let count: Promise<unknown> = Promise.resolve();
  try {
    if (!job.dryRun) await ctx.beforeWrite?.();
    const skipInodes = await inodesToLeaveOut(job);

    if (job.dryRun) {
      return await dryRun({
        sources: job.sources,
        exclude: job.exclude,
        stores: job.stores,
        name: rendered.name,
        format: chosen,
        skipInodes,
        skips,
        warnings,
        checked,
        signal,
        cwd: ctx.cwd,
        started,
        onEntry: ctx.onDryRunEntry,
        displayPath: (absolute) => displayPath(ctx.cwd, absolute),
      });
    }

    // Totals: the S3 part size needs an estimate before the upload starts (the archive's size is
    // not known up front); the progress bar only needs them eventually, so for it the count runs
    // alongside the backup instead of delaying it.
    let totals: { files: number; bytes: number } | undefined;
    const countOptions = { sources: job.sources, exclude: job.exclude, skipInodes, signal: AbortSignal.any([signal, counting.signal]) };
    if (checked.live.some((store) => store.kind !== 'local')) totals = await countSources(countOptions);
    else if (ctx.onProgress) {
      count = countSources(countOptions).then(
        (counted) => {
          totals = counted;
        },
        () => undefined, // the backup itself reports any problem
      );
    }
    /** Bytes each remote destination has acknowledged; the progress shows the slowest live one. */
    const acknowledged = new Map<ArchiveWrite, number>();
    let uploadedBytes: number | undefined;
    const progress = new ArchiveProgress(
      ctx.onProgress &&
        ((snapshot) => ctx.onProgress?.({ ...snapshot, totalFiles: totals?.files, totalBytes: totals?.bytes, uploadedBytes })),
    );

    for (const store of checked.live) {
      const write: ArchiveWrite = store.beginWrite({
        logger: ctx.logger,
        signal,
        expectedBytes: totals?.bytes,
        metadata: { 'backup-tool': `backup-automation/${ctx.toolVersion}` },
        onProgress: (bytes) => {
          acknowledged.set(write, bytes);
          const live = [...acknowledged].filter(([w]) => !failures.has(w)).map(([, b]) => b);
          uploadedBytes = live.length > 0 ? Math.min(...live) : undefined;
          ctx.onProgress?.({ ...progress.snapshot(), totalFiles: totals?.files, totalBytes: totals?.bytes, uploadedBytes });
        },
      });
      destinations.push(write);
      storeOf.set(write, store);
    }
    const fileName = await reserveName(destinations, failures, rendered.name, chosen.format, signal);
    const live = destinations.filter((d) => !failures.has(d));
    for (const d of live) logger.info(`writing ${fileName} to ${storeOf.get(d)!.name} (${d.label})`);

    const opened: Array<{ name: string; stream: Writable; d: ArchiveWrite }> = [];
    for (const d of live) {
      try {
        opened.push({ name: storeOf.get(d)!.name, stream: await d.open(signal), d });
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        failures.set(d, toBackupError(error, ctx.signal));
      }
    }
    if (opened.length === 0) throw [...failures.values()][0]!;
    const stages = createArchiveStages(
      { sources: job.sources, exclude: job.exclude, skipInodes },
      { format: chosen.format, threads, bzip2: chosen.bzip2, onSkip: skips.onSkip, onWarning: warn, progress, signal },
    );
    const hash = new HashStream();
    const fanOut = new FanOut(opened.map(({ name, stream }) => ({ name, stream })));
    try {
      await pipeline([...stages, hash, fanOut], { signal });
    } finally {
      // Compressor children and workers are gone before the run goes on (or reports a cancel).
      await allClosed(stages);
    }
    const sha256 = hash.digest();
    // Ctrl-C after the last byte still cancels: nothing is published from here on.
    signal.throwIfAborted();
    for (const { name, d } of opened) {
      const failure = fanOut.failures.get(name);
      if (failure) failures.set(d, toBackupError(failure, ctx.signal));
    }

    const manifest = (manifestDestinations: ManifestDestination[]): Manifest => ({
      manifestVersion: 1,
      tool: 'backup-automation',
      toolVersion: ctx.toolVersion,
      created: ctx.now.toISOString(),
      host: ctx.host,
      archive: fileName,
      nameTemplate: job.name?.trim() || DEFAULT_NAME_TEMPLATE,
      sources: job.sources,
      roots: archiveRoots(job.sources).roots,
      exclude: job.exclude,
      formatRequested: chosen.requested,
      format: chosen.format,
      files: progress.files,
      entries: progress.entries,
      sourceBytes: progress.bytesRead,
      archiveBytes: hash.bytes,
      sha256,
      skipped: skips.skipped,
      warnings,
      destinations: [
        ...checked.dropped.map((o) => ({ name: o.name, kind: o.type, location: o.location, ok: false, error: o.error ? redactText(o.error.message) : undefined })),
        ...manifestDestinations,
      ],
    });
    const published = await publishAll({ destinations, nameOf: (d) => storeOf.get(d)!.name, failures, fileName, info: { sha256, bytes: hash.bytes }, manifest, logger, signal });

    const outcomes = outcomesOf(checked, destinations, storeOf, failures, published, hash.bytes);
    for (const [d, failure] of failures) logger.error(`${storeOf.get(d)!.name} (${d.label}): ${failure.message}`);
    if (published.size === 0) throw withRunDetails([...failures.values()][0]!, { ...details(), destinations: outcomes });

    const local = destinations.find((d) => d.kind === 'local' && published.has(d));
    // `s3` stays in the result for the scripts that read it: the first S3 copy.
    const s3Url = destinations.filter((d) => d.kind === 's3' && published.has(d)).map((d) => /^s3:\/\/([^/]+)\/(.+)$/.exec(published.get(d)!))[0];
    const failed = outcomes.filter((o) => !o.ok).length;
    const exitCode = outcomeExitCode(failed, skips.skipped.length);
    const result: BackupResult = {
      ok: failed === 0,
      exitCode,
      archive: local ? displayPath(ctx.cwd, published.get(local)!) : null,
      format: chosen.format,
      requestedFormat: chosen.requested,
      bytes: hash.bytes,
      sha256,
      files: progress.files,
      sourceBytes: progress.bytesRead,
      skipped: skips.skipped,
      warnings,
      s3: s3Url ? { bucket: s3Url[1]!, key: s3Url[2]! } : null,
      destinations: outcomes,
      error: failed > 0 ? describeFailedDestinations(outcomes) : null,
      durationMs: Math.round(performance.now() - started),
    };
    logger.info(failed > 0 ? 'backup finished with a failed destination' : 'backup complete', {
      destinations: outcomes,
      bytes: hash.bytes,
      sha256,
      files: progress.files,
      skipped: skips.skipped.length,
      exitCode,
    });
    return result;
  } catch (error) {
    for (const d of destinations) {
      await d.abort().catch((cleanup: unknown) => logger.error(`could not clean up ${d.label}: ${describeErrno(cleanup)}`));
    }
    const attach = (e: BackupError): BackupError =>
      withRunDetails(e, {
        ...details(),
        dryRun: job.dryRun || undefined,
        destinations: runDetailsOf(e).destinations ?? (destinations.length > 0 ? outcomesOf(checked, destinations, storeOf, failures, new Map(), 0, e) : runDestinations(e, checked)),
      });
    if (skips.strictFailure) throw attach(skips.strictFailure);
    if (ctx.signal?.aborted) throw attach(new CancelledError(undefined, { cause: error }));
    if (error instanceof BackupError) throw attach(error);
    const code = errnoCode(error);
    if (code) throw attach(new ArchiveError(`Reading the sources failed: ${describeErrno(error)}. Nothing was published.`, { cause: error }));
    throw attach(toBackupError(error, ctx.signal));
  } finally {
    counting.abort();
    await count;
    await Promise.all(destinations.map((d) => d.close().catch(() => undefined)));
  }
}

/** Ctrl-C during preflight is a cancel (exit 130), whatever the aborted call threw. */
function toCancelled(error: unknown, userSignal: AbortSignal | undefined): unknown {
  return userSignal?.aborted && !(error instanceof BackupError && error.code === 'CANCELLED') ? new CancelledError(undefined, { cause: error }) : error;
}

/** The destinations a failed run reports: those dropped before it, and the others as not done. */
function runDestinations(error: BackupError, checked: CheckedDestinations): DestinationOutcome[] {
  return inStoreOrder(checked, [...checked.dropped, ...checked.live.map((store) => failedOutcome(store, store.label, error))]);
}

/** Outcomes in the order the destinations were given (settings.json's order). */
function inStoreOrder(checked: CheckedDestinations, outcomes: DestinationOutcome[]): DestinationOutcome[] {
  const order = checked.order.map((store) => store.name);
  return outcomes.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}

/** Each destination's outcome, in the order the destinations were given. */
function outcomesOf(
  checked: CheckedDestinations,
  destinations: readonly ArchiveWrite[],
  storeOf: ReadonlyMap<ArchiveWrite, Store>,
  failures: Map<ArchiveWrite, BackupError>,
  published: Map<ArchiveWrite, string>,
  bytes: number,
  /** Why a destination without a failure of its own did not get the backup (the run's failure). */
  runFailure: BackupError = new BackupError('not published', { code: 'DESTINATION_FAILED' }),
): DestinationOutcome[] {
  const outcomes: DestinationOutcome[] = [...checked.dropped];
  for (const d of destinations) {
    const location = published.get(d);
    const store = storeOf.get(d)!;
    if (location !== undefined) outcomes.push({ name: store.name, type: store.kind, ok: true, location, bytes, error: null });
    else outcomes.push(failedOutcome(store, d.label, failures.get(d) ?? runFailure));
  }
  return inStoreOrder(checked, outcomes);
}

/** Resolves once every stream has closed (a compressor's child process has exited). */
async function allClosed(streams: ReadonlyArray<Readable | Duplex>): Promise<void> {
  await Promise.all(
    streams.map((s) =>
      s.closed || !s.destroyed
        ? undefined
        : new Promise<void>((resolve) => {
            s.once('close', () => resolve());
          }),
    ),
  );
}

/**
 * The first `name.ext`, `name-1.ext`, ... that every live destination could
 * claim. A destination that fails to answer (not "taken": an error) is
 * dropped into `failures`; the others go on.
 */
async function reserveName(
  destinations: ArchiveWrite[],
  failures: Map<ArchiveWrite, BackupError>,
  name: string,
  ext: string,
  signal: AbortSignal,
): Promise<string> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const candidate = candidateFileName(name, ext, attempt);
    const claimed: ArchiveWrite[] = [];
    let taken = false;
    for (const d of destinations) {
      if (failures.has(d)) continue;
      try {
        if (!(await d.reserve(candidate))) {
          taken = true;
          break;
        }
        claimed.push(d);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        failures.set(d, toBackupError(error, signal));
      }
    }
    if (destinations.every((d) => failures.has(d))) throw [...failures.values()][0]!;
    if (!taken) return candidate;
    for (const d of claimed) await d.abort();
  }
  throw new UsageError(`Could not find a free name for ${name}.${ext} (tried 1000).`, { code: 'NAME_EXHAUSTED' });
}
