/**
 * A streaming tar (POSIX pax) writer: the sources in, tar bytes out.
 *
 * - How entries are stored (`tarEncoder`): a ustar header per entry, with a
 *   pax extended header first when a name is long or not ASCII, or a number
 *   does not fit; contents padded to 512-byte blocks; two zero blocks at
 *   the end. It runs on the source reader's worker thread (source-reader.ts),
 *   which hands over the tar stream in batches.
 * - Hard links: the second and later paths of one file (same device and
 *   inode, link count above 1) are stored as hard link entries (typeflag
 *   '1') pointing to the first path, as GNU tar does: the data is stored
 *   once and extracting recreates the links.
 * - Modification times: whole seconds in the ustar header; an entry with a
 *   pax header gets its exact time there (nanoseconds), since GNU tar
 *   compares such an entry's time to the nanosecond (`tar -d`) and the
 *   others to the second.
 * - This side (`createTarStream`) reports the skips, warnings and progress
 *   that came with each batch, and passes the bytes on with backpressure.
 *   Destroying the stream stops the reader, which closes any open file.
 */
import fs, { type Stats } from 'node:fs';
import { Readable } from 'node:stream';
import { Header } from 'tar';
import type { Entry, Skip } from './walk.js';
import type { ArchiveProgress } from './progress-counter.js';
import { sourceBatches } from './source-batches.js';
import { SMALL_FILE, openFile, readContents, type Batch, type BatchBuilder, type EntryEncoder } from './source-reader.js';

export interface SourceOptions {
  /** Absolute source paths. */
  sources: string[];
  exclude: string[];
  /** `dev:ino` keys of files and folders never to store (see walk.ts). */
  skipInodes: ReadonlySet<string>;
}

export interface TarWriterOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  progress: ArchiveProgress;
  signal?: AbortSignal;
}

// --- entries (on the reader's thread) ----------------------------------------------------

const BLOCK = 512;

type HeaderType = 'File' | 'Directory' | 'SymbolicLink' | 'Link';

/** One Header, refilled for every entry (a fresh one per entry was most of the header cost). */
const header = new Header();
const headerBlock = Buffer.alloc(BLOCK);

/**
 * The time for a ustar header: whole seconds, floored from `mtimeMs` (as
 * GNU tar does). Not `stat.mtime`: Node rounds that to the nearest
 * millisecond, so 09.9996 s became 10 s and the archive a second late.
 * Flooring here also lets node-tar encode a time with a fraction outside
 * the octal range (before 1970, after 2242); the exact time goes in the pax
 * header, which such a time always needs.
 */
function headerTime(stat: Pick<Stats, 'mtimeMs'>): Date {
  return new Date(Math.floor(stat.mtimeMs / 1000) * 1000);
}

/** A pax record: `LENGTH key=value\n`, LENGTH counting itself. */
function paxRecord(key: string, value: string | number): string {
  const rest = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(rest);
  let digits = String(bytes).length;
  if (String(bytes + digits).length > digits) digits += 1;
  return `${bytes + digits}${rest}`;
}

