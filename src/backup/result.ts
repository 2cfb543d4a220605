/**
 * The result of one run: what `--json` prints (DESIGN.md's contract) and
 * what the human summary is rendered from.
 */
import type { Skip } from '../archive/walk.js';
import type { StoreKind } from '../storage/store.js';
import { ExitCode, type BackupError, type ErrorCode, type ExitCodeValue } from '../errors.js';

export interface BackupResult {
  ok: boolean;
  exitCode: ExitCodeValue;
  /** Local archive path (relative to the working folder when inside it); null when nothing local was written. */
  archive: string | null;
  format: string | null;
  requestedFormat: string | null;
  /** Archive size in bytes. */
  bytes: number;
  sha256: string | null;
  files: number;
  /** Bytes read from the sources. */
  sourceBytes: number;
  skipped: Skip[];
  warnings: string[];
  s3: { bucket: string; key: string } | null;
  /** Every destination of the run and how it went (DESIGN.md's `destinations`). */
  destinations: DestinationOutcome[];
  error: { code: ErrorCode; message: string } | null;
  dryRun?: boolean;
  durationMs?: number;
  /** What the settings' retention policy did after the backup (null: no policy, or not applied). */
  retention?: RetentionSummary | null;
}

export interface DestinationOutcome {
  /** The destination's name (settings `destinations[].name`; `local` / `s3` for the older keys). */
  name: string;
  type: StoreKind;
  /** The archive is there, complete, with its sidecars. */
  ok: boolean;
  /** Path or s3:// URL of the archive (the folder or bucket/prefix when it failed before a name was chosen). */
  location: string;
  /** Archive bytes stored there (0 when it failed). */
  bytes: number;
  error: { code: ErrorCode; message: string } | null;
}

/**
 * What a failed run knew when it failed (skipped files, destinations,
 * warnings), carried with the thrown error to the failure result, so that
 * `--json` lists them on failure too.
 */
const details = new WeakMap<object, Partial<BackupResult>>();

export function withRunDetails<E extends object>(error: E, partial: Partial<BackupResult>): E {
  details.set(error, { ...details.get(error), ...partial });
  return error;
}

export function runDetailsOf(error: unknown): Partial<BackupResult> {
  return typeof error === 'object' && error !== null ? (details.get(error) ?? {}) : {};
}

export interface RetentionSummary {
  policy: string;
  /** Files deleted, per location (archives with their sidecars). */
  removed: Array<{ location: string; files: string[] }>;
  /** Backups of this job kept. */
  kept: number;
  /** Deletes that failed (the backup itself is fine). */
  failed: Array<{ file: string; error: string }>;
}

/** The result printed for a run that failed before or while producing an archive. */
export function failedResult(error: BackupError, partial: Partial<BackupResult> = {}): BackupResult {
  return {
    archive: null,
    format: null,
    requestedFormat: null,
    bytes: 0,
    sha256: null,
    files: 0,
    sourceBytes: 0,
    skipped: [],
    warnings: [],
    s3: null,
    destinations: [],
    ...partial,
    ok: false,
    exitCode: error.exitCode === ExitCode.ok ? ExitCode.failed : error.exitCode,
    error: { code: error.code, message: error.message },
  };
}
