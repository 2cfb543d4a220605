/**
 * Typed errors. Every failure that reaches the user is a BackupError with a
 * stable `code` (for --json and scripts), an `exitCode` (DESIGN.md's table)
 * and, where there was one, the underlying `cause`. Messages say what went
 * wrong in plain words and what to do about it.
 *
 * This module imports nothing from the rest of the project.
 */

export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  partial: 3,
  cancelled: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class BackupError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;

  constructor(message: string, options: { code: string; exitCode?: ExitCodeValue; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.exitCode = options.exitCode ?? ExitCode.failed;
  }
}
BackupError.prototype.name = 'BackupError';

/** Bad flag, bad settings, missing source: the user must change the input (exit 2). */
export class UsageError extends BackupError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'USAGE', exitCode: ExitCode.usage, cause: options.cause });
  }
}
UsageError.prototype.name = 'UsageError';

/** settings.json is missing, unreadable, not JSON, or does not match the schema (exit 2). */
export class ConfigError extends BackupError {
  readonly file: string;
  constructor(file: string, message: string, options: { cause?: unknown } = {}) {
    super(`${file}: ${message}`, { code: 'CONFIG_INVALID', exitCode: ExitCode.usage, cause: options.cause });
    this.file = file;
  }
}
ConfigError.prototype.name = 'ConfigError';

/** Ctrl-C or SIGTERM: partial output has been removed (exit 130). */
export class CancelledError extends BackupError {
  constructor(message = 'Cancelled; partial files were removed.', options: { cause?: unknown } = {}) {
    super(message, { code: 'CANCELLED', exitCode: ExitCode.cancelled, cause: options.cause });
  }
}
CancelledError.prototype.name = 'CancelledError';

/** A destination could not be written (permissions, disk full, ...) (exit 1). */
export class DestinationError extends BackupError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'DESTINATION_FAILED', exitCode: ExitCode.failed, cause: options.cause });
  }
}
DestinationError.prototype.name = 'DestinationError';

/** Reading the sources or building the archive failed as a whole (exit 1). */
export class ArchiveError extends BackupError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'ARCHIVE_FAILED', exitCode: ExitCode.failed, cause: options.cause });
  }
}
ArchiveError.prototype.name = 'ArchiveError';

/** Node's errno codes in words a user understands, with what to do. */
const ERRNO_HINTS: Record<string, string> = {
  ENOENT: 'does not exist',
  EACCES: 'permission denied (check the owner and mode, or run as a user who may read/write it)',
  EPERM: 'operation not permitted (check the owner and mode)',
  ENOSPC: 'no space left on the device (free some space or choose another destination)',
  EDQUOT: 'disk quota exceeded (free some space or choose another destination)',
  EROFS: 'the file system is read-only (choose another destination)',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'is a folder, not a file',
  EEXIST: 'already exists',
  EMFILE: 'too many open files (raise the limit with `ulimit -n`)',
  EIO: 'input/output error (the disk or network file system may be failing)',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long for this file system',
};

export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error && typeof (error as { code: unknown }).code === 'string') {
    return (error as { code: string }).code;
  }
  return undefined;
}

/** "permission denied (...)" for EACCES, else the error's own message. */
export function describeErrno(error: unknown): string {
  const code = errnoCode(error);
  if (code && ERRNO_HINTS[code]) return `${ERRNO_HINTS[code]} [${code}]`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Wraps anything thrown into a BackupError, keeping BackupErrors as they are.
 * An AbortError is a cancellation only when `signal` (the command's own, which
 * Ctrl-C / SIGTERM abort) was aborted: a stream torn down under a read by
 * damage is not the user cancelling (exit 1, not 130).
 */
export function toBackupError(error: unknown, signal?: AbortSignal): BackupError {
  if (error instanceof BackupError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (isAbortError(error)) {
    if (signal === undefined || signal.aborted) return new CancelledError(undefined, { cause: error });
    return new BackupError(`Stopped: an operation was aborted, but not by Ctrl-C or a signal (${message}); nothing was cancelled by you.`, {
      code: 'INTERNAL',
      cause: error,
    });
  }
  return new BackupError(`Unexpected error: ${message}`, { code: 'INTERNAL', cause: error });
}

export function isAbortError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'AbortError' || errnoCode(error) === 'ABORT_ERR')
  );
}

/**
 * Another run of the same job holds its lock, so this run did nothing
 * (exit 1). `holder` is the owner recorded in the lock file, when readable.
 */
export class LockedError extends BackupError {
  readonly file: string;
  readonly holder: { pid: number; host: string; started: string; command: string; procStart?: string } | undefined;
  constructor(
    file: string,
    message: string,
    options: { holder?: { pid: number; host: string; started: string; command: string; procStart?: string }; cause?: unknown } = {},
  ) {
    super(message, { code: 'LOCKED', exitCode: ExitCode.failed, cause: options.cause });
    this.file = file;
    this.holder = options.holder;
  }
}
LockedError.prototype.name = 'LockedError';
