/**
 * Reads a zip archive in one sequential pass, as it streams by (from disk
 * or straight from S3), checking every entry's CRC-32 and size.
 *
 * A zip is only fully described by its central directory at the end, so it
 * is read first with a few random-access reads of the tail; the sequential
 * pass then knows where each entry starts and how long its data is, which
 * entries written with data descriptors (sizes after the data) need.
 * Supports zip64, stored and deflated entries, Unix modes and symlinks,
 * the extended-timestamp and NTFS time fields; refuses encryption and other
 * methods. Every size the archive claims is bounded: an entry never yields
 * more than its declared size, its data must lie before the central
 * directory, and the directory's size and entry count are capped.
 */
import zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { crc32 } from '../block-deflate.js';
import { MAX16, MAX32, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, SIG_CENTRAL, SIG_END, SIG_LOCAL, SIG_ZIP64_END, SIG_ZIP64_LOCATOR } from '../zip-format.js';
import { ByteReader } from './byte-reader.js';
import { CorruptArchiveError, decodeName, type ArchiveEntry, type EntryHandler, type ReadStats } from './archive-entry.js';

/** Random access to the archive's bytes (a file, or ranged GETs). */
export interface RandomAccess {
  size: number;
  read(start: number, length: number): Promise<Buffer>;
}

export interface ZipCentralEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
  entry: ArchiveEntry;
}

function u64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new CorruptArchiveError('a zip64 size or offset is out of range');
  return Number(value);
}

function dosToDate(date: number, time: number): Date {
  return new Date(1980 + (date >> 9), ((date >> 5) & 0xf) - 1, date & 0x1f, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2);
}

/**
 * Extended timestamp (0x5455): flags, then the mtime in seconds since 1970
 * UTC, read as SIGNED (1969 is -1 year, not 2105). Past 2038 a writer that
 * stores it unsigned is told apart by the DOS date (years 1980-2107): a
 * negative time with a DOS year of 2038 or later is the unsigned reading.
 */
function extendedTimestamp(buffer: Buffer, data: number, length: number, dosDate: number): Date | undefined {
  if (length < 5 || (buffer.readUInt8(data) & 1) === 0) return undefined;
  const signed = buffer.readInt32LE(data + 1);
  const dosYear = 1980 + (dosDate >> 9);
  return new Date((signed < 0 && dosYear >= 2038 ? signed + 2 ** 32 : signed) * 1000);
}

/** 100-nanosecond intervals from 1601-01-01 to 1970-01-01. */
const FILETIME_1970 = 116444736000000000n;

/** NTFS extra field (0x000a): reserved(4), then tags; tag 1 holds mtime, atime, ctime as Windows FILETIMEs (UTC). */
function ntfsModified(buffer: Buffer, data: number, length: number): Date | undefined {
  for (let at = data + 4; at + 4 <= data + length; ) {
    const tag = buffer.readUInt16LE(at);
    const size = buffer.readUInt16LE(at + 2);
    if (tag === 1 && size >= 24 && at + 4 + 8 <= data + length) {
      const filetime = buffer.readBigUInt64LE(at + 4);
      if (filetime === 0n) return undefined;
      const date = new Date(Number((filetime - FILETIME_1970) / 10000n));
      return Number.isNaN(date.getTime()) ? undefined : date;
    }
    at += 4 + size;
  }
  return undefined;
}

/** Unix file types other than file, folder and link, by their S_IFMT bits. */
const SPECIAL_TYPES: Record<number, string> = { 0o010000: 'FIFO', 0o020000: 'character device', 0o060000: 'block device', 0o140000: 'socket' };

/**
 * What an entry is. A name ending in '/' is a folder; a symbolic link only
 * when made by Unix with S_IFLNK; no type bits (Python's `writestr`, or a zip
 * made on MS-DOS/Windows) is a regular file. FIFO, device and socket bits
 * make an `other` entry, which restore never creates; its `size` says
 * whether it carries data, which is then reported as not restored.
 */
