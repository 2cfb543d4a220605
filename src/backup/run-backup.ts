/**
 * One backup run: sources -> walk -> archive -> hash -> destination(s) ->
 * verify, publish, sidecars, manifest. No prompts, no printing, no exiting:
 * it returns a BackupResult or throws a BackupError.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  ArchiveError,
  BackupError,
  CancelledError,
  ExitCode,
  UsageError,
  describeErrno,
  errnoCode,
  toBackupError,
} from '../errors.js';
import { resolveFormat, type Format } from '../archive/formats.js';
import { candidateFileName, renderName, DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import { countSources, inodeKey, walk, type Entry, type Skip } from '../archive/walk.js';
import { createArchiveStages } from '../archive/create-archive.js';
import { findBzip2, type Bzip2Program } from '../archive/compressors.js';
import { HashStream } from '../archive/hash-stream.js';
import { ArchiveProgress, type ProgressSnapshot } from '../archive/progress-counter.js';
import { LocalDestination } from '../storage/local.js';
import type { Destination } from '../storage/destination.js';
import { FanOut } from '../storage/fan-out.js';
import { partSizeFor } from '../storage/part-size.js';
import type { S3Target } from '../storage/s3.js';
import type { Logger } from '../log/logger-types.js';
import { manifestSidecar, sha256Sidecar, type Manifest, type ManifestDestination } from './manifest.js';
import type { BackupResult } from './result.js';

export interface BackupJob {
  /** Absolute paths. */
  sources: string[];
  /** Absolute local folder; undefined with S3 only (`--no-local`). */
  destination?: string;
  /** Upload to S3 as well (or only). */
  s3?: S3Target;
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
  /** Bytes S3 has acknowledged, when uploading. */
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

