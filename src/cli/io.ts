/**
 * Everything the CLI needs from the outside world, passed in by src/bin.ts
 * (or by tests), so commands never reach for `process` themselves; and the
 * two ways text leaves a command for a reader (`humanText`, `jsonLine`),
 * which redact secrets and neutralise control characters.
 */
import type { Readable, Writable } from 'node:stream';
import { redact, redactText } from '../log/redact.js';
import { escapeControls } from '../log/printable.js';

export type TtyWritable = Writable & { isTTY?: boolean; columns?: number };
export type TtyReadable = Readable & { isTTY?: boolean };

export interface CliIO {
  stdin: TtyReadable;
  stdout: TtyWritable;
  stderr: TtyWritable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  now: () => Date;
  host: string;
  /** The user's home folder, for `~/` in paths. */
  home: string;
  /** The command being run (run, list, verify, ...), set by the program; shown in log lines. */
  command?: string;
  /** Where progress goes as JSON lines (BACKUP_PROGRESS_FD; progress-sink.ts), for a program reading it. */
  progress?: Writable;
}

/**
 * Human text as printed on stdout/stderr: secrets redacted, every control
 * character escaped except the newlines of our own multi-line messages
 * (names inside the text are escaped with `printable` where they are
 * interpolated, so their newlines are already gone).
 */
export function humanText(text: string): string {
  return escapeControls(redactText(text));
}

/** One JSON object and a newline, secrets redacted (JSON.stringify escapes the C0 controls). */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(redact(value))}\n`;
}
