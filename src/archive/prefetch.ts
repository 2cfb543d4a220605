/**
 * Reads small files ahead of the archive writer, several at a time, and
 * hands them over in walk order. On a tree of many small files the time
 * goes into open/read/close round trips to the thread pool, one after
 * another; with a few in flight the pool's threads overlap them. Large
 * files are left to the writer, which streams them in chunks. Bounded by
 * count and bytes, so memory does not grow with the tree.
 */
import type { Entry, Skip } from './walk.js';
import { openSourceFile } from './open-source-file.js';
import { READ_CHUNK, readFileExactly } from './read-file.js';

/** Files up to this size are read whole, ahead of time. */
export const SMALL_FILE = READ_CHUNK;

export type Prepared =
  | { entry: Entry; data?: undefined }
  /** A small file, already read (its stat is the one taken at open time). */
  | { entry: Entry & { kind: 'file' }; data: Buffer };

export interface PrefetchOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  onBytes: (n: number) => void;
  /** Files read at once. */
  concurrency?: number;
  /** Bytes of read-ahead at most. */
  maxBytes?: number;
}

/** Reads one small file whole; undefined when it is skipped (reported through onSkip). */
async function readSmall(entry: Entry & { kind: 'file' }, options: PrefetchOptions): Promise<Prepared | undefined> {
  const opened = await openSourceFile(entry.absPath, options.onSkip);
  if (!opened) return undefined;
  const { handle, stat } = opened;
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of readFileExactly(handle, stat, entry.absPath, options)) chunks.push(chunk);
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, stat.size);
    return { entry: { ...entry, stat }, data };
  } finally {
    await handle.close();
  }
}

export async function* prefetch(entries: AsyncIterable<Entry>, options: PrefetchOptions): AsyncGenerator<Prepared> {
  const concurrency = options.concurrency ?? 16;
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  const iterator = entries[Symbol.asyncIterator]();
  const queue: Array<{ size: number; item: Promise<Prepared | undefined> }> = [];
  let queuedBytes = 0;
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && queue.length < concurrency && queuedBytes < maxBytes) {
        const next = await iterator.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        const entry = next.value;
        if (entry.kind === 'file' && entry.stat.size <= SMALL_FILE) {
          const item = readSmall(entry, options);
          // Awaited in order below; if the consumer stops early, no unhandled rejection.
          item.catch(() => undefined);
          queue.push({ size: entry.stat.size, item });
          queuedBytes += entry.stat.size;
        } else {
          queue.push({ size: 0, item: Promise.resolve({ entry }) });
        }
      }
      const head = queue.shift();
      if (!head) return;
      queuedBytes -= head.size;
      const prepared = await head.item;
      if (prepared) yield prepared;
    }
  } finally {
    // Let reads still in flight finish (they close their files) before the walk is closed.
    await Promise.allSettled(queue.map((q) => q.item));
    await iterator.return?.();
  }
}
