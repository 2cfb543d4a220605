/**
 * Opens a file found by the walk for reading, safely:
 * - O_NOFOLLOW: a file swapped for a symlink after the walk is not followed;
 * - O_NONBLOCK: a file swapped for a FIFO does not hang the open;
 * - fstat after open: what we read is what we describe in the header.
 * Returns undefined (and reports a skip) when the file cannot be read.
 */
import fs from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { describeErrno } from '../errors.js';
import type { Skip } from './walk.js';

const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

export async function openSourceFile(
  absPath: string,
  onSkip: (skip: Skip) => void,
): Promise<{ handle: fs.FileHandle; stat: Stats } | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(absPath, FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    onSkip({ path: absPath, reason: code === 'ENOENT' ? 'vanished while the backup ran' : describeErrno(error) });
    return undefined;
  }
  let stat: Stats;
  try {
    stat = await handle.stat();
  } catch (error) {
    await handle.close();
    onSkip({ path: absPath, reason: describeErrno(error) });
    return undefined;
  }
  if (!stat.isFile()) {
    await handle.close();
    onSkip({ path: absPath, reason: 'changed into something other than a regular file while the backup ran' });
    return undefined;
  }
  return { handle, stat };
}
