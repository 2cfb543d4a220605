/**
 * A zip deflate worker: encodes the batches it is sent (zip-deflate-batch.ts)
 * and posts the results back, buffers transferred.
 */
import { parentPort } from 'node:worker_threads';
import { deflateBatch, resultTransfers, type DeflateJob } from './zip-deflate-batch.js';

const port = parentPort!;
port.on('message', ({ id, job }: { id: number; job: DeflateJob }) => {
  const result = deflateBatch(job);
  // The input goes back too: left here as garbage, ~1 MiB a job would pile up
  // until this small heap's next collection (tens of MB per worker).
  port.postMessage({ id, result, input: job.data }, [...resultTransfers(result), job.data]);
});
