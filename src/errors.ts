/**
 * Typed errors. Every failure that reaches the user is a BackupError with a
 * stable `code` (for --json and scripts) from ERROR_CODES, the exit code
 * that table gives it (DESIGN.md's table)
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

/**
 * Every error code, with its exit code: the one table (codes are part of the
 * `--json` contract: `error.code`). A code not listed here does not
 * typecheck; the error classes below only take codes whose exit code is theirs.
 */
export const ERROR_CODES = {
  // Usage and configuration: the user must change the input (exit 2).
  USAGE: { exit: ExitCode.usage, meaning: 'a bad flag or argument' },
  CONFIG_INVALID: { exit: ExitCode.usage, meaning: 'settings.json is missing, unreadable, not JSON or not valid' },
  NO_SOURCE: { exit: ExitCode.usage, meaning: 'nothing to back up was given' },
  SOURCE_NOT_FOUND: { exit: ExitCode.usage, meaning: 'a source does not exist' },
  SOURCE_UNREADABLE: { exit: ExitCode.usage, meaning: 'a source cannot be read at all' },
  SOURCE_NESTED: { exit: ExitCode.usage, meaning: 'one source is inside another' },
  NO_DESTINATION: { exit: ExitCode.usage, meaning: 'neither a local folder nor a bucket was given' },
  DESTINATION_NOT_DIR: { exit: ExitCode.usage, meaning: 'the destination is a file, or below one' },
  DESTINATION_NOT_FOUND: { exit: ExitCode.usage, meaning: 'the backup folder does not exist' },
  DEST_IS_SOURCE: { exit: ExitCode.usage, meaning: 'the destination is a source itself' },
  NAME_EXHAUSTED: { exit: ExitCode.usage, meaning: 'no free archive name was found' },
  NO_TTY: { exit: ExitCode.usage, meaning: 'the wizard needs a terminal' },
  NO_BACKUPS: { exit: ExitCode.usage, meaning: 'no backups to choose from' },
  ARCHIVE_NOT_FOUND: { exit: ExitCode.usage, meaning: 'the archive named does not exist' },
  NOT_AN_ARCHIVE: { exit: ExitCode.usage, meaning: 'the path named is a folder, not an archive' },
  UNKNOWN_FORMAT: { exit: ExitCode.usage, meaning: 'not an archive format this tool reads' },
  RESTORE_TARGET: { exit: ExitCode.usage, meaning: 'the folder to restore into cannot be used' },
  NOTHING_MATCHED: { exit: ExitCode.usage, meaning: 'restore --include matched no entry of the archive' },
  EMPTY_POLICY: { exit: ExitCode.usage, meaning: 'prune was given no --keep-* rule' },
  LOG_FILE_UNSAFE: { exit: ExitCode.usage, meaning: 'the log path is a symlink or not a regular file' },
  NOTIFY_NOT_CONFIGURED: { exit: ExitCode.usage, meaning: 'the settings have no notify channels to test' },
  RCLONE_NOT_FOUND: { exit: ExitCode.usage, meaning: 'the rclone program is not installed or not at the path given' },
  RCLONE_NO_REMOTE: { exit: ExitCode.usage, meaning: 'rclone has no remote of that name (or does not know its type)' },
  // Failures (exit 1).
  INTERNAL: { exit: ExitCode.failed, meaning: 'an unexpected error (a bug)' },
  ARCHIVE_FAILED: { exit: ExitCode.failed, meaning: 'reading the sources or building the archive failed' },
  SOURCE_FILE_UNREADABLE: { exit: ExitCode.failed, meaning: 'a source file could not be read, with --strict' },
  COMPRESSOR_FAILED: { exit: ExitCode.failed, meaning: 'the compressor (bzip2, lbzip2) failed' },
  BZIP2_MISSING: { exit: ExitCode.failed, meaning: 'neither lbzip2 nor bzip2 is on PATH' },
  DESTINATION_FAILED: { exit: ExitCode.failed, meaning: 'a destination could not be written' },
  DESTINATION_STALLED: { exit: ExitCode.failed, meaning: 'a destination took no data for minutes (hung server or dead connection) and was dropped' },
  DESTINATION_NOT_CREATABLE: { exit: ExitCode.failed, meaning: 'the destination folder cannot be created there (a kernel file system such as /proc, too deep, or not writable)' },
  DISK_FULL: { exit: ExitCode.failed, meaning: 'no space left (or quota exceeded) at the destination' },
  NAME_TAKEN: { exit: ExitCode.failed, meaning: 'the archive name appeared at the destination meanwhile' },
  VERIFY_FAILED: { exit: ExitCode.failed, meaning: 'a backup did not read back as written' },
  STORE_FAILED: { exit: ExitCode.failed, meaning: 'a backup folder could not be read or changed' },
  NOT_FOUND: { exit: ExitCode.failed, meaning: 'an object is not (or no longer) there' },
  SCHEDULE_FAILED: { exit: ExitCode.failed, meaning: 'the systemd units or the crontab of a schedule could not be written, enabled or removed' },
  SIDECAR_TOO_LARGE: { exit: ExitCode.failed, meaning: 'a .sha256 / manifest file is too large to be one' },
  SIDECAR_INVALID: { exit: ExitCode.failed, meaning: 'a sidecar cannot be used (not a regular file, or not a sha256sum line)' },
  ARCHIVE_DAMAGED: { exit: ExitCode.failed, meaning: 'the archive is damaged' },
  ARCHIVE_UNSAFE: { exit: ExitCode.failed, meaning: 'an archive entry would write outside the target' },
  CHECKSUM_MISMATCH: { exit: ExitCode.failed, meaning: "the archive's SHA-256 does not match its .sha256" },
  RESTORE_CONFLICT: { exit: ExitCode.failed, meaning: 'something in the target is in the way' },
  RESTORE_FAILED: { exit: ExitCode.failed, meaning: 'a file could not be restored' },
  RESTORE_INCOMPLETE: { exit: ExitCode.failed, meaning: 'entries were not restored' },
  PRUNE_INCOMPLETE: { exit: ExitCode.failed, meaning: 'files could not be deleted' },
  LOCKED: { exit: ExitCode.failed, meaning: 'another run of the same job holds its lock' },
  LOCK_FAILED: { exit: ExitCode.failed, meaning: 'the lock file could not be taken' },
  S3_NO_CREDENTIALS: { exit: ExitCode.failed, meaning: 'no AWS credentials found' },
  S3_NO_REGION: { exit: ExitCode.usage, meaning: 'no AWS region configured' },
  S3_BAD_CREDENTIALS: { exit: ExitCode.failed, meaning: 'the credentials are not accepted' },
  S3_ACCESS_DENIED: { exit: ExitCode.failed, meaning: 'the credentials may not do this' },
  S3_NO_SUCH_BUCKET: { exit: ExitCode.failed, meaning: 'the bucket does not exist' },
  S3_WRONG_REGION: { exit: ExitCode.failed, meaning: 'the bucket is in another region' },
  S3_UNREACHABLE: { exit: ExitCode.failed, meaning: 'the S3 endpoint cannot be reached' },
  S3_TIMEOUT: { exit: ExitCode.failed, meaning: 'S3 did not answer in time' },
  S3_THROTTLED: { exit: ExitCode.failed, meaning: 'S3 kept asking to slow down' },
  S3_BAD_STORAGE_CLASS: { exit: ExitCode.failed, meaning: 'the storage class is not available' },
  S3_NOT_S3: { exit: ExitCode.failed, meaning: 'the endpoint does not answer as S3' },
  S3_NO_BODY: { exit: ExitCode.failed, meaning: 'S3 returned no body' },
  S3_FAILED: { exit: ExitCode.failed, meaning: 'another S3 error' },
  SFTP_HOST_KEY: { exit: ExitCode.usage, meaning: "the SFTP server's host key is not in known_hosts, or differs from the one there (check it, then accept it)" },
  SFTP_AUTH_FAILED: { exit: ExitCode.usage, meaning: 'the SFTP server accepted none of the keys tried (or a key cannot be read or decrypted)' },
  SFTP_UNREACHABLE: { exit: ExitCode.failed, meaning: 'the SFTP server cannot be reached (refused, unknown host, timeout)' },
  SFTP_CONNECTION_LOST: { exit: ExitCode.failed, meaning: 'the SSH connection dropped (or stopped answering) during a transfer' },
  SFTP_FAILED: { exit: ExitCode.failed, meaning: 'the SFTP server refused or failed a request (full disk, bad path, ...)' },
  STORE_ACCESS_DENIED: { exit: ExitCode.failed, meaning: 'a storage destination refused the credentials, or they may not do this (Azure, ...)' },
  RCLONE_FAILED: { exit: ExitCode.failed, meaning: 'rclone exited with an error (the operation, its exit code and its last error line are in the message)' },
  NOTIFY_FAILED: { exit: ExitCode.failed, meaning: 'a notification channel could not be sent to (backup notify test)' },
  // The user stopped it (exit 130).
  CANCELLED: { exit: ExitCode.cancelled, meaning: 'Ctrl-C or SIGTERM' },
} as const satisfies Record<string, { readonly exit: ExitCodeValue; readonly meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
/** The codes whose exit code is `E`. */
export type ErrorCodeWithExit<E extends ExitCodeValue> = { [K in ErrorCode]: (typeof ERROR_CODES)[K]['exit'] extends E ? K : never }[ErrorCode];

export class BackupError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCodeValue;

  constructor(message: string, options: { code: ErrorCode; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.exitCode = ERROR_CODES[options.code].exit;
  }
}
BackupError.prototype.name = 'BackupError';

/** Bad flag, bad settings, missing source: the user must change the input (exit 2). */
export class UsageError extends BackupError {
  constructor(message: string, options: { code?: ErrorCodeWithExit<typeof ExitCode.usage>; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'USAGE', cause: options.cause });
  }
}
UsageError.prototype.name = 'UsageError';

