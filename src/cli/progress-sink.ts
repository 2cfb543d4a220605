/**
 * Progress for a program rather than a person: with BACKUP_PROGRESS_FD=N in
 * the environment, `backup run`, `verify` and `restore` write one JSON object
 * per line to file descriptor N (the web UI reads it from its child
 * processes; a script can too):
 *
 *   {"type":"progress","phase":"backup","bytes":..,"totalBytes":..,"files":..,"totalFiles":..,"uploadedBytes":..,"seconds":..}
 *   {"type":"progress","phase":"verify","archive":"x.tar.gz","bytes":..,"totalBytes":..,"seconds":..}
 *
 * At most one line per INTERVAL_MS, and the last state when the phase ends.
 * Nothing here is a secret or a file name from the sources.
 */
import type { Writable } from 'node:stream';

export type ProgressPhase = 'backup' | 'verify' | 'restore';

export interface ProgressFields {
  bytes: number;
  totalBytes?: number;
  files?: number;
  totalFiles?: number;
  uploadedBytes?: number;
}

export interface ProgressSink {
  update(fields: ProgressFields): void;
  /** Writes the last state (if it was held back) and stops. */
  stop(): void;
}

export const INTERVAL_MS = 200;

export function createProgressSink(
  out: Writable | undefined,
  phase: ProgressPhase,
  extra: { archive?: string } = {},
  clock: () => number = Date.now,
): ProgressSink | undefined {
  if (!out) return undefined;
  const started = clock();
  let lastWrite = -Infinity;
  let pending: ProgressFields | undefined;
  let stopped = false;
  const write = (fields: ProgressFields): void => {
    lastWrite = clock();
    pending = undefined;
    if (out.destroyed || !out.writable) return;
    out.write(`${JSON.stringify({ type: 'progress', phase, ...extra, ...fields, seconds: (lastWrite - started) / 1000 })}\n`);
  };
  return {
    update(fields) {
      if (stopped) return;
      if (clock() - lastWrite >= INTERVAL_MS) write(fields);
      else pending = fields;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (pending) write(pending);
    },
  };
}
