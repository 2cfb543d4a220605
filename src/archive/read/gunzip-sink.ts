/**
 * Gzip decompression that reads its input to the end, whatever follows the
 * gzip data.
 *
 * zlib stops at the end of the last gzip member and ignores what comes after
 * it; inside a pipeline that ending tore the whole read down (an AbortError,
 * once reported as "Cancelled"). Here the compressed bytes are written into
 * the gunzip by hand (each write waits until zlib has taken it: the reader of
 * `output` sets the pace), so the input is always read to its end and hashed
 * whole. What follows the gzip data must be zeros (what `bsdtar -czf -`
 * pads its output with, and what gzip itself ignores); anything else is
 * damage, reported with where it starts.
 */
import zlib from 'node:zlib';
import { Writable } from 'node:stream';
import { CorruptArchiveError } from './archive-entry.js';

export interface GunzipSink {
  /** Where the compressed bytes go (the end of a pipeline). */
  input: Writable;
  /** The decompressed bytes. */
  output: zlib.Gunzip;
}

function firstNonZero(chunk: Buffer, from: number): number {
  for (let i = from; i < chunk.length; i++) if (chunk[i] !== 0) return i;
  return -1;
}

export function gunzipSink(): GunzipSink {
  const output = zlib.createGunzip({ chunkSize: 256 * 1024 });
  let written = 0;
  const input = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      const start = written;
      written += chunk.length;
      output.write(chunk, (error) => {
        if (error) return callback(error);
        // zlib has taken the whole chunk; whatever it did not consume lies after the gzip data.
        const consumed = output.bytesWritten;
        if (consumed < start + chunk.length) {
          const at = firstNonZero(chunk, Math.max(0, consumed - start));
          if (at >= 0) {
            return callback(
              new CorruptArchiveError(
                `the gzip data ends at byte ${consumed}, and what follows it is not zeros (from byte ${start + at}): something was appended to the archive, or it is damaged`,
              ),
            );
          }
        }
        callback();
      });
    },
    final(callback) {
      output.end(() => callback());
    },
    destroy(error, callback) {
      if (error) output.destroy(error);
      callback(error);
    },
  });
  // A gzip error reaches the reader of `output`; the writer side must stop too.
  output.on('error', (error) => input.destroy(error));
  return { input, output };
}
