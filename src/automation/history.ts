/**
 * The run history: one JSON line per start and per end of a run, appended
 * to `history.jsonl` beside the log (JobRef.historyFile). Appends are single
 * `write`s on a file opened with O_APPEND, so runs of several jobs sharing
 * the file do not interleave inside a line; never through a symbolic link.
 * The file is capped: past MAX_HISTORY_BYTES it is compacted into
 * `history.jsonl.1` together with the previous `.1`, keeping for EACH job its
 * newest KEEP_RUNS_PER_JOB runs (fewer when even that is above the cap), and a
 * fresh file is started. So a job that runs every minute never pushes a
 * weekly job's runs out of the folder they share (which would make status
 * say "late" or "never run"), and both files together stay under about twice
 * the cap. Concurrent writers compact once; reading is bounded the same way.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import { readSmallFile } from '../fs/read-small-file.js';
import { writeFileAtomic } from '../fs/write-atomic.js';
import { redact } from '../log/redact.js';
import type { JobRef } from './job.js';
import type { HistoryRecord } from './types.js';

/** About 2,000 runs of a job with a few destinations; two files are kept, each at most this. */
export const MAX_HISTORY_BYTES = 1024 * 1024;
/** Runs of each job kept when the file is compacted (the newest; status needs the last success and failure). */
export const KEEP_RUNS_PER_JOB = 200;
/** One record's line at most (a run with many destinations and long messages is cut, never the file). */
const MAX_LINE_BYTES = 16 * 1024;

export function rotatedHistoryFile(file: string): string {
  return `${file}.1`;
}

/** The full file while it is being compacted into `.1` (left behind only by a writer killed mid-way; read too). */
function compactingHistoryFile(file: string): string {
  return `${file}.compacting`;
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

interface Line {
  text: string;
  id: string;
  job: string;
  start: string;
}

function parseRawLines(text: string, into: Line[]): void {
  for (const text1 of text.split('\n')) {
    if (text1.trim() === '') continue;
    try {
      const value = JSON.parse(text1) as Partial<HistoryRecord>;
      if (value && value.v === 1 && typeof value.id === 'string' && typeof value.job === 'string' && typeof value.start === 'string') {
        into.push({ text: `${text1}\n`, id: value.id, job: value.job, start: value.start });
      }
    } catch {
      // A cut line: dropped by the compaction.
    }
  }
}

/**
 * The lines to keep, in their order: for each job the newest `perJob` runs
 * (all the lines of a run together), with `perJob` lowered until they fit in
 * `maxBytes`; when even one run per job does not fit, the newest runs overall.
 */
function compactLines(lines: Line[], maxBytes: number, perJob = KEEP_RUNS_PER_JOB): Line[] {
  // A run: its lines' bytes, its start, its first position.
  const runs = new Map<string, { job: string; start: string; first: number; bytes: number }>();
  lines.forEach((line, index) => {
    const run = runs.get(line.id);
    if (run) run.bytes += Buffer.byteLength(line.text);
    else runs.set(line.id, { job: line.job, start: line.start, first: index, bytes: Buffer.byteLength(line.text) });
  });
  const newestFirst = (a: { start: string; first: number }, b: { start: string; first: number }): number => b.start.localeCompare(a.start) || b.first - a.first;
  const byJob = new Map<string, { id: string; bytes: number; start: string; first: number }[]>();
  for (const [id, run] of runs) {
    const list = byJob.get(run.job) ?? [];
    list.push({ id, ...run });
    byJob.set(run.job, list);
  }
  for (const list of byJob.values()) list.sort(newestFirst);
  const sizeFor = (n: number): number => {
    let total = 0;
    for (const list of byJob.values()) for (const run of list.slice(0, n)) total += run.bytes;
    return total;
  };
  let n = perJob;
  while (n > 1 && sizeFor(n) > maxBytes) n = Math.max(1, Math.floor(n * 0.8));
  let kept = [...byJob.values()].flatMap((list) => list.slice(0, n));
  if (sizeFor(n) > maxBytes) {
    // More jobs than fit at one run each: the newest runs overall.
    kept.sort(newestFirst);
    let total = 0;
    kept = kept.filter((run) => (total += run.bytes) <= maxBytes);
  }
  const keep = new Set(kept.map((run) => run.id));
  return lines.filter((line) => keep.has(line.id));
}

/**
 * Compacts a full file into `.1`, once: writers that saw it full at the
 * same moment take turns on a lock file and compact only if the file is
 * still the full one. The full file is first renamed aside (so new records
 * go to a fresh file), then it and the previous `.1` are compacted into a
 * temporary file (O_EXCL, never through a link) that is renamed over `.1`.
 * A writer that had the full file open when it was renamed aside sees that
 * after its write and writes its line again to the fresh file (readers merge
 * a run's duplicate lines), so no record is lost. A writer that finds the
 * lock taken appends to the file as it is (the other one is compacting it).
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
    if (!now?.isFile() || now.size < MAX_HISTORY_BYTES) return;
    const rotated = rotatedHistoryFile(file);
    const compacting = compactingHistoryFile(file);
    const lines: Line[] = [];
    const read = async (name: string): Promise<void> => {
      const got = await readSmallFile(name, { maxBytes: MAX_HISTORY_BYTES * 2, noFollow: true, truncate: true });
      if (got) parseRawLines(got.text, lines);
    };
    await read(rotated);
    // Left by a writer killed while compacting: its runs are not lost.
    await read(compacting);
    await fs.rename(file, compacting);
    await read(compacting);
    const kept = compactLines(lines, MAX_HISTORY_BYTES);
    await writeFileAtomic(rotated, kept.map((line) => line.text).join(''), 0o640);
    await fs.rm(compacting, { force: true });
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
  // Rewritten at most twice: only when the file was compacted under this write.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await appendOnce(file, record)) return;
  }
}

/** False when the file was renamed aside (compacted) while this line went into it: write it again. */
async function appendOnce(file: string, record: HistoryRecord): Promise<boolean> {
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
    const after = await fs.lstat(file).catch(() => undefined);
    return after !== undefined && after.ino === opened.ino && after.dev === opened.dev;
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
  for (const name of [rotatedHistoryFile(file), compactingHistoryFile(file), file]) {
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
