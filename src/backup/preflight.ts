/**
 * Preflight: everything checked before a byte is written. The sources
 * exist and can be read, the format can be written (the ZIP fallback), and
 * each destination can be reached: a destination that fails its check is
 * dropped and recorded, and the others still get the backup (DESIGN.md,
 * exit 1); only when none is left does the run fail here. The dry run
 * runs the same checks, so it predicts the real run's outcome.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { filesBesideLog } from '../automation/job.js';
import { BackupError, UsageError, describeErrno, errnoCode, toBackupError } from '../errors.js';
import { resolveFormat, type Format } from '../archive/formats.js';
import { findBzip2, type Bzip2Program } from '../archive/compressors.js';
import { inodeKey } from '../archive/walk.js';
import { LocalDestination } from '../storage/local.js';
import type { S3Target } from '../storage/s3.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../log/logger-types.js';
import { withRunDetails, type DestinationOutcome } from './result.js';
import { archiveRoots } from '../archive/archive-roots.js';

export interface PreflightJob {
  sources: string[];
  destination?: string;
  s3?: S3Target;
  logFile?: string;
}

/** Checks every source exists and can be read before anything is written. */
export async function checkSources(sources: readonly string[], cwd: string): Promise<string[]> {
  if (sources.length === 0) {
    throw new UsageError('Nothing to back up: give at least one source (--source PATH, or "sources" in settings.json).', {
      code: 'NO_SOURCE',
    });
  }
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
  }
  // Same base names are stored apart (archive-roots.ts); a source inside another is refused there.
  return archiveRoots(sources).duplicates.map((source) => `Source ${source} is given more than once; it is stored once.`);
}

/** Picks the format actually written, with the ZIP fallback for unknown names and a missing bzip2. */
export function chooseFormat(
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

/** Keep the destination folder (when inside a source), our own log file and the run history beside it out of the archive. */
export async function inodesToLeaveOut(job: PreflightJob): Promise<Set<string>> {
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
    // The log and the run history beside it change while the run reads the sources.
    for (const file of [job.logFile, ...filesBesideLog(job.logFile)]) {
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat) skipInodes.add(inodeKey(stat));
    }
  }
  return skipInodes;
}

/** A destination dropped before the run, as the result reports it. */
export function failedOutcome(type: 'local' | 's3', location: string, error: BackupError): DestinationOutcome {
  return { name: type, type, ok: false, location, bytes: 0, error: { code: error.code, message: error.message } };
}

export interface CheckedDestinations {
  /** The local folder, created and writable (undefined: none asked, or dropped). */
  local?: LocalDestination;
  /** S3, reachable with these credentials (undefined: none asked, or dropped). */
  s3?: { client: S3Client; target: S3Target };
  /** Destinations dropped by their check, in order. */
  dropped: DestinationOutcome[];
}

/**
 * Checks (and, unless `dryRun`, creates) the local folder and checks that
 * the S3 bucket can be used. A usage problem (the folder is a file) stays
 * fatal: no destination is dropped for a typo. Anything else drops that
 * destination; if none is left, the first failure is thrown with every
 * destination's outcome attached.
 */
export async function checkDestinations(
  job: PreflightJob,
  options: { dryRun: boolean; logger: Logger; signal: AbortSignal },
): Promise<CheckedDestinations> {
  const { logger, signal } = options;
  const checked: CheckedDestinations = { dropped: [] };
  const failures: BackupError[] = [];
  const drop = (type: 'local' | 's3', location: string, error: unknown): void => {
    if (signal.aborted) throw signal.reason;
    const failure = toBackupError(error, signal);
    if (failure instanceof UsageError) throw failure;
    failures.push(failure);
    checked.dropped.push(failedOutcome(type, location, failure));
  };
  if (job.destination !== undefined) {
    const local = new LocalDestination(job.destination);
    try {
      if (options.dryRun) await local.probe();
      else await local.prepare(signal);
      checked.local = local;
    } catch (error) {
      drop('local', job.destination, error);
    }
  }
  if (job.s3) {
    // Loaded only when used: the AWS SDK is most of the start-up time.
    const s3 = await import('../storage/s3.js');
    const client = s3.createS3Client(job.s3);
    try {
      await s3.checkBucket(client, job.s3, signal);
      checked.s3 = { client, target: job.s3 };
    } catch (error) {
      client.destroy();
      drop('s3', s3.s3Label(job.s3), error);
    }
  }
  if (!checked.local && !checked.s3) {
    throw withRunDetails(failures[0] ?? new UsageError('No destination: give a local folder (--dest) or an S3 bucket (--s3-bucket).', { code: 'NO_DESTINATION' }), {
      destinations: checked.dropped,
    });
  }
  // Said here when the run goes on without them; when none is left, the failure says it.
  for (const dropped of checked.dropped) logger.error(`destination ${dropped.location} cannot be used: ${dropped.error?.message}`);
  return checked;
}
