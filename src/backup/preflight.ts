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
import type { Store } from '../storage/store.js';
import type { Logger } from '../log/logger-types.js';
import { withRunDetails, type DestinationOutcome } from './result.js';
import { archiveRoots } from '../archive/archive-roots.js';

export interface PreflightJob {
  sources: string[];
  stores: readonly Store[];
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
  for (const folder of job.stores.flatMap((store) => (store.folder === undefined ? [] : [store.folder]))) {
    const destStat = await fs.stat(folder).catch(() => undefined);
    if (!destStat) continue;
    skipInodes.add(inodeKey(destStat));
    for (const source of job.sources) {
      if (inodeKey(await fs.stat(source)) === inodeKey(destStat)) {
        throw new UsageError(`The destination ${folder} is the source itself; choose a destination outside it.`, {
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

/** A destination dropped before the run (or not done), as the result reports it. */
export function failedOutcome(store: Pick<Store, 'name' | 'kind'>, location: string, error: BackupError): DestinationOutcome {
  return { name: store.name, type: store.kind, ok: false, location, bytes: 0, error: { code: error.code, message: error.message } };
}

export interface CheckedDestinations {
  /** Every destination, in the order given. */
  order: readonly Store[];
  /** The stores that passed their check (a local folder now exists unless a dry run), in the run's order. */
  live: Store[];
  /** Destinations dropped by their check, in order. */
  dropped: DestinationOutcome[];
}

/**
 * Checks every destination at once (a slow remote does not delay the
 * others' checks): reachable, credentials, the folder/bucket/container, write
 * permission; a local folder is created unless `dryRun`. One that fails is
 * dropped and recorded, and the run goes on with the others (a mistake in
 * one destination's settings must not cost the backups of the others); when
 * none is left, the first failure is thrown with every outcome attached (a
 * single destination's usage mistake is still exit 2).
 */
export async function checkDestinations(
  stores: readonly Store[],
  options: { dryRun: boolean; logger: Logger; signal: AbortSignal },
): Promise<CheckedDestinations> {
  const { logger, signal } = options;
  if (stores.length === 0) throw new UsageError('No destination: give a local folder (--dest), an S3 bucket (--s3-bucket), or "destinations" in settings.json.', { code: 'NO_DESTINATION' });
  const checks = await Promise.allSettled(stores.map((store) => store.check({ dryRun: options.dryRun, signal })));
  if (signal.aborted) throw signal.reason;
  const checked: CheckedDestinations = { order: stores, live: [], dropped: [] };
  const failures: BackupError[] = [];
  checks.forEach((check, i) => {
    const store = stores[i]!;
    if (check.status === 'fulfilled') return void checked.live.push(store);
    const failure = toBackupError(check.reason, signal);
    failures.push(failure);
    checked.dropped.push(failedOutcome(store, store.label, failure));
  });
  if (checked.live.length === 0) throw withRunDetails(failures[0]!, { destinations: checked.dropped });
  // Said here when the run goes on without them; when none is left, the failure says it.
  for (const dropped of checked.dropped) logger.error(`destination ${dropped.name} (${dropped.location}) cannot be used: ${dropped.error?.message}`);
  return checked;
}
