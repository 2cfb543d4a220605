/**
 * Checks the wizard (and anything else interactive) runs on a path a user
 * typed: returns a sentence saying what is wrong, or undefined when fine.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeErrno, errnoCode } from '../errors.js';
import { expandHome } from './expand-home.js';

/**
 * What is wrong with a path as text, before it is resolved: empty or only
 * spaces (an unset shell variable: `-s "$DIR"` would otherwise mean the
 * working folder), or a NUL byte (no file system takes one). `what` names
 * where it came from (`--source`, `sources[0]`, "The destination").
 * Leading or trailing spaces around a real name are legal and kept.
 */
export function checkPathText(value: string, what: string): string | undefined {
  const problem = pathTextProblem(value);
  return problem === undefined ? undefined : `${what}: ${problem}`;
}

/** checkPathText's problem without the "where" (the settings schema adds its JSON path). */
export function pathTextProblem(value: string): string | undefined {
  if (value.trim() === '') return `the path is ${value === '' ? 'empty' : 'only spaces'} (an unset shell variable?); give a file or folder path`;
  if (value.includes('\0')) return 'the path contains a NUL byte, which no file system accepts';
  return undefined;
}

/** The options that take a path, by commander's attribute name, and how the user wrote them. */
const PATH_OPTIONS: ReadonlyArray<readonly [string, string]> = [
  ['config', '--config'],
  ['source', '--source'],
  ['dest', '--dest'],
  ['logFile', '--log-file'],
  ['to', '--to'],
];

/** The positional arguments that take a path, by name. */
const PATH_ARGUMENTS: ReadonlySet<string> = new Set(['archive']);

/**
 * The first problem with the paths given on a command line (options by
 * commander's attribute name, positional arguments by their declared name),
 * or undefined. Used by the program for every command, so no command can
 * forget one.
 */
export function checkPathArguments(options: Record<string, unknown>, args: ReadonlyArray<readonly [string, unknown]> = []): string | undefined {
  for (const [key, flag] of PATH_OPTIONS) {
    const value = options[key];
    for (const item of Array.isArray(value) ? value : [value]) {
      if (typeof item !== 'string') continue;
      const problem = checkPathText(item, flag);
      if (problem) return problem;
    }
  }
  for (const [name, value] of args) {
    if (!PATH_ARGUMENTS.has(name) || typeof value !== 'string') continue;
    const problem = checkPathText(value, `the ${name} argument`);
    if (problem) return problem;
  }
  return undefined;
}

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
