/**
 * The frame shared by every command: settings (optional), the log file, one
 * result on stdout (human text or one JSON object), a failure turned into a
 * message and an exit code. `reportFailure` is the one failure renderer
 * (`backup run` and the wizard use it too, with their own JSON body).
 * Everything written here goes through `humanText` / `jsonLine`: secrets
 * redacted, control characters escaped.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { DEFAULT_CANCEL_MESSAGE, toBackupError, type BackupError, type ErrorCode, type ExitCodeValue } from '../errors.js';
import { DEFAULT_LOG_FILE } from '../config/merge-settings.js';
import { expandHome } from '../config/expand-home.js';
import { createLogger, type AppLogger } from '../log/logger.js';
import { humanText, jsonLine, type CliIO } from './io.js';
import { closeStores, loadOptionalSettings, type LoadedSettings } from './stores.js';
import { oneLine } from '../log/printable.js';
import { writeAbove } from './progress-line.js';

export interface CommonFlags {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  logFile?: string;
}

export interface CommandOutput {
  exitCode: ExitCodeValue;
  /** The JSON object (--json); `ok` and `exitCode` are added; `error.code` is one of ERROR_CODES. */
  json: Record<string, unknown> & { error?: { code: ErrorCode; message: string } | null };
  /** What a person reads on stdout. */
  human: string;
}

export interface CommandContext {
  logger: AppLogger;
  loaded: LoadedSettings;
}

/** The logger of one command: the log file and stderr; a problem with the file is said at once. */
export function openLogger(io: CliIO, logFile: string | undefined, output: { json?: boolean; verbose?: boolean }): AppLogger {
  // Console lines go above a progress line, never glued to it.
  const console = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      writeAbove(io.stderr, chunk.toString());
      callback();
    },
  });
  const logger = createLogger({ file: logFile, console, verbose: output.verbose === true, command: io.command });
  if (logger.fileProblem) io.stderr.write(humanText(`warning: ${logger.fileProblem}\n`));
  return logger;
}

/** What was cancelled, by command, for the default "Cancelled" message. */
const CANCELLED: Record<string, string> = {
  run: 'Backup cancelled; partial files were removed.',
  wizard: 'Backup cancelled; partial files were removed.',
  verify: 'Verify cancelled; the backups not yet read were not checked.',
  restore: 'Restore cancelled; the files restored before it are kept.',
  list: 'List cancelled.',
  prune: 'Prune cancelled; the backups not yet deleted are kept.',
};

/** The message a failure is shown with: a bare "Cancelled" names the command cancelled. */
export function failureMessage(failure: BackupError, command: string | undefined): string {
  if (failure.code !== 'CANCELLED') return failure.message;
  if (failure.message === DEFAULT_CANCEL_MESSAGE) return CANCELLED[command ?? ''] ?? failure.message;
  const noun = command === 'wizard' || command === 'run' ? 'Backup' : command ? `${command[0]!.toUpperCase()}${command.slice(1)}` : undefined;
  return noun ? failure.message.replace(/^Cancelled\b/, `${noun} cancelled`) : failure.message;
}

/**
 * The one failure renderer: logs the failure (file only: the console line is
 * printed here), prints it (stderr, with stack traces under --verbose; or one
 * JSON object on stdout) and returns the exit code. `jsonBody` shapes the
 * JSON object (`backup run` prints a whole result); by default
 * `{ ok: false, exitCode, error: { code, message } }`.
 */
export function reportFailure(
  io: CliIO,
  error: unknown,
  logger: AppLogger | undefined,
  output: { json?: boolean; verbose?: boolean },
  jsonBody?: (failure: BackupError, message: string) => Record<string, unknown>,
): ExitCodeValue {
  const failure = toBackupError(error, io.signal);
  const message = failureMessage(failure, io.command);
  if (failure.code === 'CANCELLED') logger?.fileOnly.warn(message);
  else {
    logger?.fileOnly.error(message, {
      code: failure.code,
      ...(failure.cause !== undefined ? { cause: failure.cause instanceof Error ? failure.cause.message : failure.cause } : {}),
    });
  }
  if (output.json) {
    io.stdout.write(
      jsonLine(jsonBody ? jsonBody(failure, message) : { ok: false, exitCode: failure.exitCode, error: { code: failure.code, message } }),
    );
  } else {
    // One line: a name inside the message cannot start a line of its own.
    io.stderr.write(humanText(failure.code === 'CANCELLED' ? `${oneLine(message)}\n` : `error: ${oneLine(message)}\n`));
    if (output.verbose && failure.stack) io.stderr.write(humanText(`${failure.stack}\n`));
    if (output.verbose && failure.cause instanceof Error && failure.cause.stack) io.stderr.write(humanText(`caused by: ${failure.cause.stack}\n`));
  }
  return failure.exitCode;
}

export async function runCommandFrame(io: CliIO, flags: CommonFlags, body: (ctx: CommandContext) => Promise<CommandOutput>): Promise<number> {
  let loaded: LoadedSettings = {};
  let settingsError: unknown;
  try {
    loaded = await loadOptionalSettings(io, flags.config);
  } catch (error) {
    settingsError = error;
  }
  const logFile = path.resolve(io.cwd, expandHome(flags.logFile ?? loaded.settings?.logFile ?? DEFAULT_LOG_FILE, io.home));
  const logger = openLogger(io, logFile, { json: flags.json === true, verbose: flags.verbose === true });
  try {
    if (logger.fileRefused) throw logger.fileRefused;
    if (settingsError) throw settingsError;
    const output = await body({ logger, loaded });
    io.stdout.write(
      flags.json
        ? jsonLine({ ok: output.exitCode === 0, exitCode: output.exitCode, ...output.json, error: output.json.error ?? null })
        : humanText(output.human),
    );
    return output.exitCode;
  } catch (error) {
    return reportFailure(io, error, logger, flags);
  } finally {
    await closeStores(io);
    await logger.close();
  }
}

/** 2026-11-26 02:00:00 in local time, as people read a backup's date. */
export function localDateTime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
