/**
 * Creates a folder and its missing parents with exactly `mode` (0o755,
 * 0o700), whatever the umask: mkdir's mode is masked by the umask, and the
 * default 0o777 under umask 000 gives every user write access. Folders that
 * exist already are left as they are. One level at a time, never Node's
 * recursive mkdir (which loops forever under /proc on Node 20).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../errors.js';

export async function makeFolders(dir: string, mode: number): Promise<void> {
  const missing: string[] = [];
  for (let probe = path.resolve(dir); ; ) {
    try {
      await fs.stat(probe);
      break; // exists: mkdir below says ENOTDIR/EEXIST if it is not a folder
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      missing.push(probe);
      const parent = path.dirname(probe);
      if (parent === probe) break;
      probe = parent;
    }
  }
  for (const folder of missing.reverse()) {
    try {
      await fs.mkdir(folder, { mode });
    } catch (error) {
      // Made by someone else meanwhile: theirs, with their mode.
      if (errnoCode(error) === 'EEXIST' && (await fs.lstat(folder)).isDirectory()) continue;
      throw error;
    }
    await fs.chmod(folder, mode);
  }
}