export function entryOf(name: string, madeBy: number, external: number, size: number, mtime: Date): ArchiveEntry {
  const unix = madeBy >> 8 === 3;
  const unixMode = unix ? external >>> 16 : 0;
  const type = unixMode & S_IFMT;
  const dosFolder = !unix && (external & 0x10) !== 0;
  const path = name.replace(/\/+$/, '');
  const permissions = unixMode & 0o7777;
  const folder = name.endsWith('/') || type === S_IFDIR || (type === 0 && dosFolder);
  if (folder && size === 0) return { path, kind: 'dir', mode: permissions || 0o755, mtime, size: 0 };
  if (type === S_IFLNK) return { path, kind: 'symlink', mode: permissions || 0o777, mtime, size: 0 };
  if (!folder && (type === 0 || type === S_IFREG)) return { path, kind: 'file', mode: permissions || 0o644, mtime, size };
  const typeName = folder ? 'folder' : (SPECIAL_TYPES[type] ?? `file of unknown type (mode ${type.toString(8)})`);
  return { path, kind: 'other', mode: permissions, mtime, size, typeName };
}

/** Locates the end records: count, offset and size of the central directory. */
async function readEnd(ra: RandomAccess): Promise<{ count: number; offset: number; size: number }> {
  const tailLength = Math.min(ra.size, 22 + MAX16);
  if (ra.size < 22) throw new CorruptArchiveError(`the file is ${ra.size} bytes long, too short to be a zip archive`);
  const tailStart = ra.size - tailLength;
  const tail = await ra.read(tailStart, tailLength);
  let at = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_END && i + 22 + tail.readUInt16LE(i + 20) <= tail.length) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new CorruptArchiveError('no zip end record found (the archive is truncated, or not a zip file)');
  let count = tail.readUInt16LE(at + 10);
  let size = tail.readUInt32LE(at + 12);
  let offset = tail.readUInt32LE(at + 16);
  const endOffset = tailStart + at;
  if ((count === MAX16 || size === MAX32 || offset === MAX32) && endOffset >= 20) {
    const locator = await exactly(ra, endOffset - 20, 20, 'the zip64 locator');
    if (locator.readUInt32LE(0) === SIG_ZIP64_LOCATOR) {
      const recordOffset = u64(locator, 8);
      const record = await exactly(ra, recordOffset, 56, 'the zip64 end record');
      if (record.readUInt32LE(0) !== SIG_ZIP64_END) throw new CorruptArchiveError('the zip64 end record is missing or damaged');
      count = u64(record, 32);
      size = u64(record, 40);
      offset = u64(record, 48);
    }
  }
  if (offset + size > endOffset) throw new CorruptArchiveError('the central directory points past the end of the archive (truncated?)');
  return { count, offset, size };
}

