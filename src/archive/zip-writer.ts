/**
 * A streaming zip writer that uses every core.
 *
 * - Small files, folders and symlinks come from the source reader's worker
 *   (source-reader.ts) in batches, as `zipEncoder` lists them: the contents
 *   of files up to SMALL_FILE whole, larger ones in pieces; each batch is encoded whole on one of
 *   the zip deflate workers (zip-deflate-batch.ts: CRC, deflate or store,
 *   local headers, central records), several batches at once, and written
 *   in walk order. Here only the central records' offsets are filled in.
 * - Large files are streamed: local header, then the deflate stream of
 *   BlockDeflater (1 MiB blocks compressed in parallel on the thread pool),
 *   then a data descriptor with the CRC and sizes.
 * - zip64 where needed: a file of 4 GiB or more, offsets past 4 GiB, more
 *   than 65,534 entries.
 * - Unix modes (executable bit), symlinks (stored as their target, as
 *   Info-ZIP does), empty folders, mtimes (DOS time and a UTC timestamp
 *   field) are kept; zip has no hard links, so each path of a hard-linked
 *   file is stored as a copy; the central directory is kept in memory as encoded
 *   bytes (~100 bytes an entry).
 *
 * This replaces archiver, which deflates one entry at a time on one core
 * and held ~370 MB on a tree of 29k files (PERFORMANCE-NOTES.md).
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { Skip } from './walk.js';
import { sourceBatches } from './source-batches.js';
import { SMALL_FILE, openFile, readContents, type Batch, type EntryEncoder, type ZipItem } from './source-reader.js';
import { reportBatch, type SourceOptions } from './tar-writer.js';
import { BlockDeflater } from './block-deflate.js';
import { ChunkBatcher } from './chunk-batcher.js';
import type { ArchiveProgress } from './progress-counter.js';
import { ZipDeflatePool } from './zip-deflate-pool.js';
import { itemInfo, withType, type DeflateResult, type SmallZipItem } from './zip-deflate-batch.js';
import { METHOD_DEFLATED, S_IFREG, centralHeader, dataDescriptor, endRecords, localHeader, type ZipEntryInfo } from './zip-format.js';

/** Streamed files above this use zip64 from the start (deflate can grow incompressible data a little). */
const ZIP64_FILE_THRESHOLD = 0xffffffff - 64 * 1024 * 1024;
const MAX32 = 0xffffffff;
const BATCH = 256 * 1024;
/** Offset of the local-header offset in a central record. */
const CENTRAL_OFFSET_FIELD = 42;

export interface ZipWriterOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  progress: ArchiveProgress;
  /** Cores for compression. */
  threads: number;
  signal?: AbortSignal;
}

/** How zip entries are listed in the reader's batches (on the reader's thread): see ZipItem. */
export function zipEncoder(): EntryEncoder {
  return {
    *entry(b, entry) {
      // mtimeMs floored, not stat.mtime: Node rounds that to the nearest ms (09.9996 s became 10 s).
      const mtime = Math.floor(entry.stat.mtimeMs);
      switch (entry.kind) {
        case 'dir':
          b.items.push({ k: 'dir', path: entry.archivePath, mode: entry.stat.mode, mtime });
          break;
        case 'symlink':
          b.items.push({ k: 'link', path: entry.archivePath, mode: entry.stat.mode, mtime, target: entry.target });
          break;
        case 'file': {
          const opened = openFile(entry.absPath, b.skips);
          if (!opened) return;
          const { fd, stat } = opened;
          const meta = { path: entry.archivePath, mode: stat.mode, mtime: Math.floor(stat.mtimeMs) };
          try {
            if (stat.size <= SMALL_FILE) {
              if (b.free < stat.size) yield b.take(stat.size);
              const at = b.used;
              yield* readContents(b, fd, stat, entry.absPath);
              b.items.push({ k: 'file', ...meta, at, size: stat.size });
            } else {
              b.items.push({ k: 'begin', ...meta, size: stat.size });
              b.piece = b.used;
              try {
                yield* readContents(b, fd, stat, entry.absPath);
              } finally {
                if (b.used > b.piece) b.items.push({ k: 'chunk', at: b.piece, size: b.used - b.piece });
                b.piece = undefined;
              }
              b.items.push({ k: 'end' });
            }
          } finally {
            fs.closeSync(fd);
          }
          b.files += 1;
          break;
        }
      }
      b.entries += 1;
    },
    *end() {
      // The central directory is written by zipChunks, which alone knows the offsets.
    },
  };
}

/**
 * The central directory, kept until the end of the archive, as bytes in
 * 1 MiB pages, not one Buffer per record (a Buffer per entry cost ~1 KiB of
 * memory, 250 MB for 120,000 files). Records may straddle pages: the pages
 * are written back to back.
 */
class RecordPages {
  private readonly pages: Array<{ bytes: Buffer; used: number }> = [];
  size = 0;
  count = 0;

  add(records: Buffer, count: number): void {
    let from = 0;
    while (from < records.length) {
      let page = this.pages.at(-1);
      if (!page || page.used === page.bytes.length) {
        page = { bytes: Buffer.allocUnsafe(PAGE), used: 0 };
        this.pages.push(page);
      }
      const n = records.copy(page.bytes, page.used, from);
      page.used += n;
      from += n;
    }
    this.size += records.length;
    this.count += count;
  }

