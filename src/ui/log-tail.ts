/**
 * The end of the log file for the log page: the last TAIL_BYTES of it (the
 * file is rotated at 5 MiB, but it is only ever read from its end here),
 * split into entries (`TIMESTAMP [command pid] LEVEL message`, a
 * multi-line message's lines after the first indented), filtered by level.
 * The file is opened without following a symbolic link or blocking on a
 * FIFO and must be a regular file; every entry passes the log redaction
 * again (the logger redacted it when writing; a secret added to the
 * environment since is caught here too).
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { redactText } from '../log/redact.js';
import { escapeControls } from '../log/printable.js';

export const TAIL_BYTES = 512 * 1024;
export const MAX_ENTRIES = 1000;

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LogEntry {
  at: string;
  /** "run 12345" */
  source: string;
  level: Level;
  message: string;
}

export interface LogTail {
  file: string;
  entries: LogEntry[];
  /** The file is longer than what was read. */
  truncated: boolean;
  /** Set when the file cannot be read (missing: no runs yet). */
  problem: string | null;
}

const HEAD = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) \[([^\]]{1,80})\] (DEBUG|INFO|WARN|ERROR)\s+(.*)$/;

/** Entries of a log text (the first, partial line of a tail is dropped). Pure. */
export function parseLog(text: string, minLevel: Level = 'debug'): LogEntry[] {
  const entries: LogEntry[] = [];
  let current: LogEntry | undefined;
  for (const line of text.split('\n')) {
    const head = HEAD.exec(line);
    if (head) {
      current = { at: head[1]!, source: head[2]!, level: head[3]!.toLowerCase() as Level, message: head[4]! };
      entries.push(current);
    } else if (current && line.startsWith(' ')) {
      current.message += `\n${line.trim()}`;
    }
  }
  return entries
    .filter((e) => RANK[e.level] >= RANK[minLevel])
    .slice(-MAX_ENTRIES)
    .map((e) => ({ ...e, source: escapeControls(e.source), message: escapeControls(redactText(e.message)) }));
}

export function parseLevel(value: string | undefined): Level {
  return value === 'info' || value === 'warn' || value === 'error' ? value : 'debug';
}

export async function readLogTail(file: string, minLevel: Level): Promise<LogTail> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { file, entries: [], truncated: false, problem: code === 'ENOENT' ? 'No log yet: nothing has run with this log file.' : `Cannot read the log: ${code ?? String(error)}` };
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) return { file, entries: [], truncated: false, problem: 'The log path is not a regular file.' };
    const start = Math.max(0, stat.size - TAIL_BYTES);
    const length = stat.size - start;
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, start);
    let text = buffer.subarray(0, bytesRead).toString('utf8');
    if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    return { file, entries: parseLog(text, minLevel), truncated: start > 0, problem: null };
  } finally {
    await handle.close();
  }
}
