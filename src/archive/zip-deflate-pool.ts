/**
 * Worker threads that encode batches of small zip entries
 * (zip-deflate-batch.ts), one per core: the deflating of many small files,
 * with no per-file round trip through the thread pool and the event loop.
 * Each job goes to the worker with the fewest jobs outstanding; results come
 * back as promises, which the writer awaits in archive order. Workers hold
 * no files or other state, so closing the pool just terminates them.
 *
 * Run from the TypeScript sources (vitest), there is no compiled worker file;
 * jobs are then encoded on this thread.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { deflateBatch, type DeflateJob, type DeflateResult } from './zip-deflate-batch.js';

/** As for the source reader (source-batches.ts): garbage collected early, the peak RSS stays down. */
const YOUNG_GENERATION_MB = 8;
const WORKER_FILE = fileURLToPath(new URL('./zip-deflate-worker.js', import.meta.url));

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (result: DeflateResult) => void; reject: (error: Error) => void }>;
}

export class ZipDeflatePool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private failure: Error | undefined;

  constructor(size: number) {
    if (!existsSync(WORKER_FILE)) return;
    for (let i = 0; i < Math.max(1, size); i++) {
      const slot: Slot = { worker: new Worker(WORKER_FILE, { resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } }), pending: new Map() };
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
    if (this.slots.length === 0) {
      try {
        return Promise.resolve(deflateBatch(job));
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
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
