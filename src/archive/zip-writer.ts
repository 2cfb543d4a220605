/**
 * A streaming zip writer that uses every core.
 *
 * - Small files (read by the source reader's worker, source-reader.ts) are deflated several at a time
 *   on the thread pool and written in walk order with their sizes and CRC in
 *   the local header; a file that does not shrink is stored instead.
 * - Large files are streamed: local header, then the deflate stream of
 *   BlockDeflater (1 MiB blocks compressed in parallel), then a data
 *   descriptor with the CRC and sizes.
 * - zip64 where needed: a file of 4 GiB or more, offsets past 4 GiB, more
 *   than 65,534 entries.
 * - Unix modes (executable bit), symlinks (stored as their target, as
 *   Info-ZIP does), empty folders, mtimes (DOS time and a UTC timestamp
 *   field) are kept; the central directory is kept in memory as encoded
 *   bytes (~100 bytes an entry).
 *
 * This replaces archiver, which deflates one entry at a time on one core
 * and held ~370 MB on a tree of 29k files (PERFORMANCE-NOTES.md).
 */
import { Readable } from 'node:stream';
import type { Skip } from './walk.js';
import { sourceBatches } from './source-batches.js';
import type { ZipItem } from './source-reader.js';
import { reportBatch, type SourceOptions } from './tar-writer.js';
import { BlockDeflater, crc32 } from './block-deflate.js';
import { DeflatePool } from './deflate-pool.js';
import { ChunkBatcher } from './chunk-batcher.js';
import type { ArchiveProgress } from './progress-counter.js';
import {
  METHOD_DEFLATED,
  METHOD_STORED,
  centralHeader,
  dataDescriptor,
  endRecords,
  localHeader,
  type ZipEntryInfo,
} from './zip-format.js';

/** Streamed files above this use zip64 from the start (deflate can grow incompressible data a little). */
const ZIP64_FILE_THRESHOLD = 0xffffffff - 64 * 1024 * 1024;
const BATCH = 256 * 1024;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export interface ZipWriterOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  progress: ArchiveProgress;
  /** Cores for compression. */
  threads: number;
  signal?: AbortSignal;
}

/** One entry's part, in archive order, with its bytes (a view into the batch). */
interface Piece {
  item: ZipItem;
  data?: Buffer;
}

type Ready = { piece: Piece; small?: { method: number; crc: number; payload: Buffer } };

async function compressSmall(piece: Piece & { data: Buffer }, pool: DeflatePool): Promise<Ready> {
  const data = piece.data;
  const crc = crc32(data, 0);
  if (data.length === 0) return { piece, small: { method: METHOD_STORED, crc, payload: data } };
  const deflated = await pool.deflate(data);
  return deflated.length < data.length
    ? { piece, small: { method: METHOD_DEFLATED, crc, payload: deflated } }
    : { piece, small: { method: METHOD_STORED, crc, payload: data } };
}

/** The pieces of the source reader's batches, reporting what each batch says besides its bytes. */
async function* pieces(source: SourceOptions, options: ZipWriterOptions): AsyncGenerator<Piece> {
  const batches = sourceBatches(
    { mode: 'zip', sources: source.sources, exclude: source.exclude, skipInodes: [...source.skipInodes] },
    options.signal,
  );
  for await (const batch of batches) {
    reportBatch(batch, options);
    for (const item of batch.items) {
      yield item.k === 'file' || item.k === 'chunk' ? { item, data: Buffer.from(batch.data, item.at, item.size) } : { item };
    }
  }
}

/** Deflates small files several at a time, handing them on in order. */
async function* compressAhead(items: AsyncIterable<Piece>, jobs: number): AsyncGenerator<Ready> {
  const pool = new DeflatePool(jobs);
  const iterator = items[Symbol.asyncIterator]();
  const queue: Array<Promise<Ready>> = [];
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length < jobs * 2) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const piece = next.value;
        if (piece.item.k === 'file') {
          const ready = compressSmall(piece as Piece & { data: Buffer }, pool);
          ready.catch(() => undefined);
          queue.push(ready);
        } else {
          queue.push(Promise.resolve({ piece }));
        }
      }
      const head = queue.shift();
      if (!head) return;
      yield await head;
    }
  } finally {
    await Promise.allSettled(queue);
    pool.close();
    await iterator.return?.();
  }
}

