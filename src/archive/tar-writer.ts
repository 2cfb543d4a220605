/**
 * A streaming tar (POSIX pax) writer: the sources in, tar bytes out. The
 * walking, reading and header encoding happen on the source reader's
 * worker thread (source-reader.ts), which hands over the tar stream in
 * batches; this side reports the skips, warnings and progress that came
 * with each batch, and passes the bytes on with backpressure. Destroying
 * the stream stops the reader, which closes any open file.
 */
import { Readable } from 'node:stream';
import type { Skip } from './walk.js';
import type { ArchiveProgress } from './progress-counter.js';
import { sourceBatches } from './source-batches.js';
import type { Batch } from './source-reader.js';

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
