/**
 * What the source reader's worker and the main thread say to each other
 * (source-reader-worker.ts, source-batches.ts).
 */
import type { Batch } from './source-reader.js';

/** Indexes into the shared Int32Array. */
export const IN_FLIGHT = 0;
export const STOP = 1;
export const CONTROL_BYTES = 2 * Int32Array.BYTES_PER_ELEMENT;
/** Batches (~0.5-1 MiB each) posted and not yet taken by the archive writer. */
export const MAX_IN_FLIGHT = 4;

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export type ReaderMessage =
  | { type: 'batch'; batch: Batch }
  | { type: 'done' }
  | { type: 'error'; error: SerializedError };

/** An error as data: structured cloning would drop `code`, `syscall` and `path`. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { code, errno, syscall, path } = error as NodeJS.ErrnoException;
  return { name: error.name, message: error.message, stack: error.stack, code, errno, syscall, path };
}

export function deserializeError(data: SerializedError): Error {
  const error = new Error(data.message) as NodeJS.ErrnoException;
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  if (data.code !== undefined) error.code = data.code;
  if (data.errno !== undefined) error.errno = data.errno;
  if (data.syscall !== undefined) error.syscall = data.syscall;
  if (data.path !== undefined) error.path = data.path;
  return error;
}
