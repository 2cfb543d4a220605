/**
 * The worker thread of the source reader: runs `readSources` with the
 * format's entry encoder (tar-writer.ts, zip-writer.ts) and posts each
 * batch to the main thread, its buffer transferred (no copy). Backpressure:
 * at most MAX_IN_FLIGHT batches are posted and not yet taken; the main
 * thread counts them down in a shared Int32Array and wakes this thread with
 * Atomics.notify, so memory stays flat however fast the disk is. The same
 * array carries the stop request (cancellation, or the consumer is gone):
 * the reader then closes its open file and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readSources, type EntryEncoder, type ReaderOptions } from './source-reader.js';
import { IN_FLIGHT, MAX_IN_FLIGHT, STOP, serializeError, type ReaderMessage } from './source-reader-protocol.js';

const { options, control } = workerData as { options: ReaderOptions; control: SharedArrayBuffer };
const shared = new Int32Array(control);
const port = parentPort!;
// Only the format's own writer is loaded here (the zip writer brings its deflate pool's modules).
const encoder: EntryEncoder = options.mode === 'tar' ? (await import('./tar-writer.js')).tarEncoder() : (await import('./zip-writer.js')).zipEncoder();

function post(message: ReaderMessage, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** Waits until the main thread has room for another batch; false when asked to stop. */
function waitForRoom(): boolean {
  for (;;) {
    if (Atomics.load(shared, STOP) !== 0) return false;
    const inFlight = Atomics.load(shared, IN_FLIGHT);
    if (inFlight < MAX_IN_FLIGHT) return true;
    Atomics.wait(shared, IN_FLIGHT, inFlight);
  }
}

try {
  let stopped = false;
  for (const batch of readSources(options, encoder)) {
    Atomics.add(shared, IN_FLIGHT, 1);
    post({ type: 'batch', batch }, [batch.data]);
    if (!waitForRoom()) {
      stopped = true;
      break;
    }
  }
  if (!stopped) post({ type: 'done' });
} catch (error) {
  post({ type: 'error', error: serializeError(error) });
}
