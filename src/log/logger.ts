/**
 * The one place winston is used. Two outputs:
 * - the log file (default `logs/backup.log`): every event, one line each,
 *   ISO timestamp and level, rotated by size;
 * - the console (stderr): short and human; warnings and errors, plus info
 *   and debug with --verbose.
 * Everything passes through `redact` first, so secrets never reach either.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger, LogMeta } from './logger-types.js';
import { redact, redactText } from './redact.js';
import { describeErrno } from '../errors.js';

const MAX_LOG_BYTES = 5 * 1024 * 1024;
const MAX_LOG_FILES = 5;

export interface CreateLoggerOptions {
  /** Absolute path of the log file; undefined: no file. */
  file?: string;
  /** Where console lines go (stderr). */
  console: Writable;
  verbose?: boolean;
  /** Suppress console warnings too (the caller prints its own summary). */
  quiet?: boolean;
}

export interface AppLogger extends Logger {
  /** Path of the log file actually written, if any. */
  readonly file: string | undefined;
  /** Problem opening the log file, if any (the run goes on with console logging). */
  readonly fileProblem: string | undefined;
  /** Writes to the log file only (for what the caller prints itself). */
  readonly fileOnly: Logger;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

const redactFormat = winston.format((info) => {
  info.message = redactText(String(info.message));
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message' || key === 'timestamp') continue;
    info[key] = redact(info[key]);
  }
  return info;
});

function metaText(info: winston.Logform.TransformableInfo): string {
  const { level: _l, message: _m, timestamp: _t, ...meta } = info;
  for (const key of Object.getOwnPropertySymbols(meta)) delete (meta as Record<symbol, unknown>)[key];
  return Object.keys(meta).length > 0 ? ` ${JSON.stringify(meta)}` : '';
}

const fileLine = winston.format.printf(
  (info) => `${String(info.timestamp)} ${info.level.toUpperCase().padEnd(5)} ${String(info.message)}${metaText(info)}`,
);

/** Marks a line as "log file only"; the console transport drops it. */
const FILE_ONLY = Symbol('fileOnly');
const dropFileOnly = winston.format((info) => ((info as Record<symbol, unknown>)[FILE_ONLY] ? false : info));

const consoleLine = winston.format.printf((info) => {
  const prefix = info.level === 'info' ? '' : `${info.level === 'warn' ? 'warning' : info.level}: `;
  return `${prefix}${String(info.message)}`;
});

/** Creates the log folder and checks the file can be appended to. */
function checkLogFile(file: string): string | undefined {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.closeSync(fs.openSync(file, 'a', 0o640));
    return undefined;
  } catch (error) {
    return `Cannot write the log file ${file}: ${describeErrno(error)}; logging to the console only.`;
  }
}

export function createLogger(options: CreateLoggerOptions): AppLogger {
  const fileProblem = options.file ? checkLogFile(options.file) : undefined;
  const file = options.file && !fileProblem ? options.file : undefined;

  const transports: winston.transport[] = [
    new winston.transports.Stream({
      stream: options.console,
      level: options.verbose ? 'debug' : options.quiet ? 'error' : 'warn',
      format: winston.format.combine(dropFileOnly(), consoleLine),
    }),
  ];
  let fileTransport: winston.transport | undefined;
  if (file) {
    fileTransport = new winston.transports.File({
      filename: file,
      level: 'debug',
      maxsize: MAX_LOG_BYTES,
      maxFiles: MAX_LOG_FILES,
      tailable: true,
      format: fileLine,
    });
    transports.push(fileTransport);
  }
  const winstonLogger = winston.createLogger({
    level: 'debug',
    format: winston.format.combine(redactFormat(), winston.format.timestamp()),
    transports,
    exitOnError: false,
  });

  const log =
    (level: string, fileOnly = false) =>
    (message: string, meta?: LogMeta) => {
      winstonLogger.log({ level, message, ...(meta ?? {}), ...(fileOnly ? { [FILE_ONLY]: true } : {}) });
    };

  let closed: Promise<void> | undefined;
  return {
    file,
    fileProblem,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    fileOnly: { debug: log('debug', true), info: log('info', true), warn: log('warn', true), error: log('error', true) },
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (!fileTransport) {
          winstonLogger.end();
          resolve();
          return;
        }
        // winston's own 'finish' fires before the file is flushed; wait for the file transport.
        const timer = setTimeout(resolve, 2000);
        fileTransport.on('finish', () => {
          clearTimeout(timer);
          resolve();
        });
        winstonLogger.end();
      });
      return closed;
    },
  };
}