function parseCentral(buffer: Buffer, at: number): { entry: ZipCentralEntry; length: number } {
  if (buffer.readUInt32LE(at) !== SIG_CENTRAL) throw new CorruptArchiveError('the central directory is damaged');
  const madeBy = buffer.readUInt16LE(at + 4);
  const flags = buffer.readUInt16LE(at + 8);
  const method = buffer.readUInt16LE(at + 10);
  const time = buffer.readUInt16LE(at + 12);
  const date = buffer.readUInt16LE(at + 14);
  const crc = buffer.readUInt32LE(at + 16);
  let compressedSize = buffer.readUInt32LE(at + 20);
  let size = buffer.readUInt32LE(at + 24);
  const nameLength = buffer.readUInt16LE(at + 28);
  const extraLength = buffer.readUInt16LE(at + 30);
  const commentLength = buffer.readUInt16LE(at + 32);
  const external = buffer.readUInt32LE(at + 38);
  let offset = buffer.readUInt32LE(at + 42);
  const nameStart = at + 46;
  // Names that are not UTF-8 (CP437 or Latin-1 zips from writers that do not set the UTF-8 flag)
  // keep their bytes: restored under exactly those bytes, shown escaped, never two folded into one.
  const decoded = decodeName(Buffer.from(buffer.subarray(nameStart, nameStart + nameLength)));
  const name = decoded.text;
  let extendedTime: Date | undefined;
  let ntfsTime: Date | undefined;
  for (let x = nameStart + nameLength; x + 4 <= nameStart + nameLength + extraLength; ) {
    const id = buffer.readUInt16LE(x);
    const length = buffer.readUInt16LE(x + 2);
    const data = x + 4;
    if (data + length > nameStart + nameLength + extraLength) break; // a sloppy writer's padding: ignored, as unzip does
    if (id === 0x0001) {
      let field = data;
      if (size === MAX32) (size = u64(buffer, field)), (field += 8);
      if (compressedSize === MAX32) (compressedSize = u64(buffer, field)), (field += 8);
      if (offset === MAX32) offset = u64(buffer, field);
    } else if (id === 0x5455) {
      extendedTime = extendedTimestamp(buffer, data, length, date);
    } else if (id === 0x000a) {
      ntfsTime = ntfsModified(buffer, data, length);
    }
    x = data + length;
  }
  // NTFS times (7-Zip) are the most precise, then Info-ZIP's extended timestamp; both are UTC.
  const mtime = ntfsTime ?? extendedTime ?? dosToDate(date, time);
  const entry = entryOf(name, madeBy, external, size, mtime);
  if (decoded.raw) {
    let end = decoded.raw.length;
    while (end > 0 && decoded.raw[end - 1] === 0x2f) end -= 1;
    entry.pathBytes = decoded.raw.subarray(0, end);
  }
  return {
    entry: { name, method, flags, crc, compressedSize, size, offset, entry },
    length: 46 + nameLength + extraLength + commentLength,
  };
}

/**
 * Bounds on what a central directory may claim. Its records are kept as the
 * raw bytes read (one buffer) plus 12 bytes an entry (where each record
 * starts, where its data lies), not as objects: a million entries take about
 * the directory's own size (60-150 MB), not gigabytes. Each entry is parsed
 * again when the sequential pass reaches it.
 */
export const MAX_CENTRAL_BYTES = 1024 * 1024 * 1024;
/** Every record is at least 46 bytes, so 1 GiB holds at most ~23 million; a count past this is damage. */
export const MAX_ENTRIES = 20_000_000;

/** The central directory, in the order the entries' data lies in the archive. */
export class CentralDirectory {
  constructor(
    private readonly bytes: Buffer,
    /** Where each record starts in `bytes`, in data order. */
    private readonly records: Uint32Array,
  ) {}

  get count(): number {
    return this.records.length;
  }

  entry(i: number): ZipCentralEntry {
    return parseCentral(this.bytes, this.records[i]!).entry;
  }

  *[Symbol.iterator](): IterableIterator<ZipCentralEntry> {
    for (let i = 0; i < this.records.length; i++) yield this.entry(i);
  }
}

/** The central directory, sorted by where each entry's data lies. */
export async function readCentralDirectory(ra: RandomAccess): Promise<CentralDirectory> {
  try {
    return await parseDirectory(ra);
  } catch (error) {
    // A field pointing past the end of a record or of the file: damage, not a crash.
    if (error instanceof RangeError) throw new CorruptArchiveError(`the central directory or end record is damaged (${error.message})`);
    throw error;
  }
}

async function exactly(ra: RandomAccess, start: number, length: number, what: string): Promise<Buffer> {
  if (start < 0 || start + length > ra.size) throw new CorruptArchiveError(`${what} points past the end of the archive (truncated?)`);
  const buffer = await ra.read(start, length);
  if (buffer.length !== length) throw new CorruptArchiveError(`${what} could not be read whole (truncated?)`);
  return buffer;
}

