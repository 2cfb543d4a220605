/**
 * A streaming zip writer on archiver: entries are appended one at a time and
 * the next is only appended once archiver has emitted the previous one, so
 * at most one source file is open and memory does not grow with the tree.
 * Unix modes (executable bit), symlinks and empty folders are kept; zip64 is
 * written by archiver when sizes or counts need it.
 */
import { Readable } from 'node:stream';
import { ZipArchive, type Archiver, type EntryData } from 'archiver';
import type { Entry, Skip } from './walk.js';
import { openSourceFile } from './open-source-file.js';
import { READ_CHUNK, readFileExactly } from './read-file.js';
import { prefetch } from './prefetch.js';
import type { ArchiveProgress } from './progress-counter.js';

export interface ZipWriterOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  progress: ArchiveProgress;
  signal?: AbortSignal;
}

/**
 * Resolves when archiver has written the entry just appended; rejects if the
 * source fails (archiver pipes it without forwarding its errors) or the
 * archive fails or is torn down.
 */
function appendAndWait(zip: Archiver, source: Readable | Buffer, data: EntryData): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      zip.off('entry', onEntry);
      zip.off('error', onError);
      zip.off('close', onClose);
      if (source instanceof Readable) source.off('error', onError);
    };
    const onEntry = (): void => {
      cleanup();
      resolve();
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the zip stream was closed'));
    };
    zip.on('entry', onEntry);
    zip.on('error', onError);
    zip.on('close', onClose);
    if (source instanceof Readable) source.on('error', onError);
    zip.append(source, data);
  });
}

async function feed(zip: Archiver, entries: AsyncIterable<Entry>, options: ZipWriterOptions): Promise<void> {
  const empty = Buffer.alloc(0);
  const read = { onSkip: options.onSkip, onWarning: options.onWarning, onBytes: (n: number) => options.progress.bytes(n) };
  for await (const { entry, data } of prefetch(entries, read)) {
    options.signal?.throwIfAborted();
    if (zip.destroyed) return;
    const common = { date: entry.stat.mtime, mode: entry.stat.mode & 0o7777 };
    switch (entry.kind) {
      case 'dir':
        await appendAndWait(zip, empty, { ...common, name: `${entry.archivePath}/`, type: 'directory' });
        break;
      case 'symlink':
        await appendAndWait(zip, empty, {
          ...common,
          name: entry.archivePath,
          type: 'symlink',
          ...({ linkname: entry.target } as object),
        });
        break;
      case 'file': {
        if (data) {
          await appendAndWait(zip, data, { ...common, name: entry.archivePath });
          break;
        }
        // A large file: streamed in chunks.
        const opened = await openSourceFile(entry.absPath, options.onSkip);
        if (!opened) continue;
        const { handle, stat } = opened;
        try {
          const source = Readable.from(readFileExactly(handle, stat, entry.absPath, read), { objectMode: false, highWaterMark: READ_CHUNK });
          await appendAndWait(zip, source, { date: stat.mtime, mode: stat.mode & 0o7777, name: entry.archivePath });
        } finally {
          await handle.close();
        }
        break;
      }
    }
    options.progress.entryDone(entry);
  }
  await zip.finalize();
}

/** The zip stream of `entries`. Errors while feeding destroy the stream, so a pipeline sees them. */
export function createZipStream(entries: AsyncIterable<Entry>, options: ZipWriterOptions): Readable {
  const zip = new ZipArchive({ zlib: { level: 6 } });
  zip.on('warning', (warning: Error) => options.onWarning(`zip: ${warning.message}`));
  feed(zip, entries, options).catch((error: unknown) => {
    if (!zip.destroyed) zip.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  return zip;
}
