/**
 * Reads exactly the size a file had when it was opened, in bounded chunks,
 * for both archive writers. A tar header states the size up front, and a
 * zip entry should be the same snapshot, so:
 * - a file that shrinks is padded with zeros and reported (its content in
 *   the archive is not what was on disk: a per-file problem, exit 3);
 * - a file that grows or is modified while being read is stored with its
 *   first `size` bytes and a warning, as GNU tar's "file changed as we read it";
 * - special files that claim size 0 (/proc, /sys) are stored empty instead of
 *   being read forever.
 */
import type fs from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { Skip } from './walk.js';

export const READ_CHUNK = 1024 * 1024;

export interface ReadFileOptions {
  onSkip: (skip: Skip) => void;
  onWarning: (message: string) => void;
  /** Called with the number of bytes read, as they are read. */
  onBytes: (n: number) => void;
}

export async function* readFileExactly(
  handle: fs.FileHandle,
  stat: Stats,
  absPath: string,
  options: ReadFileOptions,
): AsyncGenerator<Buffer> {
  let remaining = stat.size;
  while (remaining > 0) {
    const want = Math.min(READ_CHUNK, remaining);
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buffer, 0, want, null);
    if (bytesRead === 0) {
      options.onSkip({ path: absPath, reason: `changed while being read (shrank by ${remaining} bytes); stored padded with zeros` });
      options.onBytes(remaining);
      yield Buffer.alloc(remaining);
      return;
    }
    remaining -= bytesRead;
    options.onBytes(bytesRead);
    yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
  }
  const after = await handle.stat();
  if (after.size !== stat.size || after.mtimeMs !== stat.mtimeMs) {
    options.onWarning(
      `${absPath} changed while it was being read (now ${after.size} bytes); the archive holds its first ${stat.size} bytes, which may mix old and new content.`,
    );
  }
}
