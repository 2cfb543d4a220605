/**
 * The one place winston is used. Two outputs:
 * - the log file (default `logs/backup.log`): every event, one line each,
 *   ISO timestamp, command and pid (`[run 12345]`), level;
 * - the console (stderr): short and human; warnings and errors, plus info
 *   and debug with --verbose.
 * Everything passes through `redact` first, so secrets never reach either;
 * then each message is capped (MAX_MESSAGE_BYTES) and its control
 * characters escaped, and the lines after the first of a multi-line message
 * are indented, so no name can forge a log entry or drive the terminal.
 *
 * The log file is opened by us, never through a symlink (O_NOFOLLOW), only
 * when it is a regular file, in folders created 0750; it is only ever
 * appended to, and rotated by renaming when a run starts, so a failing log
 * never truncates what is there.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger, LogMeta } from './logger-types.js';
import { redact, redactText } from './redact.js';
import { escapeControls } from './printable.js';
import { describeErrno, UsageError } from '../errors.js';
import { ensureDirSync } from '../fs/ensure-dir.js';

const MAX_LOG_BYTES = 5 * 1024 * 1024;
const MAX_LOG_FILES = 5;
/** One message (and its metadata) is cut after this many bytes. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
const LOG_DIR_MODE = 0o750;
const LOG_FILE_MODE = 0o640;
const CLOSE_TIMEOUT_MS = 5000;

export interface CreateLoggerOptions {
  /** Absolute path of the log file; undefined: no file. */
  file?: string;
  /** Where console lines go (stderr). */
  console: Writable;
  verbose?: boolean;
  /** Suppress console warnings too (the caller prints its own summary). */
  quiet?: boolean;
  /** The command (run, list, ...), shown with the pid on every log file line. */
  command?: string;
}

export interface AppLogger extends Logger {
  /** Path of the log file actually written, if any. */
  readonly file: string | undefined;
  /** Problem opening the log file, if any (the run goes on with console logging). */
  readonly fileProblem: string | undefined;
  /**
   * The log path is a symlink or not a regular file: the command must stop
   * (exit 2) rather than write through it or beside it.
   */
  readonly fileRefused: UsageError | undefined;
  /** Writes to the log file only (for what the caller prints itself). */
  readonly fileOnly: Logger;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** Cuts a text after `max` bytes (UTF-8), saying how much was left out. */
export function capText(text: string, max = MAX_MESSAGE_BYTES): string {
  // A JS string needs at least one byte per code unit: short strings are never cut.
  if (text.length <= max / 3) return text;
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return text;
  const kept = Buffer.from(text).subarray(0, max).toString('utf8').replace(/\ufffd$/, '');
  return `${kept}... (${bytes - Buffer.byteLength(kept)} more bytes)`;
}

/** Caps first (with some room, so a secret cut in half is still recognised), then redacts. */
function safeMessage(text: string): string {
  return capText(redactText(capText(text, MAX_MESSAGE_BYTES + 4096)));
}

const redactFormat = winston.format((info) => {
  info.message = safeMessage(String(info.message));
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'message' || key === 'timestamp') continue;
    info[key] = redact(info[key]);
  }
  return info;
});

function metaText(info: winston.Logform.TransformableInfo): string {
  const { level: _l, message: _m, timestamp: _t, ...meta } = info;
  for (const key of Object.getOwnPropertySymbols(meta)) delete (meta as Record<symbol, unknown>)[key];
  // JSON escapes every C0 control; DEL and C1 are escaped with the rest of the line.
  return Object.keys(meta).length > 0 ? ` ${capText(JSON.stringify(meta))}` : '';
}

/**
 * Escapes controls and indents the lines after the first, so a newline in a
 * message can never start what looks like a new entry.
 */
export function oneEntry(text: string, indent: string): string {
  return escapeControls(text).replace(/\n/g, `\n${indent}`);
}

function fileLine(label: string): winston.Logform.Format {
  return winston.format.printf((info) =>
    oneEntry(`${String(info.timestamp)} ${label}${info.level.toUpperCase().padEnd(5)} ${String(info.message)}${metaText(info)}`, '    | '),
  );
}

/** Marks a line as "log file only"; the console transport drops it. */
const FILE_ONLY = Symbol('fileOnly');
const dropFileOnly = winston.format((info) => ((info as Record<symbol, unknown>)[FILE_ONLY] ? false : info));

