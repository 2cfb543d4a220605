/**
 * Walks the sources and reads every file with synchronous fs calls, packing
 * what it finds into batches of about 512 KiB, as the format's EntryEncoder
 * says: for tar (tar-writer.ts), the tar stream itself (headers, contents,
 * padding); for zip (zip-writer.ts), the contents of the files with a list
 * of entries that point into them. Meant to run on a worker
 * thread (source-reader-worker.ts), where a blocking call costs one system
 * call; through the thread pool, each of the ~6 fs calls per file was a
 * round trip with the event loop, and on a tree of small files the main
 * thread spent half its time waiting for them (issue 4).
 *
 * Behaves as the walk + read path it replaces:
 * - files are opened with O_NOFOLLOW | O_NONBLOCK and described by the
 *   fstat taken after opening; a file that cannot be opened is a skip
 *   ("vanished while the backup ran" for ENOENT), one that turned into
 *   something else since the walk, too;
 * - exactly the size seen at open time is stored: a file that shrinks is
 *   padded with zeros and reported as a skip, one that grows or changes
 *   while read gets a warning (as GNU tar's "file changed as we read it");
 * - a read error fails the archive (it is thrown), as before.
 *
 * Each batch's buffer is new and never written again once handed out, so
 * it can be transferred to the main thread without a copy.
 */
import fs, { constants, type Stats } from 'node:fs';
import { describeErrno } from '../errors.js';
import { walkSync, type Entry, type Skip } from './walk-sync.js';

export type ReaderMode = 'tar' | 'zip';

/** Structured-clonable: sent to the worker as it is. */
export interface ReaderOptions {
  mode: ReaderMode;
  sources: string[];
  exclude: string[];
  /** `dev:ino` keys, see walk.ts. */
  skipInodes: string[];
}

/**
 * What a zip batch holds, in archive order. `at`/`size` point into the
 * batch's data. A file larger than SMALL_FILE comes as `begin`, `chunk`s
 * (possibly across several batches) and `end`.
 */
export type ZipItem =
  | { k: 'dir'; path: string; mode: number; mtime: number }
  | { k: 'link'; path: string; mode: number; mtime: number; target: string }
  | { k: 'file'; path: string; mode: number; mtime: number; at: number; size: number }
  | { k: 'begin'; path: string; mode: number; mtime: number; size: number }
  | { k: 'chunk'; at: number; size: number }
  | { k: 'end' };

export interface Batch {
  /** tar: the next bytes of the tar stream; zip: file contents the items point into. */
  data: ArrayBuffer;
  /** Bytes of `data` in use. */
  length: number;
  /** zip only. */
  items: ZipItem[];
  /** Regular files (tar hard link entries included) and entries (files, folders, links) completed in this batch. */
  files: number;
  entries: number;
  /** Source bytes read (zeros padded in for a shrunk file included). */
  bytes: number;
  skips: Skip[];
  warnings: string[];
}

/** Zip entries up to this size are read whole and deflated as one piece. */
export const SMALL_FILE = 1024 * 1024;
/** A batch is handed out once it holds this much... */
const BATCH_BYTES = 512 * 1024;
/**
 * ...or this many entries or skips (an excluded or unreadable tree still reports progress).
 * Fewer for zip, whose entry lists are cloned twice (to the main thread, to a deflate
 * worker): with 2048, the peak RSS on 200,000 tiny files was ~210-220 MB, with 128 ~190.
 */