/** Seconds since 1970 with up to 9 decimals, as pax writes times (`-1.5` is 1.5 s before 1970). */
export function paxTime(ns: bigint): string {
  const sign = ns < 0n ? '-' : '';
  const abs = ns < 0n ? -ns : ns;
  const fraction = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${abs / 1_000_000_000n}${fraction === '' ? '' : `.${fraction}`}`;
}

/**
 * The modification time to the nanosecond: `Stats` carries milliseconds
 * only, so this asks again (for the rare entries with a pax header).
 */
function mtimeNs(entry: Entry, fd: number | undefined, stat: Stats): bigint {
  try {
    if (fd !== undefined) return fs.fstatSync(fd, { bigint: true }).mtimeNs;
    // A folder below a source is never a symlink; the source itself may be one, and was followed.
    return (entry.kind === 'symlink' ? fs.lstatSync(entry.absPath, { bigint: true }) : fs.statSync(entry.absPath, { bigint: true })).mtimeNs;
  } catch {
    return BigInt(Math.floor(stat.mtimeMs * 1000)) * 1000n;
  }
}

/** The pax extended header (its own header block, the records, padding) of one entry. */
function paxHeader(entryPath: string, stat: Stats, size: number, mtime: bigint, linkpath: string | undefined): Buffer {
  let records = paxRecord('path', entryPath) + paxRecord('gid', stat.gid);
  if (linkpath !== undefined) records += paxRecord('linkpath', linkpath);
  records += paxRecord('mtime', paxTime(mtime)) + paxRecord('size', size) + paxRecord('uid', stat.uid);
  const length = Buffer.byteLength(records);
  const out = Buffer.alloc(BLOCK + Math.ceil(length / BLOCK) * BLOCK);
  const base = entryPath.replace(/\/$/, '');
  new Header({
    path: `PaxHeader/${base.slice(base.lastIndexOf('/') + 1)}`.slice(0, 99),
    mode: 0o644,
    uid: stat.uid,
    gid: stat.gid,
    size: length,
    mtime: headerTime(stat),
    type: 'ExtendedHeader',
    linkpath: '',
    uname: '',
    gname: '',
    devmaj: 0,
    devmin: 0,
  }).encode(out, 0);
  out.write(records, BLOCK, 'utf8');
  return out;
}

/**
 * The header blocks of one entry (a pax extended header first when needed).
 * The returned buffers are only valid until the next call.
 */
function tarHeader(entry: Entry, stat: Stats, type: HeaderType, size: number, linkpath: string | undefined, fd?: number): Buffer[] {
  const entryPath = type === 'Directory' ? `${entry.archivePath}/` : entry.archivePath;
  header.path = entryPath;
  header.linkpath = linkpath;
  header.mode = stat.mode & 0o7777;
  header.uid = stat.uid;
  header.gid = stat.gid;
  header.size = size;
  header.mtime = headerTime(stat);
  header.type = type;
  headerBlock.fill(0);
  if (!header.encode(headerBlock, 0)) return [headerBlock];
  return [paxHeader(entryPath, stat, size, mtimeNs(entry, fd, stat), linkpath), headerBlock];
}

function* addHeader(b: BatchBuilder, blocks: Buffer[], room: number): Generator<Batch, void> {
  let size = 0;
  for (const block of blocks) size += block.length;
  if (b.free < size + room) yield b.take(size + room);
  for (const block of blocks) b.write(block);
}

function padding(size: number): number {
  return size % BLOCK === 0 ? 0 : BLOCK - (size % BLOCK);
}

/** How tar stores entries: see the top of this file. */
export function tarEncoder(): EntryEncoder {
  /** First archive path of each file with more than one link, by `dev:ino`. */
  const linked = new Map<string, string>();

  return {
    *entry(b, entry) {
      switch (entry.kind) {
        case 'dir':
          yield* addHeader(b, tarHeader(entry, entry.stat, 'Directory', 0, undefined), 0);
          break;
        case 'symlink':
          yield* addHeader(b, tarHeader(entry, entry.stat, 'SymbolicLink', 0, entry.target), 0);
          break;
        case 'file': {
          if (entry.stat.nlink > 1) {
            const first = linked.get(`${entry.stat.dev}:${entry.stat.ino}`);
            if (first !== undefined) {
              yield* addHeader(b, tarHeader(entry, entry.stat, 'Link', 0, first), 0);
              b.files += 1;
              break;
            }
          }
          const opened = openFile(entry.absPath, b.skips);
          if (!opened) return; // a skip: no entry
          const { fd, stat } = opened;
          try {
            // A small file goes into one batch with its header and padding; a large one streams through.
            const room = stat.size <= SMALL_FILE ? stat.size + padding(stat.size) : 0;
            yield* addHeader(b, tarHeader(entry, stat, 'File', stat.size, undefined, fd), room);
            yield* readContents(b, fd, stat, entry.absPath);
          } finally {
            fs.closeSync(fd);
          }
          const pad = padding(stat.size);
          if (b.free < pad) yield b.take(pad);
          b.zeros(pad);
          b.files += 1;
          // Only once its data is stored may later paths point to it.
          if (stat.nlink > 1) linked.set(`${stat.dev}:${stat.ino}`, entry.archivePath);
          break;
        }
      }
      b.entries += 1;
    },
    *end(b) {
      if (b.free < 2 * BLOCK) yield b.take(2 * BLOCK);
      b.zeros(2 * BLOCK);
    },
  };
}

// --- the stream (on the main thread) -----------------------------------------------------

/** Passes on what a batch reports besides its bytes. */
export function reportBatch(batch: Batch, options: TarWriterOptions): void {
  for (const skip of batch.skips) options.onSkip(skip);
  for (const warning of batch.warnings) options.onWarning(warning);
  options.progress.add(batch.files, batch.entries, batch.bytes);
}

async function* tarChunks(source: SourceOptions, options: TarWriterOptions): AsyncGenerator<Buffer> {
  const batches = sourceBatches(
    { mode: 'tar', sources: source.sources, exclude: source.exclude, skipInodes: [...source.skipInodes] },
    options.signal,
  );
  for await (const batch of batches) {
    reportBatch(batch, options);
    if (batch.length > 0) yield Buffer.from(batch.data, 0, batch.length);
  }
}

/** The tar stream of the sources, uncompressed. */
export function createTarStream(source: SourceOptions, options: TarWriterOptions): Readable {
  return Readable.from(tarChunks(source, options), { objectMode: false, highWaterMark: 1024 * 1024 });
}
