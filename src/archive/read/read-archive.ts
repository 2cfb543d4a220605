/**
 * Reads a stored archive once, from start to end: hashes every byte
 * (SHA-256), decompresses, walks every entry (checked by the format's own
 * CRCs and lengths) and hands each to `onEntry`. Used by verify and
 * restore, for a local file or an S3 object alike (streamed: no temporary
 * file, memory flat).
 */
import type { Duplex, Readable, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError, errnoCode, isAbortError } from '../../errors.js';
import { findBzip2, spawnFilter } from '../compressors.js';
import { HashStream } from '../hash-stream.js';
import { TruncatedError } from './byte-reader.js';
import { CorruptArchiveError, emptyStats, type EntryHandler, type ReadStats } from './archive-entry.js';
import { readTar } from './tar-reader.js';
import { gunzipSink } from './gunzip-sink.js';
import { readCentralDirectory, readZip } from './zip-reader.js';

export type ReadableFormat = 'zip' | 'tar.gz' | 'tar.bz2' | 'tar';

/** The archive format from its file name (what this tool and common tools name them). */
export function formatOfName(name: string): ReadableFormat | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.zip')) return 'zip';
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar.bz2') || lower.endsWith('.tbz2') || lower.endsWith('.tbz')) return 'tar.bz2';
  if (lower.endsWith('.tar')) return 'tar';
  return undefined;
}

/**
 * Where the archive's bytes come from. A storage Store has this shape;
 * it is spelled out here because archive code does not import storage.
 */
export interface ArchiveSource {
  locationOf(name: string): string;
  openRanges(
    name: string,
    signal?: AbortSignal,
  ): Promise<{ size: number; version?: string; read(start: number, length: number): Promise<Buffer>; close(): Promise<void> }>;
  openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable>;
}

export interface ReadArchiveOptions {
  store: ArchiveSource;
  name: string;
  format: ReadableFormat;
  onEntry: EntryHandler;
  signal?: AbortSignal;
  /** PATH used to find lbzip2/bzip2. */
  envPath?: string;
  threads?: number;
  /** Archive bytes read so far (progress). */
  onBytes?: (bytes: number) => void;
}

export interface ReadArchiveResult {
  sha256: string;
  bytes: number;
  stats: ReadStats;
}

/** Damaged, truncated, or not what its name says: exit 1, with what and where. */
export class ArchiveDamagedError extends BackupError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: 'ARCHIVE_DAMAGED', cause: options.cause });
  }
}
ArchiveDamagedError.prototype.name = 'ArchiveDamagedError';

/** A HashStream that also reports how far it got. */
class ReportingHash extends HashStream {
  constructor(private readonly report: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    super._transform(chunk, encoding, callback);
    this.report(this.bytes);
  }
}

function decompressor(format: ReadableFormat, envPath: string | undefined, threads: number | undefined): Duplex | undefined {
  if (format !== 'tar.bz2') return undefined;
  const program = findBzip2(envPath, threads);
  if (!program) {
    throw new BackupError('Reading a tar.bz2 archive needs the lbzip2 or bzip2 program, and neither is on PATH (apt-get install lbzip2).', {
      code: 'BZIP2_MISSING',
    });
  }
  const args = program.kind === 'lbzip2' && threads ? ['-d', '-c', `-n${threads}`] : ['-d', '-c'];
  return spawnFilter({ ...program, args });
}

function explain(error: unknown, location: string, hashed: number): unknown {
  if (error instanceof CorruptArchiveError || error instanceof TruncatedError) {
    return new ArchiveDamagedError(`${location}: ${error.message}.`, { cause: error });
  }
  const code = errnoCode(error);
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || code === 'Z_STREAM_ERROR') {
    const message = (error as Error).message;
    // The gzip trailer's CRC-32 and length are checked at the end: the damage is somewhere before.
    const what =
      code === 'Z_BUF_ERROR'
        ? `ends early, around byte ${hashed} (the archive is truncated)`
        : /incorrect data check/.test(message)
          ? 'does not match its CRC-32 (the archive is damaged somewhere; found at its end)'
          : /incorrect length check/.test(message)
            ? 'does not match its recorded length (the archive is damaged somewhere; found at its end)'
            : /incorrect header check/.test(message)
              ? 'does not start with a gzip header (this is not a gzip file, or its start is damaged)'
              : `is damaged around byte ${hashed} (${message})`;
    return new ArchiveDamagedError(`${location}: the gzip data ${what}.`, { cause: error });
  }
  if (error instanceof BackupError && error.code === 'COMPRESSOR_FAILED') {
    return new ArchiveDamagedError(`${location}: the bzip2 data is damaged or truncated (${error.message}).`, { cause: error });
  }
  return error;
}

export async function readArchive(options: ReadArchiveOptions): Promise<ReadArchiveResult> {
  const { store, name, format, signal } = options;
  const location = store.locationOf(name);
  const stats = emptyStats();
  const hash = options.onBytes ? new ReportingHash(options.onBytes) : new HashStream();
  let source: Readable | undefined;
  // The entry handler may still be finishing (removing a half-written file) when the pipeline
  // fails; it must be done before the error goes up and the process may exit.
  let consumer: Promise<void> | undefined;
  const track = (work: Promise<void>): Promise<void> => (consumer = work);
  try {
    if (format === 'zip') {
      const ranges = await store.openRanges(name, signal);
      let central;
      try {
        central = await readCentralDirectory(ranges);
      } finally {
        await ranges.close();
      }
      source = await store.openRead(name, signal, ranges.version);
      const entries = central;
      await pipeline(source, hash, async (data: AsyncIterable<Buffer>) => track(readZip(data, entries, options.onEntry, stats)), { signal });
    } else {
      source = await store.openRead(name, signal);
      const read = async (data: AsyncIterable<Buffer>): Promise<void> => track(readTar(data, options.onEntry, stats));
      if (format === 'tar.gz') {
        // The gzip data may be followed by zero padding; the file is still read and hashed to its end.
        const gunzip = gunzipSink();
        const stop = (error: unknown): never => {
          gunzip.input.destroy(error as Error);
          gunzip.output.destroy(error as Error);
          throw error;
        };
        await Promise.all([pipeline(source, hash, gunzip.input, { signal }).catch(stop), read(gunzip.output.iterator({ destroyOnReturn: false })).catch(stop)]);
      } else {
        const inflate = decompressor(format, options.envPath, options.threads);
        if (inflate) await pipeline(source, hash, inflate, read, { signal });
        else await pipeline(source, hash, read, { signal });
      }
    }
  } catch (error) {
    source?.destroy();
    await consumer?.catch(() => undefined);
    // Only the user cancels: a stream torn down by a failing stage is not a cancellation.
    if (signal?.aborted) throw signal.reason ?? error;
    if (isAbortError(error)) {
      throw new ArchiveDamagedError(`${location}: reading stopped at byte ${hash.bytes}, the data stream was torn down (${(error as Error).message}).`, { cause: error });
    }
    throw explain(error, location, hash.bytes);
  }
  return { sha256: hash.digest(), bytes: hash.bytes, stats };
}
