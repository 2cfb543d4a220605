/**
 * The progress bar on stderr: bytes and files done, rate and ETA. Only in a
 * terminal; redraws at most ~8 times a second (cli-progress throttles), and
 * the updates in between (one per file and per chunk read: tens of
 * thousands on a tree of small files) are dropped before any formatting.
 * Measured with bench/progress.mjs (bench/RESULTS-progress.md).
 */
import cliProgress from 'cli-progress';
import type { ProgressUpdate } from '../backup/run-backup.js';
import type { TtyWritable } from './io.js';
import { formatBytes } from './format-bytes.js';

export interface ProgressBar {
  update(update: ProgressUpdate): void;
  stop(): void;
}

/** Updates closer together than this are dropped (the bar redraws every 125 ms). */
const UPDATE_INTERVAL_MS = 50;

export function createProgressBar(stream: TtyWritable): ProgressBar {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ' {bar} {percentage}% | {done} of {totalSize} | {files} files | {rate}/s{s3} | ETA {eta_formatted}',
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      hideCursor: true,
      clearOnComplete: true,
      fps: 8,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const startTime = Date.now();
  let lastUpdate = 0;
  return {
    update(update) {
      // The sources are counted alongside the backup: the bar appears once the total is known.
      if (update.totalBytes === undefined) return;
      const now = Date.now();
      if (started && now - lastUpdate < UPDATE_INTERVAL_MS) return;
      lastUpdate = now;
      const total = Math.max(update.totalBytes ?? 0, update.bytes, 1);
      const seconds = Math.max((now - startTime) / 1000, 0.001);
      const payload = {
        done: formatBytes(update.bytes),
        totalSize: formatBytes(total),
        files: update.totalFiles !== undefined ? `${update.files}/${update.totalFiles}` : String(update.files),
        rate: formatBytes(Math.round(update.bytes / seconds)),
        s3:
          update.uploadedBytes !== undefined
            ? ` | S3 ${formatBytes(update.uploadedBytes)} sent, ${formatBytes(Math.round(update.uploadedBytes / seconds))}/s`
            : '',
      };
      if (!started) {
        bar.start(total, update.bytes, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(update.bytes, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
