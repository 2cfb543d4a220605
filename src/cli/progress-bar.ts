/**
 * The progress bar of `backup run` on stderr: bytes and files done, rate
 * and ETA, fitted to the terminal's width (progress-line.ts). Only in a
 * terminal; updates closer together than UPDATE_INTERVAL_MS (one per file
 * and per chunk read: tens of thousands on a tree of small files) are
 * dropped before any formatting. Measured with bench/progress.mjs
 * (bench/RESULTS-progress.md).
 */
import type { ProgressUpdate } from '../backup/run-backup.js';
import type { TtyWritable } from './io.js';
import { formatBytes, formatDuration } from './format-bytes.js';
import { formatProgressLine, ProgressLine, type ProgressParts } from './progress-line.js';

export interface ProgressBar {
  update(update: ProgressUpdate): void;
  stop(): void;
}

/** Updates closer together than this are dropped (the line redraws every 125 ms). */
const UPDATE_INTERVAL_MS = 50;

/** The parts of the line for one update, `seconds` after the start. Pure. */
export function runProgressParts(update: ProgressUpdate, seconds: number): ProgressParts {
  const total = Math.max(update.totalBytes ?? 0, update.bytes, 1);
  const rate = update.bytes / Math.max(seconds, 0.001);
  return {
    fraction: update.bytes / total,
    done: formatBytes(update.bytes),
    total: formatBytes(total),
    files: `${update.totalFiles !== undefined ? `${update.files}/${update.totalFiles}` : String(update.files)} files`,
    rate: `${formatBytes(Math.round(rate))}/s`,
    eta: rate > 0 && seconds >= 1 ? formatDuration(((total - update.bytes) / rate) * 1000) : undefined,
    extra:
      update.uploadedBytes !== undefined
        ? `S3 ${formatBytes(update.uploadedBytes)} sent, ${formatBytes(Math.round(update.uploadedBytes / Math.max(seconds, 0.001)))}/s`
        : undefined,
  };
}

export function createProgressBar(stream: TtyWritable): ProgressBar {
  const startTime = Date.now();
  let lastUpdate = 0;
  let latest: ProgressUpdate | undefined;
  const line = new ProgressLine(stream, (width) => formatProgressLine(runProgressParts(latest!, (Date.now() - startTime) / 1000), width));
  return {
    update(update) {
      // The sources are counted alongside the backup: the bar appears once the total is known.
      if (update.totalBytes === undefined) return;
      const now = Date.now();
      if (latest && now - lastUpdate < UPDATE_INTERVAL_MS) return;
      lastUpdate = now;
      latest = update;
      line.update();
    },
    stop() {
      line.stop();
    },
  };
}
