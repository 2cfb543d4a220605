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

async function* tarChunks(entries: AsyncIterable<Entry>, options: TarWriterOptions): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    options.signal?.throwIfAborted();
    switch (entry.kind) {
      case 'dir':
        yield* encodeHeader(entry, 'Directory', 0);
        options.progress.entryDone(entry);
        break;
      case 'symlink':
        yield* encodeHeader(entry, 'SymbolicLink', 0, entry.target);
        options.progress.entryDone(entry);
        break;
      case 'file': {
        const opened = await openSourceFile(entry.absPath, options.onSkip);
        if (!opened) break;
        const { handle, stat } = opened;
        try {
          yield* encodeHeader({ ...entry, stat }, 'File', stat.size);
          yield* readFileExactly(handle, stat, entry.absPath, {
            onSkip: options.onSkip,
            onWarning: options.onWarning,
            onBytes: (n) => options.progress.bytes(n),
          });
          const tail = stat.size % BLOCK;
          if (tail !== 0) yield Buffer.alloc(BLOCK - tail);
        } finally {
          await handle.close();
        }
        options.progress.entryDone(entry);
        break;
      }
    }
  }
  // End of archive: two zero blocks.
  yield Buffer.alloc(BLOCK * 2);
}

/** The tar stream of `entries`, uncompressed. Destroying it closes any open file. */
export function createTarStream(entries: AsyncIterable<Entry>, options: TarWriterOptions): Readable {
  return Readable.from(tarChunks(entries, options), { objectMode: false, highWaterMark: READ_CHUNK });
}