async function parseDirectory(ra: RandomAccess): Promise<CentralDirectory> {
  const end = await readEnd(ra);
  if (end.size > MAX_CENTRAL_BYTES) {
    throw new CorruptArchiveError(`the central directory claims ${end.size} bytes; this tool reads at most ${MAX_CENTRAL_BYTES} (about 10 million entries)`);
  }
  if (end.count > MAX_ENTRIES || end.count * 46 > end.size) {
    throw new CorruptArchiveError(`the end record claims ${end.count} entries, more than its ${end.size}-byte central directory can hold`);
  }
  // Read in pieces into one buffer: never twice its size in memory.
  const bytes = Buffer.alloc(end.size);
  for (let done = 0; done < end.size; ) {
    const piece = await exactly(ra, end.offset + done, Math.min(8 * 1024 * 1024, end.size - done), 'the central directory');
    piece.copy(bytes, done);
    done += piece.length;
  }
  const records = new Uint32Array(end.count);
  const offsets = new Float64Array(end.count);
  let at = 0;
  let sorted = true;
  for (let i = 0; i < end.count; i++) {
    if (at + 46 > bytes.length) throw new CorruptArchiveError(`the central directory lists ${end.count} entries but holds only ${i}`);
    const length = 46 + bytes.readUInt16LE(at + 28) + bytes.readUInt16LE(at + 30) + bytes.readUInt16LE(at + 32);
    if (at + length > bytes.length) throw new CorruptArchiveError(`the central directory lists ${end.count} entries but holds only ${i}`);
    // Parsed whole once now, so damage anywhere in it stops the read before any entry is handed on.
    const { entry } = parseCentral(bytes, at);
    // An entry's data lies before the central directory: a larger claim is damage, whatever it says.
    if (entry.offset + 30 + entry.compressedSize > end.offset) {
      throw new CorruptArchiveError(`${entry.name} claims ${entry.compressedSize} bytes of data at byte ${entry.offset}, past where the data ends (byte ${end.offset})`);
    }
    // (An encrypted entry has a header before its data; it is refused with its own message later.)
    if (entry.method === 0 && (entry.flags & 1) === 0 && entry.compressedSize !== entry.size) {
      throw new CorruptArchiveError(`${entry.name} is stored uncompressed but claims ${entry.compressedSize} bytes stored and ${entry.size} bytes of content`);
    }
    records[i] = at;
    offsets[i] = entry.offset;
    if (i > 0 && entry.offset < offsets[i - 1]!) sorted = false;
    at += length;
  }
  let order = records;
  if (!sorted) {
    const index = new Uint32Array(end.count).map((_, i) => i);
    index.sort((a, b) => offsets[a]! - offsets[b]!);
    order = index.map((i) => records[i]!);
    offsets.set(Float64Array.from(index, (i) => offsets[i]!));
  }
  for (let i = 1; i < end.count; i++) {
    if (offsets[i] === offsets[i - 1]) throw new CorruptArchiveError(`two entries share the data at byte ${offsets[i]}`);
  }
  return new CentralDirectory(bytes, order);
}

