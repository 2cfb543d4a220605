/**
 * Worker threads that encode batches of small zip entries
 * (zip-deflate-batch.ts), one per core: the deflating of many small files,
 * with no per-file round trip through the thread pool and the event loop.
 * Each job goes to the worker with the fewest jobs outstanding; results come
 * back as promises, which the writer awaits in archive order. Workers hold
 * no files or other state, so closing the pool just terminates them.
 *
 * Run from the TypeScript sources (vitest), the workers are the built ones
 * in dist/ (worker-file.ts): there is no second, main-thread code path.
 */
import { Worker } from 'node:worker_threads';
import type { DeflateJob, DeflateResult } from './zip-deflate-batch.js';
import { workerFile } from './worker-file.js';

/** As for the source reader (source-batches.ts): garbage collected early, the peak RSS stays down. */
const YOUNG_GENERATION_MB = 8;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (result: DeflateResult) => void; reject: (error: Error) => void }>;
}

export class ZipDeflatePool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(size: number) {
    const file = workerFile('./zip-deflate-worker.js', import.meta.url);
    for (let i = 0; i < Math.max(1, size); i++) {
      const slot: Slot = { worker: new Worker(file, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }), pending: new Map() };
      slot.worker.on('message', ({ id, result }: { id: number; result: DeflateResult }) => {
        const waiter = slot.pending.get(id);
        slot.pending.delete(id);
        waiter?.resolve(result);
      });
      const fail = (error: Error): void => {
        this.failure ??= error;
        for (const waiter of slot.pending.values()) waiter.reject(error);
        slot.pending.clear();
      };
      slot.worker.on('error', fail);
      slot.worker.on('exit', (code) => fail(new Error(`a zip deflate worker stopped (exit code ${code})`)));
      this.slots.push(slot);
    }
  }

  /** Encodes `job`; its data buffer is transferred to the worker (unusable here afterwards). */
  run(job: DeflateJob): Promise<DeflateResult> {
    if (this.failure) return Promise.reject(this.failure);
    let slot = this.slots[0]!;
    for (const candidate of this.slots) if (candidate.pending.size < slot.pending.size) slot = candidate;
    const id = this.nextId++;
    return new Promise<DeflateResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, job }, [job.data]);
    });
  }

  async close(): Promise<void> {
    const closed = new Error('the zip deflate pool was closed');
    for (const slot of this.slots) {
      slot.worker.removeAllListeners('exit');
      for (const waiter of slot.pending.values()) waiter.reject(closed);
      slot.pending.clear();
    }
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
  }
}
