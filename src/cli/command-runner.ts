/**
 * The frame shared by list / verify / restore / prune: settings (optional),
 * the log file, one result on stdout (human text or one JSON object), a
 * failure turned into a message and an exit code.
 */
import path from 'node:path';
import { toBackupError, type ExitCodeValue } from '../errors.js';
import { DEFAULT_LOG_FILE } from '../config/merge-settings.js';
import { expandHome } from '../config/expand-home.js';
import type { AppLogger } from '../log/logger.js';
import { redact, redactText } from '../log/redact.js';
import type { CliIO } from './io.js';
import { openLogger } from './execute-job.js';
import { loadOptionalSettings, type LoadedSettings } from './stores.js';

export interface CommonFlags {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  logFile?: string;
}

export interface CommandOutput {
  exitCode: ExitCodeValue;
  /** The JSON object (--json); `ok` and `exitCode` are added. */
  json: Record<string, unknown>;
  /** What a person reads on stdout. */
  human: string;
}

export interface CommandContext {
  logger: AppLogger;
  loaded: LoadedSettings;
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
    if (settingsError) throw settingsError;
    const output = await body({ logger, loaded });
    io.stdout.write(
      flags.json ? `${JSON.stringify(redact({ ok: output.exitCode === 0, exitCode: output.exitCode, ...output.json, error: output.json.error ?? null }))}\n` : redactText(output.human),
    );
    return output.exitCode;
  } catch (error) {
    const failure = toBackupError(error, io.signal);
    if (failure.code === 'CANCELLED') logger.fileOnly.warn(failure.message);
    else logger.fileOnly.error(failure.message, { code: failure.code });
    if (flags.json) {
      io.stdout.write(`${JSON.stringify(redact({ ok: false, exitCode: failure.exitCode, error: { code: failure.code, message: failure.message } }))}\n`);
    } else {
      io.stderr.write(failure.code === 'CANCELLED' ? `${redactText(failure.message)}\n` : `error: ${redactText(failure.message)}\n`);
      if (flags.verbose && failure.stack) io.stderr.write(`${failure.stack}\n`);
    }
    return failure.exitCode;
  } finally {
    await logger.close();
  }
}

/** 2026-11-26 02:00:00 in local time, as people read a backup's date. */
export function localDateTime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
