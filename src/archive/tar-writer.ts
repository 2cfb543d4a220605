/**
 * A streaming tar (POSIX pax) writer: entries in, tar bytes out, one file
 * open at a time, reads in bounded chunks. Header encoding (ustar fields,
 * pax extended headers for long or non-ASCII names, large sizes, sub-second
 * mtimes) is node-tar's `Header` / `Pax`; the walking, opening and
 * per-file error handling are ours, so an unreadable file becomes a skip,
 * not a failed archive.
 */
import { Readable } from 'node:stream';
import { Header, Pax } from 'tar';
import type { Entry, Skip } from './walk.js';
import { openSourceFile } from './open-source-file.js';
import { READ_CHUNK, readFileExactly } from './read-file.js';
import { prefetch } from './prefetch.js';
import { ChunkBatcher } from './chunk-batcher.js';
import type { ArchiveProgress } from './progress-counter.js';

const BLOCK = 512;

export interface TarWriterOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  progress: ArchiveProgress;
  signal?: AbortSignal;
}

type HeaderType = 'File' | 'Directory' | 'SymbolicLink';

function encodeHeader(entry: Entry, type: HeaderType, size: number, linkpath?: string): Buffer[] {
  const entryPath = type === 'Directory' ? `${entry.archivePath}/` : entry.archivePath;
  const fields = {
    path: entryPath,
    linkpath,
    mode: entry.stat.mode & 0o7777,
    uid: entry.stat.uid,
    gid: entry.stat.gid,
    size,
    mtime: entry.stat.mtime,
    type,
  };
  const header = new Header(fields);
  const blocks: Buffer[] = [];
  if (header.encode()) {
    blocks.push(
      new Pax({ path: entryPath, linkpath, size, mtime: entry.stat.mtime, uid: entry.stat.uid, gid: entry.stat.gid }).encode(),
    );
  }
  if (!header.block) throw new Error(`could not encode a tar header for ${entry.archivePath}`);
  blocks.push(header.block);
  return blocks;
}

/** Small pieces (headers, small files, padding) are gathered into chunks of about this size. */
const BATCH = 256 * 1024;

async function* tarChunks(entries: AsyncIterable<Entry>, options: TarWriterOptions): AsyncGenerator<Buffer> {
  const out = new ChunkBatcher();
  const add = (pieces: Buffer[]): void => out.add(...pieces);
  const take = (): Buffer => out.take();
  const padding = (size: number): Buffer[] => (size % BLOCK === 0 ? [] : [Buffer.alloc(BLOCK - (size % BLOCK))]);
  const read = { onSkip: options.onSkip, onWarning: options.onWarning, onBytes: (n: number) => options.progress.bytes(n) };

  for await (const { entry, data } of prefetch(entries, read)) {
    options.signal?.throwIfAborted();
    switch (entry.kind) {
      case 'dir':
        add(encodeHeader(entry, 'Directory', 0));
        break;
      case 'symlink':
        add(encodeHeader(entry, 'SymbolicLink', 0, entry.target));
        break;
      case 'file': {
        if (data) {
          add([...encodeHeader(entry, 'File', data.length), data, ...padding(data.length)]);
          break;
        }
        // A large file: streamed in chunks straight through.
        const opened = await openSourceFile(entry.absPath, options.onSkip);
        if (!opened) continue;
        const { handle, stat } = opened;
        try {
          add(encodeHeader({ ...entry, stat }, 'File', stat.size));
          yield take();
          yield* readFileExactly(handle, stat, entry.absPath, read);
          add(padding(stat.size));
        } finally {
          await handle.close();
        }
        break;
      }
    }
    options.progress.entryDone(entry);
    if (out.pending >= BATCH) yield take();
  }
  // End of archive: two zero blocks.
  add([Buffer.alloc(BLOCK * 2)]);
  yield take();
}

/** The tar stream of `entries`, uncompressed. Destroying it closes any open file. */
export function createTarStream(entries: AsyncIterable<Entry>, options: TarWriterOptions): Readable {
  return Readable.from(tarChunks(entries, options), { objectMode: false, highWaterMark: READ_CHUNK });
}
