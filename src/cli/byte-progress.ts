/**
 * A progress bar for reading an archive (verify, restore): bytes read of
 * the archive's size, rate, ETA. Only in a terminal; cli-progress redraws
 * at most a few times a second.
 */
import cliProgress from 'cli-progress';
import type { TtyWritable } from './io.js';
import { formatBytes } from './format-bytes.js';

export interface ByteProgress {
  update(bytes: number, total?: number): void;
  stop(): void;
}

export function createByteProgress(stream: TtyWritable, label: string): ByteProgress | undefined {
  if (stream.isTTY !== true) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: ` ${label.length > 48 ? `${label.slice(0, 47)}…` : label} {bar} {percentage}% | {done}{of} | {rate}/s`,
      barCompleteChar: '\u2588',
      barIncompleteChar: '\u2591',
      hideCursor: true,
      clearOnComplete: true,
      fps: 8,
    },
    cliProgress.Presets.shades_classic,
  );
  const startTime = Date.now();
  let started = false;
  let stopped = false;
  return {
    update(bytes, total) {
      if (stopped) return;
      const seconds = Math.max((Date.now() - startTime) / 1000, 0.001);
      const payload = { done: formatBytes(bytes), of: total ? ` of ${formatBytes(total)}` : '', rate: formatBytes(Math.round(bytes / seconds)) };
      const size = Math.max(total ?? bytes, bytes, 1);
      if (!started) {
        bar.start(size, bytes, payload);
        started = true;
      } else {
        bar.setTotal(size);
        bar.update(bytes, payload);
      }
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
