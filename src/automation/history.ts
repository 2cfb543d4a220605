/**
 * The run history: one JSON line per start and per end of a run, appended
 * to `history.jsonl` beside the log (JobRef.historyFile). Appends are single
 * `write`s on a file opened with O_APPEND, so runs of several jobs sharing
 * the file do not interleave inside a line; never through a symbolic link.
 * The file is capped: past MAX_HISTORY_BYTES it becomes `history.jsonl.1`
 * (the previous `.1` is dropped), so history never grows without bound and
 * the newest runs are always kept; concurrent writers rotate it once. Reading is bounded the same way.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { readSmallFile } from '../fs/read-small-file.js';
import { redact } from '../log/redact.js';
import type { JobRef } from './job.js';
import type { HistoryRecord } from './types.js';

/** About 2,000 runs of a job with a few destinations; two files are kept. */
export const MAX_HISTORY_BYTES = 1024 * 1024;
/** One record's line at most (a run with many destinations and long messages is cut, never the file). */
const MAX_LINE_BYTES = 16 * 1024;

export function rotatedHistoryFile(file: string): string {
  return `${file}.1`;
}

function serialise(record: HistoryRecord): string {
  let line = JSON.stringify(redact(record));
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) {
    // Keep what status needs; drop the long lists.
    const short: HistoryRecord = {
      ...record,
      destinations: record.destinations.slice(0, 8).map((d) => ({ ...d, error: d.error ? { ...d.error, message: d.error.message.slice(0, 300) } : null })),
      error: record.error ? { ...record.error, message: record.error.message.slice(0, 1000), hint: record.error.hint?.slice(0, 500) } : null,
      notifications: record.notifications?.slice(0, 20).map((n) => ({ ...n, error: n.error?.slice(0, 300) })),
    };
    line = JSON.stringify(redact(short));
  }
  return `${line}\n`;
}

/** A rotation lock older than this was left by a killed writer. */
const STALE_ROTATION_MS = 60_000;

/**
 * Moves a full file to `.1`, once: writers that saw it full at the same
 * moment take turns on a lock file and rename only if the file is still the
 * full one, so a second rename never moves a fresh file over the first's
 * `.1` (which would drop a megabyte of runs). A writer that finds the lock
 * taken appends to the file as it is (the other one is rotating it).
 */
async function rotate(file: string): Promise<void> {
  const lock = `${file}.rotating`;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    const held = await fs.lstat(lock).catch(() => undefined);
    if (held && Date.now() - held.mtimeMs > STALE_ROTATION_MS) await fs.rm(lock, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  try {
    const now = await fs.lstat(file).catch(() => undefined);
    if (now?.isFile() && now.size >= MAX_HISTORY_BYTES) await fs.rename(file, rotatedHistoryFile(file));
  } finally {
    await handle.close();
    await fs.rm(lock, { force: true });
  }
}

/**
 * Appends one record (creating the file, mode 0640). Rotates first when the
 * file is past the cap. Throws on failure: callers decide (a run logs a
 * warning and goes on; its result does not depend on its history).
 */
export async function appendHistory(file: string, record: HistoryRecord): Promise<void> {
  const stat = await fs.lstat(file).catch(() => undefined);
  if (stat?.isSymbolicLink()) throw new Error(`${file} is a symbolic link; the run history is not written through it`);
  if (stat && stat.isFile() && stat.size >= MAX_HISTORY_BYTES) await rotate(file);
  const handle = await fs.open(file, constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o640);
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw new Error(`${file} is not a regular file; the run history is not written to it`);
    // A line cut by a crash or a full disk ends here: start on a line of our own, so only the cut line is lost.
    let line = serialise(record);
    if (opened.size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, opened.size - 1);
      if (last[0] !== 0x0a) line = `\n${line}`;
    }
    await handle.write(line);
  } finally {
    await handle.close();
  }
}

function parseLines(text: string, into: HistoryRecord[]): number {
  let bad = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const value = JSON.parse(line) as Partial<HistoryRecord>;
      if (value && value.v === 1 && (value.type === 'start' || value.type === 'end') && typeof value.id === 'string' && typeof value.job === 'string' && typeof value.start === 'string') {
        into.push(value as HistoryRecord);
      } else bad += 1;
    } catch {
      // A line cut by a crash or a full disk: skipped, counted.
      bad += 1;
    }
  }
  return bad;
}

export interface HistoryRead {
  /**
   * One entry per run, oldest first: the end record when there is one, else
   * the start record (outcome `running`: still running, or killed).
   */
  runs: HistoryRecord[];
  /** Lines that could not be read (cut or foreign), skipped. */
  badLines: number;
}

/** Every run recorded in `file` (and its rotated predecessor), for every job. A missing file is no runs. */
export async function readHistory(file: string): Promise<HistoryRead> {
  const records: HistoryRecord[] = [];
  let badLines = 0;
  for (const name of [rotatedHistoryFile(file), file]) {
    const read = await readSmallFile(name, { maxBytes: MAX_HISTORY_BYTES * 2, noFollow: true, truncate: true });
    if (read) badLines += parseLines(read.text, records);
  }
  const byId = new Map<string, HistoryRecord>();
  for (const record of records) {
    const seen = byId.get(record.id);
    if (!seen || record.type === 'end') byId.set(record.id, record);
  }
  const runs = [...byId.values()].sort((a, b) => a.start.localeCompare(b.start));
  return { runs, badLines };
}

/** The runs of one job, oldest first. */
export async function readJobRuns(job: Pick<JobRef, 'key' | 'historyFile'>): Promise<HistoryRecord[]> {
  const { runs } = await readHistory(job.historyFile);
  return runs.filter((run) => run.job === job.key);
}