/** Checks every source exists and can be read before anything is written. */
async function checkSources(sources: readonly string[], cwd: string): Promise<void> {
  if (sources.length === 0) {
    throw new UsageError('Nothing to back up: give at least one source (--source PATH, or "sources" in settings.json).', {
      code: 'NO_SOURCE',
    });
  }
  const seen = new Map<string, string>();
  for (const source of sources) {
    let stat;
    try {
      stat = await fs.stat(source);
      await fs.access(source, stat.isDirectory() ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
    } catch (error) {
      const code = errnoCode(error);
      const danglingLink = code === 'ENOENT' && (await fs.lstat(source).then((s) => s.isSymbolicLink(), () => false));
      throw new UsageError(
        danglingLink
          ? `Source ${source} is a symbolic link to ${await fs.readlink(source).catch(() => '?')}, which does not exist.`
          : code === 'ENOENT'
            ? `Source ${source} does not exist. Check the path (relative paths are taken from the current folder, ${cwd}).`
            : `Source ${source} cannot be read: ${describeErrno(error)}.`,
        { code: code === 'ENOENT' ? 'SOURCE_NOT_FOUND' : 'SOURCE_UNREADABLE', cause: error },
      );
    }
    const base = path.basename(source) || 'root';
    const clash = seen.get(base);
    if (clash !== undefined) {
      throw new UsageError(
        `Sources ${clash} and ${source} would both be stored as "${base}/" in the archive. Back them up in separate jobs, or give their common parent folder.`,
        { code: 'SOURCE_CLASH' },
      );
    }
    seen.set(base, source);
  }
}

/** Picks the format actually written, with the ZIP fallback for unknown names and a missing bzip2. */
function chooseFormat(
  requested: string | undefined,
  envPath: string | undefined,
  threads: number,
  warnings: string[],
): {
  format: Format;
  requested: string;
  bzip2?: Bzip2Program;
} {
  const resolved = resolveFormat(requested);
  if (resolved.warning) warnings.push(resolved.warning);
  if (resolved.format !== 'tar.bz2') return { format: resolved.format, requested: resolved.requested };
  const bzip2 = findBzip2(envPath, threads);
  if (!bzip2) {
    warnings.push('tar.bz2 needs the lbzip2 or bzip2 program and neither was found on PATH; writing zip instead (install one: apt-get install lbzip2).');
    return { format: 'zip', requested: resolved.requested };
  }
  return { format: 'tar.bz2', requested: resolved.requested, bzip2 };
}

export async function runBackup(job: BackupJob, ctx: RunContext): Promise<BackupResult> {
  const { logger } = ctx;
  const started = performance.now();
  const warnings: string[] = [];
  const skipped: Skip[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    logger.warn(message);
  };

  if (job.destination === undefined && job.s3 === undefined) {
    throw new UsageError('No destination: give a local folder (--dest) or an S3 bucket (--s3-bucket).', { code: 'NO_DESTINATION' });
  }
  await checkSources(job.sources, ctx.cwd);
  const threads = job.threads ?? os.availableParallelism();
  const chosen = chooseFormat(job.format, ctx.envPath, threads, warnings);
  const rendered = renderName(job.name, { sources: job.sources, now: ctx.now, host: ctx.host });
  warnings.push(...rendered.warnings);
  for (const message of warnings) logger.warn(message);

  logger.info('backup started', {
    sources: job.sources,
    destination: job.destination ?? null,
    s3: job.s3 ? { bucket: job.s3.bucket, prefix: job.s3.prefix, region: job.s3.region, endpoint: job.s3.endpoint, storageClass: job.s3.storageClass } : null,
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
  let local: LocalDestination | undefined;
  if (!job.dryRun && job.destination !== undefined) {
    local = new LocalDestination(job.destination);
    await local.prepare();
  }
  if (!job.dryRun) await ctx.beforeWrite?.();
  const skipInodes = await inodesToLeaveOut(job);

  // One controller for the whole run: Ctrl-C (ctx.signal) or --strict on the first skip.
  const controller = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, controller.signal]) : controller.signal;
  let strictFailure: BackupError | undefined;
  const onSkip = (skip: Skip): void => {
    skipped.push(skip);
    logger.warn(`skipped ${skip.path}: ${skip.reason}`);
    if (job.strict && !strictFailure) {
      strictFailure = new ArchiveError(`${skip.path}: ${skip.reason}. --strict makes unreadable files fatal; nothing was published.`, {
        code: 'SOURCE_FILE_UNREADABLE',
      });
      controller.abort(strictFailure);
    }
  };

  const ext = chosen.format;
  if (job.dryRun) {
    if (job.s3) {
      const s3 = await import('../storage/s3.js');
      await s3.checkBucket(s3.createS3Client(job.s3), job.s3, signal);
    }
    return dryRun(job, ctx, { ext, name: rendered.name, chosen, skipInodes, onSkip, warnings, skipped, started });
  }

  // Totals: the S3 part size needs an estimate before the upload starts (the archive's size is
  // not known up front); the progress bar only needs them eventually, so for it the count runs
  // alongside the backup instead of delaying it.
  let totals: { files: number; bytes: number } | undefined;
  if (job.s3) totals = await countSources({ sources: job.sources, exclude: job.exclude, skipInodes, signal });
  else if (ctx.onProgress) {
    countSources({ sources: job.sources, exclude: job.exclude, skipInodes, signal }).then(
      (counted) => {
        totals = counted;
      },
      () => undefined, // the backup itself reports any problem
    );
  }
  let uploadedBytes: number | undefined;
  const progress = new ArchiveProgress(
    ctx.onProgress &&
      ((snapshot) => ctx.onProgress?.({ ...snapshot, totalFiles: totals?.files, totalBytes: totals?.bytes, uploadedBytes })),
  );

  const destinations = await openDestinations(job, ctx, local, signal, totals?.bytes, (bytes) => {
    uploadedBytes = bytes;
    ctx.onProgress?.({ ...progress.snapshot(), totalFiles: totals?.files, totalBytes: totals?.bytes, uploadedBytes });
  });
  const abortAll = async (): Promise<void> => {
    for (const d of destinations) {
      await d.abort().catch((error: unknown) => logger.error(`could not clean up ${d.label}: ${describeErrno(error)}`));
    }
  };

  try {
    const fileName = await reserveName(destinations, rendered.name, ext);
    for (const d of destinations) logger.info(`writing ${fileName} to ${d.label}`);

    const stages = createArchiveStages({ sources: job.sources, exclude: job.exclude, skipInodes }, { format: chosen.format, threads, bzip2: chosen.bzip2, onSkip, onWarning: warn, progress, signal });
    const hash = new HashStream();
    const fanOut = new FanOut(await Promise.all(destinations.map(async (d) => ({ name: d.label, stream: await d.open(signal) }))));
    await pipeline([...stages, hash, fanOut], { signal });
    const sha256 = hash.digest();
    // Ctrl-C after the last byte still cancels: nothing is published from here on.
    signal.throwIfAborted();

    // Publish on every destination that received everything; record the others.
    const failures = new Map<Destination, BackupError>();
    const committed = new Map<Destination, string>();
    for (const d of destinations) {
      const failure = fanOut.failures.get(d.label);
      if (failure) {
        failures.set(d, toBackupError(failure));
        continue;
      }
      try {
        committed.set(d, (await d.commit({ sha256, bytes: hash.bytes }, signal)).location);
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        failures.set(d, toBackupError(error));
      }
    }
    if (committed.size === 0) throw [...failures.values()][0]!;

    const manifestDestinations: ManifestDestination[] = destinations.map((d) =>
      committed.has(d)
        ? { kind: d.kind, location: committed.get(d)!, ok: true }
        : { kind: d.kind, location: d.label, ok: false, error: failures.get(d)?.message },
    );
    const manifest: Manifest = {
      manifestVersion: 1,
      tool: 'backup-automation',
      toolVersion: ctx.toolVersion,
      created: ctx.now.toISOString(),
      host: ctx.host,
      archive: fileName,
      nameTemplate: job.name?.trim() || DEFAULT_NAME_TEMPLATE,
      sources: job.sources,
      exclude: job.exclude,
      formatRequested: chosen.requested,
      format: chosen.format,
      files: progress.files,
      entries: progress.entries,
      sourceBytes: progress.bytesRead,
      archiveBytes: hash.bytes,
      sha256,
      skipped,
      warnings,
      destinations: manifestDestinations,
    };
    for (const d of committed.keys()) {
      try {
        await d.writeSidecars([sha256Sidecar(fileName, sha256), manifestSidecar(manifest)]);
      } catch (error) {
        failures.set(d, toBackupError(error));
      }
    }
    for (const d of failures.keys()) {
      logger.error(`${d.label}: ${failures.get(d)!.message}`);
      if (!committed.has(d)) await d.abort().catch(() => undefined);
    }

    const local = destinations.find((d) => d.kind === 'local' && committed.has(d) && !failures.has(d));
    const s3 = destinations.find((d) => d.kind === 's3' && committed.has(d) && !failures.has(d));
    const exitCode = failures.size > 0 ? ExitCode.failed : skipped.length > 0 ? ExitCode.partial : ExitCode.ok;
    const result: BackupResult = {
      ok: failures.size === 0,
      exitCode,
      archive: local ? displayPath(ctx.cwd, committed.get(local)!) : null,
      format: chosen.format,
      requestedFormat: chosen.requested,
      bytes: hash.bytes,
      sha256,
      files: progress.files,
      sourceBytes: progress.bytesRead,
      skipped,
      warnings,
      s3: s3 && job.s3 ? { bucket: job.s3.bucket, key: `${job.s3.prefix}${fileName}` } : null,
      error: failures.size > 0 ? describePartialFailure(failures, local ? committed.get(local)! : undefined, s3 ? committed.get(s3) : undefined) : null,
      durationMs: Math.round(performance.now() - started),
    };
    logger.info(failures.size > 0 ? 'backup finished with a failed destination' : 'backup complete', {
      destinations: manifestDestinations,
      bytes: hash.bytes,
      sha256,
      files: progress.files,
      skipped: skipped.length,
      exitCode,
    });
    return result;
  } catch (error) {
    await abortAll();
    if (strictFailure) throw strictFailure;
    if (ctx.signal?.aborted) throw new CancelledError(undefined, { cause: error });
    if (error instanceof BackupError) throw error;
    const code = errnoCode(error);
    if (code) {
      throw new ArchiveError(`Reading the sources failed: ${describeErrno(error)}. Nothing was published.`, { cause: error });
    }
    throw toBackupError(error);
  }
}

/** Keep the destination folder (when inside a source) and our own log file out of the archive. */
async function inodesToLeaveOut(job: BackupJob): Promise<Set<string>> {
  const skipInodes = new Set<string>();
  const destStat = job.destination ? await fs.stat(job.destination).catch(() => undefined) : undefined;
  if (destStat) {
    skipInodes.add(inodeKey(destStat));
    for (const source of job.sources) {
      if (inodeKey(await fs.stat(source)) === inodeKey(destStat)) {
        throw new UsageError(`The destination ${job.destination} is the source itself; choose a destination outside it.`, {
          code: 'DEST_IS_SOURCE',
        });
      }
    }
  }
  if (job.logFile) {
    const logStat = await fs.stat(job.logFile).catch(() => undefined);
    if (logStat) skipInodes.add(inodeKey(logStat));
  }
  return skipInodes;
}

/** The local folder and/or S3, checked and ready to reserve a name. */
async function openDestinations(
  job: BackupJob,
  ctx: RunContext,
  local: LocalDestination | undefined,
  signal: AbortSignal,
  estimatedBytes: number | undefined,
  onUploadProgress: (bytes: number) => void,
): Promise<Destination[]> {
  const destinations: Destination[] = local ? [local] : [];
  if (job.s3) {
    // Loaded only when used: the AWS SDK is most of the start-up time.
    const s3 = await import('../storage/s3.js');
    const client = s3.createS3Client(job.s3);
    await s3.checkBucket(client, job.s3, signal);
    destinations.push(
      new s3.S3Destination({
        client,
        target: job.s3,
        logger: ctx.logger,
        partSize: partSizeFor(estimatedBytes),
        metadata: { 'backup-tool': `backup-automation/${ctx.toolVersion}` },
        onProgress: onUploadProgress,
        signal,
      }),
    );
  }
  return destinations;
}

/** The first `name.ext`, `name-1.ext`, ... that every destination could claim. */
async function reserveName(destinations: Destination[], name: string, ext: string): Promise<string> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const candidate = candidateFileName(name, ext, attempt);
    const claimed: Destination[] = [];
    for (const d of destinations) {
      if (!(await d.reserve(candidate))) break;
      claimed.push(d);
    }
    if (claimed.length === destinations.length) return candidate;
    for (const d of claimed) await d.abort();
  }
  throw new UsageError(`Could not find a free name for ${name}.${ext} (tried 1000).`, { code: 'NAME_EXHAUSTED' });
}

