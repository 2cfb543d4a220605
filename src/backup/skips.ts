/**
 * Per-file problems, collected the same way by the run and the dry run:
 * each skip is logged and kept for the result; with --strict the first one
 * becomes the run's failure (exit 1) and stops it. And the one rule that
 * turns a run's outcome into its exit code, shared by both, so the dry run
 * predicts the real run's exit code.
 */
import { ArchiveError, ExitCode, type BackupError, type ExitCodeValue } from '../errors.js';
import type { Skip } from '../archive/walk.js';
import type { Logger } from '../log/logger-types.js';
import { printable } from '../log/printable.js';

export class SkipCollector {
  readonly skipped: Skip[] = [];
  /** Set on the first skip under --strict. */
  strictFailure: BackupError | undefined;

  constructor(
    private readonly strict: boolean,
    private readonly logger: Logger,
    /** Called once, with the strict failure: stop the run. */
    private readonly stop: (failure: BackupError) => void,
  ) {}

  readonly onSkip = (skip: Skip): void => {
    this.skipped.push(skip);
    this.logger.warn(`skipped ${printable(skip.path)}: ${skip.reason}`);
    if (this.strict && !this.strictFailure) {
      this.strictFailure = new ArchiveError(`${printable(skip.path)}: ${skip.reason}. --strict makes unreadable files fatal; nothing was published.`, {
        code: 'SOURCE_FILE_UNREADABLE',
      });
      this.stop(this.strictFailure);
    }
  };
}

/** 1 when a destination did not get the backup, else 3 when files were skipped, else 0. */
export function outcomeExitCode(failedDestinations: number, skipped: number): ExitCodeValue {
  return failedDestinations > 0 ? ExitCode.failed : skipped > 0 ? ExitCode.partial : ExitCode.ok;
}
