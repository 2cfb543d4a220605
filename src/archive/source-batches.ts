/**
 * The main thread's side of the source reader: starts the worker
 * (source-reader-worker.ts) and hands its batches on, in order, as an async
 * iterable. Taking a batch makes room for the worker to read another (at
 * most MAX_IN_FLIGHT are waiting). Ending early (cancellation, a failed
 * destination) tells the worker to stop and waits for it, so no file is left
 * open. Errors from the worker keep their errno `code`.
 *
 * Run from the TypeScript sources (vitest), the worker is the built one in
 * dist/ (worker-file.ts): there is no second, main-thread code path.
 */
import { Worker } from 'node:worker_threads';
import type { Batch, ReaderOptions } from './source-reader.js';
import { CONTROL_BYTES, IN_FLIGHT, STOP, deserializeError, type ReaderMessage } from './source-reader-protocol.js';
import { workerFile } from './worker-file.js';

const YOUNG_MB = 8;

/** The batches of `options.sources`, encoded for `options.mode` by the worker (source-reader-worker.ts). */
export async function* sourceBatches(options: ReaderOptions, signal?: AbortSignal): AsyncGenerator<Batch, void> {
  signal?.throwIfAborted();
  const file = workerFile('./source-reader-worker.js', import.meta.url);
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const shared = new Int32Array(control);
  // A small young generation: the reader's garbage (stats, entries, names) is collected
  // early instead of growing each isolate's heap by tens of MB (the peak RSS counts all).
  const worker = new Worker(file, { workerData: { options, control }, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB } });
  const queue: ReaderMessage[] = [];
  let failure: Error | undefined;
  let exited = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (message: ReaderMessage) => {
    queue.push(message);
    notify();
  });
  worker.on('error', (error) => {
    failure ??= error;
    notify();
  });
  worker.once('exit', () => {
    exited = true;
    notify();
  });
  signal?.addEventListener('abort', notify);
  try {
    for (;;) {
      signal?.throwIfAborted();
      const message = queue.shift();
      if (!message) {
        if (failure) throw failure;
        if (exited) throw new Error('the source reader thread stopped without finishing');
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (message.type === 'done') return;
      if (message.type === 'error') throw deserializeError(message.error);
      Atomics.sub(shared, IN_FLIGHT, 1);
      Atomics.notify(shared, IN_FLIGHT);
      yield message.batch;
    }
  } finally {
    signal?.removeEventListener('abort', notify);
    if (!exited) {
      Atomics.store(shared, STOP, 1);
      // A value the worker is not waiting on: a wait that starts after this returns at once.
      Atomics.store(shared, IN_FLIGHT, -1_000_000);
      Atomics.notify(shared, IN_FLIGHT);
      await exit;
    }
  }
}
