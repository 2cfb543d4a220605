/**
 * A progress bar for reading an archive (verify, restore): bytes read of
 * the archive's size, rate, ETA, fitted to the terminal's width
 * (progress-line.ts). Only in a terminal.
 */
import type { TtyWritable } from './io.js';
import { formatBytes, formatDuration } from './format-bytes.js';
import { formatProgressLine, ProgressLine, type ProgressParts } from './progress-line.js';

export interface ByteProgress {
  update(bytes: number, total?: number): void;
  stop(): void;
}

/** The parts of the line, `seconds` after the start. Pure. */
export function byteProgressParts(label: string, bytes: number, total: number | undefined, seconds: number): ProgressParts {
  const rate = bytes / Math.max(seconds, 0.001);
  const size = Math.max(total ?? bytes, bytes, 1);
  return {
    label,
    fraction: bytes / size,
    done: formatBytes(bytes),
    total: total ? formatBytes(total) : undefined,
    rate: `${formatBytes(Math.round(rate))}/s`,
    eta: total && rate > 0 && seconds >= 1 ? formatDuration(((size - bytes) / rate) * 1000) : undefined,
  };
}

export function createByteProgress(stream: TtyWritable, label: string): ByteProgress | undefined {
  if (stream.isTTY !== true) return undefined;
  const startTime = Date.now();
  let latest = { bytes: 0, total: undefined as number | undefined };
  const line = new ProgressLine(stream, (width) =>
    formatProgressLine(byteProgressParts(label, latest.bytes, latest.total, (Date.now() - startTime) / 1000), width),
  );
  return {
    update(bytes, total) {
      latest = { bytes, total };
      line.update();
    },
    stop() {
      line.stop();
    },
  };
}