/** settings.json is missing, unreadable, not JSON, or does not match the schema (exit 2). */
export class ConfigError extends BackupError {
  readonly file: string;
  constructor(file: string, message: string, options: { cause?: unknown } = {}) {
    super(`${file}: ${message}`, { code: 'CONFIG_INVALID', cause: options.cause });
    this.file = file;
  }
}
ConfigError.prototype.name = 'ConfigError';

/** The message of a CancelledError given none; the command frame says what was cancelled instead. */
export const DEFAULT_CANCEL_MESSAGE = 'Cancelled; partial files were removed.';

/** Ctrl-C or SIGTERM: partial output has been removed (exit 130). */
export class CancelledError extends BackupError {
  constructor(message = DEFAULT_CANCEL_MESSAGE, options: { cause?: unknown } = {}) {
    super(message, { code: 'CANCELLED', cause: options.cause });
  }
}
CancelledError.prototype.name = 'CancelledError';

/** A destination could not be written (permissions, disk full, ...) (exit 1). */
export class DestinationError extends BackupError {
  constructor(message: string, options: { code?: ErrorCodeWithExit<typeof ExitCode.failed>; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'DESTINATION_FAILED', cause: options.cause });
  }
}
DestinationError.prototype.name = 'DestinationError';

/** Reading the sources or building the archive failed as a whole (exit 1). */
export class ArchiveError extends BackupError {
  constructor(message: string, options: { code?: ErrorCodeWithExit<typeof ExitCode.failed>; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'ARCHIVE_FAILED', cause: options.cause });
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
    super(message, { code: 'LOCKED', cause: options.cause });
    this.file = file;
    this.holder = options.holder;
  }
}
LockedError.prototype.name = 'LockedError';