/** The `error` of a run where some destination failed but another got the backup. */
function describePartialFailure(
  failures: Map<Destination, BackupError>,
  localLocation: string | undefined,
  s3Location: string | undefined,
): { code: string; message: string } {
  const [first, error] = [...failures.entries()][0]!;
  const safe = localLocation
    ? ` The local copy is complete and verified: ${localLocation}.`
    : s3Location
      ? ` The copy on S3 is complete: ${s3Location}.`
      : '';
  return { code: error.code, message: `${first.kind === 's3' ? 'S3 upload failed' : `${first.label} failed`}: ${error.message}${safe}` };
}

async function dryRun(
  job: BackupJob,
  ctx: RunContext,
  state: {
    ext: string;
    name: string;
    chosen: { format: Format; requested: string };
    skipInodes: Set<string>;
    onSkip: (skip: Skip) => void;
    warnings: string[];
    skipped: Skip[];
    started: number;
  },
): Promise<BackupResult> {
  let files = 0;
  let bytes = 0;
  for await (const entry of walk({ ...job, skipInodes: state.skipInodes, onSkip: state.onSkip, signal: ctx.signal })) {
    if (entry.kind === 'file') {
      // Report what the real run would skip, without reading anything.
      try {
        await fs.access(entry.absPath, fs.constants.R_OK);
      } catch (error) {
        state.onSkip({ path: entry.absPath, reason: describeErrno(error) });
        continue;
      }
      files += 1;
      bytes += entry.stat.size;
    }
    ctx.onDryRunEntry?.(entry);
  }
  let fileName = candidateFileName(state.name, state.ext, 0);
  for (let attempt = 1; job.destination !== undefined && attempt < 1000; attempt++) {
    const taken = await fs
      .lstat(path.join(job.destination, fileName))
      .then(() => true)
      .catch(() => false);
    if (!taken) break;
    fileName = candidateFileName(state.name, state.ext, attempt);
  }
  return {
    ok: true,
    exitCode: state.skipped.length > 0 ? ExitCode.partial : ExitCode.ok,
    dryRun: true,
    archive: job.destination !== undefined ? displayPath(ctx.cwd, path.join(job.destination, fileName)) : null,
    format: state.chosen.format,
    requestedFormat: state.chosen.requested,
    bytes: 0,
    sha256: null,
    files,
    sourceBytes: bytes,
    skipped: state.skipped,
    warnings: state.warnings,
    s3: job.s3 ? { bucket: job.s3.bucket, key: `${job.s3.prefix}${fileName}` } : null,
    error: null,
    durationMs: Math.round(performance.now() - state.started),
  };
}