/**
 * The central directory, kept until the end of the archive: records copied
 * into 1 MiB pages, not one Buffer each (a Buffer per entry cost ~1 KiB of
 * memory, 250 MB for 120,000 files).
 */
class RecordPages {
  /** Each page and how much of it holds records. */
  private readonly pages: Array<{ bytes: Buffer; used: number }> = [];
  size = 0;
  count = 0;

  add(record: Buffer): void {
    let page = this.pages.at(-1);
    if (!page || page.used + record.length > page.bytes.length) {
      page = { bytes: Buffer.allocUnsafe(Math.max(PAGE, record.length)), used: 0 };
      this.pages.push(page);
    }
    record.copy(page.bytes, page.used);
    page.used += record.length;
    this.size += record.length;
    this.count += 1;
  }

  *chunks(): Generator<Buffer> {
    for (const page of this.pages) yield page.bytes.subarray(0, page.used);
  }
}

const PAGE = 1024 * 1024;

function withType(mode: number, type: number): number {
  return (mode & ~S_IFMT & 0xffff) | type;
}

async function* zipChunks(source: SourceOptions, options: ZipWriterOptions): AsyncGenerator<Buffer> {
  // Every byte goes through the batcher, whose running total is the offset of the next entry.
  const out = new ChunkBatcher();
  const add = (...pieces: Buffer[]): void => out.add(...pieces);
  const take = (): Buffer => out.take();
  const central = new RecordPages();
  /** The large file being streamed. */
  let large: { info: ZipEntryInfo; deflater: BlockDeflater } | undefined;

  for await (const { piece, small } of compressAhead(pieces(source, options), options.threads + 1)) {
    options.signal?.throwIfAborted();
    const { item } = piece;
    let info: ZipEntryInfo;
    switch (item.k) {
      case 'dir':
        info = { ...entryBase(item, out.total), name: `${item.path}/`, mode: withType(item.mode, S_IFDIR), method: METHOD_STORED, crc: 0, size: 0, compressedSize: 0 };
        add(localHeader(info));
        break;
      case 'link': {
        const target = Buffer.from(item.target, 'utf8');
        info = {
          ...entryBase(item, out.total),
          mode: withType(item.mode, S_IFLNK),
          method: METHOD_STORED,
          crc: crc32(target, 0),
          size: target.length,
          compressedSize: target.length,
        };
        add(localHeader(info), target);
        break;
      }
      case 'file':
        info = {
          ...entryBase(item, out.total),
          mode: withType(item.mode, S_IFREG),
          method: small!.method,
          crc: small!.crc,
          size: item.size,
          compressedSize: small!.payload.length,
        };
        add(localHeader(info), small!.payload);
        break;
      case 'begin':
        // A large file, streamed: header, deflate stream, descriptor.
        large = {
          info: {
            ...entryBase(item, out.total),
            mode: withType(item.mode, S_IFREG),
            method: METHOD_DEFLATED,
            crc: 0,
            size: 0,
            compressedSize: 0,
            descriptor: true,
            zip64: item.size >= ZIP64_FILE_THRESHOLD,
          },
          deflater: new BlockDeflater({ jobs: options.threads + 1 }),
        };
        add(localHeader(large.info));
        yield take();
        continue;
      case 'chunk':
        add(...(await large!.deflater.write(piece.data!)));
        if (out.pending > 0) yield take();
        continue;
      case 'end': {
        const { deflater } = large!;
        add(...(await deflater.end()));
        info = { ...large!.info, crc: deflater.crc, size: deflater.size, compressedSize: deflater.compressedSize };
        add(dataDescriptor(info));
        large = undefined;
        break;
      }
    }
    central.add(centralHeader(info));
    if (out.pending >= BATCH) yield take();
  }

  const centralOffset = out.total;
  for (const page of central.chunks()) add(page);
  add(endRecords(central.count, centralOffset, central.size));
  yield take();
}

function entryBase(item: { path: string; mtime: number }, offset: number): Pick<ZipEntryInfo, 'name' | 'mtime' | 'offset' | 'descriptor' | 'zip64'> {
  return { name: item.path, mtime: new Date(item.mtime), offset, descriptor: false, zip64: false };
}

/** The zip stream of `entries`. Destroying it closes any open file. */
export function createZipStream(source: SourceOptions, options: ZipWriterOptions): Readable {
  return Readable.from(zipChunks(source, options), { objectMode: false, highWaterMark: 1024 * 1024 });
}
