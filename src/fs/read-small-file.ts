/**
 * The one way this tool reads a small file that came from outside (the
 * settings file, a lock file, a sidecar beside a backup): opened without
 * blocking (a FIFO would wait for a writer forever, deaf to SIGTERM), and
 * with `noFollow` never through a symbolic link; checked to be a regular
 * file (not a FIFO, a device such as /dev/zero, a socket or a folder); read
 * to at most `maxBytes`, whatever its size claims. Callers turn a
 * `SmallFileError` into their own message and error code.
 */
import { constants, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import { errnoCode } from '../errors.js';

export class SmallFileError extends Error {
  constructor(
    readonly reason: 'symlink' | 'not-regular' | 'too-large' | 'errno',
    /** For `not-regular`: what it is, in words ("a FIFO (named pipe)"). For `too-large`: its size in bytes. */
    readonly detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(`${reason}: ${detail}`, options);
  }
}
SmallFileError.prototype.name = 'SmallFileError';

/** What a file that is not a regular file is, in words. */
export function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

export interface ReadSmallFileOptions {
  maxBytes: number;
  /** Refuse a symbolic link at the path (`reason: 'symlink'`) instead of following it. */
  noFollow?: boolean;
  /** Past maxBytes: keep the first maxBytes (a lock file) instead of refusing (`too-large`). */
  truncate?: boolean;
}

/**
 * The file's text and stat, or undefined when it does not exist. Other
 * failures are SmallFileErrors (`errno` keeps the cause, for describeErrno).
 */
export async function readSmallFile(file: string, options: ReadSmallFileOptions): Promise<{ text: string; stat: Stats } | undefined> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (options.noFollow ? constants.O_NOFOLLOW : 0);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, flags);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' && options.noFollow) throw new SmallFileError('symlink', 'a symbolic link', { cause: error });
    throw new SmallFileError('errno', code ?? 'error', { cause: error });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new SmallFileError('not-regular', fileKind(stat));
    if (stat.size > options.maxBytes && !options.truncate) throw new SmallFileError('too-large', String(stat.size));
    // One byte more than allowed tells a file that grew while being read.
    const buffer = Buffer.alloc(Math.min(stat.size, options.maxBytes) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > options.maxBytes) {
      if (!options.truncate) throw new SmallFileError('too-large', `${length} or more`);
      length = options.maxBytes;
    }
    return { text: buffer.toString('utf8', 0, length), stat };
  } catch (error) {
    if (error instanceof SmallFileError) throw error;
    throw new SmallFileError('errno', errnoCode(error) ?? 'error', { cause: error });
  } finally {
    await handle.close().catch(() => undefined);
  }
}