const BATCH_ITEMS = { tar: 4096, zip: 128 } as const;
/** Room in a new batch (one more small file than BATCH_BYTES, mostly). */
const CAPACITY = 1024 * 1024;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export class BatchBuilder {
  buf: Buffer;
  used = 0;
  items: ZipItem[] = [];
  files = 0;
  entries = 0;
  bytes = 0;
  skips: Skip[] = [];
  warnings: string[] = [];
  /** Start of the large zip file's contents in this batch, while one is being read. */
  piece: number | undefined;

  get free(): number {
    return this.buf.length - this.used;
  }

  constructor(private readonly maxItems: number) {
    this.buf = Buffer.from(new ArrayBuffer(CAPACITY));
  }

  get due(): boolean {
    return this.used >= BATCH_BYTES || this.skips.length + this.entries >= this.maxItems;
  }

  /** Hands out what is gathered and starts a new batch with room for at least `room` bytes. */
  take(room = 0): Batch {
    if (this.piece !== undefined && this.used > this.piece) this.items.push({ k: 'chunk', at: this.piece, size: this.used - this.piece });
    const batch: Batch = {
      data: this.buf.buffer as ArrayBuffer,
      length: this.used,
      items: this.items,
      files: this.files,
      entries: this.entries,
      bytes: this.bytes,
      skips: this.skips,
      warnings: this.warnings,
    };
    this.buf = Buffer.from(new ArrayBuffer(Math.max(CAPACITY, room)));
    this.used = 0;
    this.items = [];
    this.files = this.entries = this.bytes = 0;
    this.skips = [];
    this.warnings = [];
    if (this.piece !== undefined) this.piece = 0;
    return batch;
  }

  write(bytes: Buffer): void {
    bytes.copy(this.buf, this.used);
    this.used += bytes.length;
  }

  zeros(n: number): void {
    this.buf.fill(0, this.used, this.used + n);
    this.used += n;
  }
}

/** Opens a walked file for reading; undefined (and a skip) when it cannot be read. */
export function openFile(absPath: string, skips: Skip[]): { fd: number; stat: Stats } | undefined {
  let fd: number;
  try {
    fd = fs.openSync(absPath, OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    skips.push({ path: absPath, reason: code === 'ENOENT' ? 'vanished while the backup ran' : describeErrno(error) });
    return undefined;
  }
  let stat: Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    skips.push({ path: absPath, reason: describeErrno(error) });
    return undefined;
  }
  if (!stat.isFile()) {
    fs.closeSync(fd);
    skips.push({ path: absPath, reason: 'changed into something other than a regular file while the backup ran' });
    return undefined;
  }
  return { fd, stat };
}

/**
 * Reads exactly `stat.size` bytes of `fd` into the batch, handing out full
 * batches on the way (for a small zip file the caller has made room first,
 * so it stays in one piece).
 */
export function* readContents(b: BatchBuilder, fd: number, stat: Stats, absPath: string): Generator<Batch, void> {
  let remaining = stat.size;
  while (remaining > 0) {
    if (b.free === 0) yield b.take();
    const n = fs.readSync(fd, b.buf, b.used, Math.min(remaining, b.free), null);
    if (n === 0) {
      b.skips.push({ path: absPath, reason: `changed while being read (shrank by ${remaining} bytes); stored padded with zeros` });
      b.bytes += remaining;
      while (remaining > 0) {
        if (b.free === 0) yield b.take();
        const n = Math.min(remaining, b.free);
        b.zeros(n);
        remaining -= n;
      }
      return;
    }
    b.used += n;
    b.bytes += n;
    remaining -= n;
  }
  const after = fs.fstatSync(fd);
  if (after.size !== stat.size || after.mtimeMs !== stat.mtimeMs) {
    b.warnings.push(
      `${absPath} changed while it was being read (now ${after.size} bytes); the archive holds its first ${stat.size} bytes, which may mix old and new content.`,
    );
  }
}

/**
 * How one archive format stores walked entries in batches: the tar writer's
 * (tar-writer.ts) and the zip writer's (zip-writer.ts). A new one per
 * archive (it may remember what it stored, hard links for tar).
 */
export interface EntryEncoder {
  /** Adds one entry, handing out full batches on the way. */
  entry(b: BatchBuilder, entry: Entry): Generator<Batch, void>;
  /** Adds what ends the archive content, if anything. */
  end(b: BatchBuilder): Generator<Batch, void>;
}

/**
 * The batches of the whole archive content (for tar, the end-of-archive
 * blocks included). Stopping early (`return()`) closes the open file.
 */
export function* readSources(options: ReaderOptions, encoder: EntryEncoder): Generator<Batch, void> {
  const b = new BatchBuilder(BATCH_ITEMS[options.mode]);
  const onSkip = (skip: Skip): void => {
    b.skips.push(skip);
  };
  for (const entry of walkSync({ sources: options.sources, exclude: options.exclude, skipInodes: new Set(options.skipInodes), onSkip })) {
    if (!entry) continue;
    yield* encoder.entry(b, entry);
    if (b.due) yield b.take();
  }
  yield* encoder.end(b);
  yield b.take(0);
}
