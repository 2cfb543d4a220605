/**
 * Checks the wizard (and anything else interactive) runs on a path a user
 * typed: returns a sentence saying what is wrong, or undefined when fine.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeErrno, errnoCode } from '../errors.js';
import { expandHome } from './expand-home.js';

export function resolveUserPath(input: string, cwd: string, home: string): string {
  return path.resolve(cwd, expandHome(input.trim(), home));
}

export async function checkSource(input: string, cwd: string, home: string): Promise<string | undefined> {
  if (input.trim() === '') return 'Enter the path of a file or folder to back up.';
  const abs = resolveUserPath(input, cwd, home);
  let stat;
  try {
    stat = await fs.stat(abs);
  } catch (error) {
    return errnoCode(error) === 'ENOENT' ? `${abs} does not exist.` : `${abs} cannot be used: ${describeErrno(error)}.`;
  }
  if (!stat.isFile() && !stat.isDirectory()) return `${abs} is not a regular file or folder (a FIFO, socket or device cannot be backed up).`;
  try {
    await fs.access(abs, stat.isDirectory() ? fs.constants.R_OK | fs.constants.X_OK : fs.constants.R_OK);
  } catch (error) {
    return `${abs} is not readable: ${describeErrno(error)}.`;
  }
  return undefined;
}

/** The destination must be a writable folder, or creatable inside one. */
export async function checkDestination(
  input: string,
  cwd: string,
  home: string,
  sources: readonly string[] = [],
): Promise<string | undefined> {
  if (input.trim() === '') return 'Enter a destination folder.';
  const abs = resolveUserPath(input, cwd, home);
  if (sources.includes(abs)) return `${abs} is also a source; choose a folder outside it.`;
  let probe = abs;
  for (;;) {
    try {
      const stat = await fs.stat(probe);
      if (!stat.isDirectory()) {
        return probe === abs ? `${abs} exists and is not a folder.` : `${abs} cannot be created: ${probe} is not a folder.`;
      }
      await fs.access(probe, fs.constants.W_OK | fs.constants.X_OK);
      return undefined;
    } catch (error) {
      const code = errnoCode(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        return probe === abs
          ? `Cannot write to ${abs}: ${describeErrno(error)}.`
          : `${abs} cannot be created in ${probe}: ${describeErrno(error)}.`;
      }
      const parent = path.dirname(probe);
      if (parent === probe) return `${abs} cannot be created.`;
      probe = parent;
    }
  }
}

export async function fileExists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}