async function* inflated(input: AsyncIterable<Buffer>, item: ZipCentralEntry): AsyncGenerator<Buffer> {
  let crc = 0;
  let length = 0;
  let source: AsyncIterable<Buffer> = input;
  let feeder: Readable | undefined;
  let inflater: zlib.InflateRaw | undefined;
  if (item.method !== 0) {
    feeder = Readable.from(input);
    const inflate = zlib.createInflateRaw();
    inflater = inflate;
    feeder.on('error', (error) => inflate.destroy(error));
    feeder.pipe(inflate);
    source = inflate;
  }
  try {
    for await (const piece of source) {
      // Never more than the entry claims (yauzl's validateEntrySizes): a small zip whose header says
      // 10 bytes must not inflate gigabytes into a temporary file before its CRC is checked.
      if (length + piece.length > item.size) {
        throw new CorruptArchiveError(`entry ${item.name}: more data than its declared size ${item.size} (the archive is damaged or hostile)`);
      }
      crc = crc32(piece, crc);
      length += piece.length;
      yield piece;
    }
  } catch (error) {
    if (error instanceof CorruptArchiveError || (error instanceof Error && error.name === 'TruncatedError')) throw error;
    throw new CorruptArchiveError(`the compressed data of ${item.name} is damaged (${(error as Error).message})`);
  } finally {
    feeder?.destroy();
    inflater?.destroy();
  }
  if (length !== item.size) throw new CorruptArchiveError(`${item.name}: ${length} bytes instead of ${item.size} (the archive is damaged)`);
  if (crc >>> 0 !== item.crc >>> 0) throw new CorruptArchiveError(`${item.name}: CRC-32 mismatch (the archive is damaged)`);
}

async function collect(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let length = 0;
  for await (const piece of body) {
    length += piece.length;
    if (length > limit) throw new CorruptArchiveError('a symbolic link target is implausibly long');
    pieces.push(piece);
  }
  return Buffer.concat(pieces);
}

/** The sequential pass: every entry's data, in order, checked; the rest of the stream drained. */
export async function readZip(
  source: AsyncIterable<Buffer>,
  central: Iterable<ZipCentralEntry>,
  onEntry: EntryHandler,
  stats: ReadStats,
): Promise<void> {
  const reader = new ByteReader(source);
  for (const item of central) {
    if (reader.offset > item.offset) throw new CorruptArchiveError(`entries overlap at byte ${item.offset} (${item.name})`);
    await reader.skip(item.offset - reader.offset, `the data before ${item.name}`);
    const local = await reader.readExactly(30, `the local header of ${item.name}`);
    if (local.readUInt32LE(0) !== SIG_LOCAL) {
      throw new CorruptArchiveError(`no local header for ${item.name} at byte ${item.offset} (the archive is damaged)`);
    }
    if (local.readUInt16LE(8) !== item.method || (local.readUInt16LE(6) & 0x0809) !== (item.flags & 0x0809)) {
      throw new CorruptArchiveError(`the local header of ${item.name} disagrees with the central directory (method or flags): the archive is damaged`);
    }
    const nameLength = local.readUInt16LE(26);
    const extraLength = local.readUInt16LE(28);
    const localName = decodeName(Buffer.from(await reader.readExactly(nameLength, `the name of ${item.name}`))).text;
    if (localName !== item.name) throw new CorruptArchiveError(`the local header at byte ${item.offset} names ${localName}, the directory ${item.name}`);
    await reader.skip(extraLength, `the header of ${item.name}`);
    if ((item.flags & 1) !== 0) throw new CorruptArchiveError(`${item.name} is encrypted; encrypted zip archives are not supported`);
    if (item.method !== 0 && item.method !== 8) {
      throw new CorruptArchiveError(`${item.name} uses compression method ${item.method}; only stored (0) and deflate (8) are supported`);
    }
    const raw = (): AsyncGenerator<Buffer> => reader.take(item.compressedSize, `the data of ${item.name}`);
    const entry = { ...item.entry };
    if (entry.kind === 'symlink') {
      entry.linkTarget = (await collect(inflated(raw(), item), 64 * 1024)).toString('utf8');
      await onEntry(entry, (async function* () {})());
    } else {
      let started = false;
      const body = inflated(raw(), item);
      await onEntry(
        entry,
        (async function* () {
          started = true;
          yield* body;
        })(),
      );
      // Data the handler did not read is still checked (a verify reads everything anyway).
      if (!started) for await (const piece of body) void piece;
    }
    stats.entries += 1;
    if (entry.kind === 'file') {
      stats.files += 1;
      stats.fileBytes += item.size;
    }
  }
  await reader.drain();
}