const consoleLine = winston.format.printf((info) => {
  const prefix = info.level === 'info' ? '' : `${info.level === 'warn' ? 'warning' : info.level}: `;
  return oneEntry(`${prefix}${String(info.message)}`, '  ');
});

/** backup.log -> backup1.log -> ... -> backup4.log (renames only: nothing is ever truncated). */
function rotate(file: string): void {
  const ext = path.extname(file);
  const base = file.slice(0, file.length - ext.length);
  const numbered = (n: number): string => `${base}${n}${ext}`;
  for (let n = MAX_LOG_FILES - 2; n >= 1; n -= 1) {
    try {
      fs.renameSync(numbered(n), numbered(n + 1));
    } catch {
      // missing: nothing to move
    }
  }
  fs.renameSync(file, numbered(1));
}

type Opened = { fd: number; problem?: undefined; refused?: undefined } | { fd?: undefined; problem?: string; refused?: UsageError };

function refuse(file: string, what: string): Opened {
  return {
    refused: new UsageError(
      `The log file ${file} is ${what}; refusing to write to it. Remove it, or give another log file with --log-file or "logFile".`,
      { code: 'LOG_FILE_UNSAFE' },
    ),
  };
}

/** Creates the log folder (0750) and opens the log file for appending, never through a symlink. */
function openLogFile(file: string): Opened {
  try {
    // Bounded, one folder at a time: Node's recursive mkdir loops forever under /proc.
    ensureDirSync(path.dirname(file), LOG_DIR_MODE);
    let stat = lstatOrUndefined(file);
    if (stat?.isSymbolicLink()) return refuse(file, `a symbolic link (to ${fs.readlinkSync(file)})`);
    if (stat && !stat.isFile()) return refuse(file, 'not a regular file');
    if (stat && stat.size >= MAX_LOG_BYTES) {
      rotate(file);
      stat = undefined;
    }
    // O_NONBLOCK: a FIFO planted after the check must not hang the open.
    const flags = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
    const fd = fs.openSync(file, flags, LOG_FILE_MODE);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      return refuse(file, 'not a regular file');
    }
    return { fd };
  } catch (error) {
    // ELOOP: a symlink appeared between the check and the open.
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') return refuse(file, 'a symbolic link');
    return { problem: `Cannot write the log file ${file}: ${describeErrno(error)}; logging to the console only.` };
  }
}

function lstatOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function createLogger(options: CreateLoggerOptions): AppLogger {
  const opened: Opened = options.file ? openLogFile(options.file) : {};
  const file = opened.fd !== undefined ? options.file : undefined;
  let fileProblem = opened.problem;

  const transports: winston.transport[] = [
    new winston.transports.Stream({
      stream: options.console,
      level: options.verbose ? 'debug' : options.quiet ? 'error' : 'warn',
      format: winston.format.combine(dropFileOnly(), consoleLine),
    }),
  ];
  let fileStream: fs.WriteStream | undefined;
  let fileTransport: winston.transport | undefined;
  if (opened.fd !== undefined) {
    fileStream = fs.createWriteStream('', { fd: opened.fd, autoClose: true });
    // A write that fails (disk full, I/O error) loses log lines, never the file: say so once.
    fileStream.on('error', (error) => {
      if (fileProblem) return;
      fileProblem = `Cannot write the log file ${file}: ${describeErrno(error)}; logging to the console only.`;
      options.console.write(`warning: ${fileProblem}\n`);
    });
    const label = `[${options.command ?? 'backup'} ${process.pid}] `;
    fileTransport = new winston.transports.Stream({ stream: fileStream, level: 'debug', format: fileLine(label), eol: '\n' });
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
    get fileProblem() {
      return fileProblem;
    },
    fileRefused: opened.refused,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    fileOnly: { debug: log('debug', true), info: log('info', true), warn: log('warn', true), error: log('error', true) },
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (!fileTransport || !fileStream) {
          winstonLogger.end();
          resolve();
          return;
        }
        const stream = fileStream;
        // Never let a log that cannot be flushed hold the command up for long.
        const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        // winston's own 'finish' fires before its transports are done; wait for the file transport, then the file.
        fileTransport.on('finish', () => {
          if (stream.destroyed) done();
          else stream.end(done);
        });
        winstonLogger.end();
      });
      return closed;
    },
  };
}
