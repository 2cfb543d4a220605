/**
 * Turns the sources into the byte stream of one archive format:
 * zip, or tar followed by gzip / bzip2. Returns the pipeline stages; the
 * caller appends the hash and the destinations.
 */
import type { Duplex, Readable } from 'node:stream';
import type { Format } from './formats.js';
import type { Skip } from './walk.js';
import type { ArchiveProgress } from './progress-counter.js';
import { createTarStream, type SourceOptions } from './tar-writer.js';
import { createZipStream } from './zip-writer.js';
import { createBzip2, createGzip, type Bzip2Program } from './compressors.js';

export interface CreateArchiveOptions {
  format: Format;
  /** Cores to use for compression. */
  threads: number;
  /** Required for tar.bz2. */
  bzip2?: Bzip2Program;
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  progress: ArchiveProgress;
  signal?: AbortSignal;
}

export function createArchiveStages(
  source: SourceOptions,
  options: CreateArchiveOptions,
): [Readable, ...Duplex[]] {
  const { onSkip, onWarning, progress, signal } = options;
  switch (options.format) {
    case 'zip':
      return [createZipStream(source, { onSkip, onWarning, progress, signal, threads: options.threads })];
    case 'tar.gz':
      return [createTarStream(source, { onSkip, onWarning, progress, signal }), createGzip(options.threads)];
    case 'tar.bz2':
      if (!options.bzip2) throw new Error('tar.bz2 needs a bzip2 program');
      return [createTarStream(source, { onSkip, onWarning, progress, signal }), createBzip2(options.bzip2, options.threads)];
  }
}