  *chunks(): Generator<Buffer> {
    for (const page of this.pages) yield page.bytes.subarray(0, page.used);
  }
}

const PAGE = 1024 * 1024;

/** Part of the archive, in order: a run of small entries being encoded, or part of a large file. */
type Segment =
  | { k: 'small'; items: SmallZipItem[]; result: Promise<DeflateResult> }
  | { k: 'large'; item: Extract<ZipItem, { k: 'begin' | 'end' }> }
  | { k: 'chunk'; data: Buffer };

/** Cuts a batch into segments; runs of small entries are sent to the pool. */
function segments(batch: Batch, pool: ZipDeflatePool, level: number): Segment[] {
  const out: Segment[] = [];
  const whole = batch.items.every((item) => item.k === 'dir' || item.k === 'link' || item.k === 'file');
  let run: SmallZipItem[] = [];
  const flushRun = (): void => {
    if (run.length === 0) return;
    const items = run;
    run = [];
    let data = batch.data;
    if (!whole) {
      // The batch's buffer also holds a large file's bytes: send a copy of this run's part.
      let start = Infinity;
      let end = 0;
      for (const item of items) {
        if (item.k !== 'file') continue;
        start = Math.min(start, item.at);
        end = Math.max(end, item.at + item.size);
      }
      if (start === Infinity) start = end = 0;
      data = batch.data.slice(start, end);
      for (const [i, item] of items.entries()) if (item.k === 'file') items[i] = { ...item, at: item.at - start };
    }
    const result = pool.run({ data, items, level });
    result.catch(() => undefined);
    out.push({ k: 'small', items, result });
  };
  for (const item of batch.items) {
    if (item.k === 'dir' || item.k === 'link' || item.k === 'file') run.push(item);
    else {
      flushRun();
      out.push(item.k === 'chunk' ? { k: 'chunk', data: Buffer.from(batch.data, item.at, item.size) } : { k: 'large', item });
    }
  }
  flushRun();
  return out;
}

async function* zipChunks(source: SourceOptions, options: ZipWriterOptions): AsyncGenerator<Buffer> {
  // Every byte goes through the batcher, whose running total is the offset of the next entry.
  const out = new ChunkBatcher();
  const take = (): Buffer => out.take();
  const central = new RecordPages();
  const pool = new ZipDeflatePool(options.threads);
  const level = 6;
  /** Segments read and not written yet: at most this many (each up to ~1 MiB). */
  const ahead = options.threads * 2 + 2;
  const queue: Segment[] = [];
  const batches = sourceBatches(
    { mode: 'zip', sources: source.sources, exclude: source.exclude, skipInodes: [...source.skipInodes] },
    options.signal,
  );
  let exhausted = false;
  /** The large file being streamed. */
  let large: { info: ZipEntryInfo; deflater: BlockDeflater } | undefined;

  try {
    for (;;) {
      while (!exhausted && queue.length < ahead) {
        const next = await batches.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        reportBatch(next.value, options);
        queue.push(...segments(next.value, pool, level));
      }
      const segment = queue.shift();
      if (!segment) break;
      options.signal?.throwIfAborted();

      if (segment.k === 'small') {
        const result = await segment.result;
        const base = out.total;
        out.add(Buffer.from(result.local, 0, result.localLength));
        const records = Buffer.from(result.central, 0, result.centralLength);
        const n = segment.items.length;
        if (base + result.localLength < MAX32) {
          for (let i = 0; i < n; i++) records.writeUInt32LE(base + result.localStart[i]!, result.centralStart[i]! + CENTRAL_OFFSET_FIELD);
          central.add(records, n);
        } else {
          // Past 4 GiB: records whose offset needs the zip64 field are encoded again.
          for (let i = 0; i < n; i++) {
            const info = itemInfo(segment.items[i]!, result.method[i]!, result.crc[i]!, 0, result.compressedSize[i]!);
            const item = segment.items[i]!;
            info.size = item.k === 'file' ? item.size : item.k === 'link' ? Buffer.byteLength(item.target, 'utf8') : 0;
            info.offset = base + result.localStart[i]!;
            central.add(centralHeader(info), 1);
          }
        }
      } else if (segment.k === 'chunk') {
        out.add(...(await large!.deflater.write(segment.data)));
      } else if (segment.item.k === 'begin') {
        const item = segment.item;
        large = {
          info: {
            name: item.path,
            mtime: new Date(item.mtime),
            offset: out.total,
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
        out.add(localHeader(large.info));
      } else {
        const { deflater } = large!;
        out.add(...(await deflater.end()));
        const info = { ...large!.info, crc: deflater.crc, size: deflater.size, compressedSize: deflater.compressedSize };
        out.add(dataDescriptor(info));
        central.add(centralHeader(info), 1);
        large = undefined;
      }
      if (out.pending >= BATCH || (large && out.pending > 0)) yield take();
    }

    const centralOffset = out.total;
    for (const page of central.chunks()) out.add(page);
    out.add(endRecords(central.count, centralOffset, central.size));
    yield take();
  } finally {
    await pool.close();
    await batches.return();
  }
}

/** The zip stream of the sources. Destroying it stops the reader, which closes any open file. */
export function createZipStream(source: SourceOptions, options: ZipWriterOptions): Readable {
  return Readable.from(zipChunks(source, options), { objectMode: false, highWaterMark: 1024 * 1024 });
}
