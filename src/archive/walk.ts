/**
 * The walker (walk-sync.ts) on the main thread, where it must not hold the
 * event loop: `walk` for the dry run and `countSources` for the progress
 * bar's totals. Both run the same `walkSync` as the real run, in short
 * slices between which the event loop runs (Ctrl-C, progress, the backup
 * itself), so what they report is what the run stores.
 */
import { walkSync, type Entry, type Skip, type WalkOptions } from './walk-sync.js';

export { byteOrder, inodeKey, makeExcluder, specialKind, toPosix, utf8Names, type Entry, type Skip } from './walk-sync.js';

export interface AsyncWalkOptions extends WalkOptions {
  signal?: AbortSignal;
}

/**
 * Between slices of the walk (walkSync's `undefined`, every 256 names, ~0.3 ms
 * of lstat). A promise per lstat instead, as an fs/promises walk needs, made
 * the count cost ~7% of a small-file backup's CPU.
 */
const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Every entry the run would store, in the same order, with the same skips. */
export async function* walk(options: AsyncWalkOptions): AsyncGenerator<Entry> {
  const { signal } = options;
  signal?.throwIfAborted();
  for (const entry of walkSync(options)) {
    if (entry) yield entry;
    else {
      await pause();
      signal?.throwIfAborted();
    }
  }
}

/**
 * Files and bytes the run would store, for the progress bar's total only
 * (it runs alongside the backup). Unreadable parts are left out silently:
 * the backup itself reports them.
 */
export async function countSources(options: Omit<AsyncWalkOptions, 'onSkip'>): Promise<{ files: number; bytes: number }> {
  const { signal } = options;
  signal?.throwIfAborted();
  let files = 0;
  let bytes = 0;
  // The generator directly, not walk(): no promise per entry.
  for (const entry of walkSync({ ...options, onSkip: () => undefined })) {
    if (!entry) {
      await pause();
      signal?.throwIfAborted();
    } else if (entry.kind === 'file') {
      files += 1;
      bytes += entry.stat.size;
    }
  }
  return { files, bytes };
}
