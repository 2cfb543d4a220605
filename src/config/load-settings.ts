/**
 * Reads and validates settings.json. The file is either accepted whole or
 * refused with the file name and the JSON path (or line:column) of the
 * first problem; never half-applied.
 */
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expandHome } from './expand-home.js';
import { ConfigError, describeErrno, errnoCode } from '../errors.js';
import { SmallFileError, readSmallFile } from '../fs/read-small-file.js';
import { SettingsSchema, describeIssue, type Settings } from './schema.js';
import { locateJsonError } from './json-error.js';

export const DEFAULT_SETTINGS_FILE = path.join('config', 'settings.json');
export const MAX_SETTINGS_BYTES = 1024 * 1024;

/** The settings file to read: the one given, else config/settings.json when it exists. */
export function findSettingsFile(given: string | undefined, cwd: string): string | undefined {
  if (given !== undefined) return path.resolve(cwd, given);
  const fallback = path.resolve(cwd, DEFAULT_SETTINGS_FILE);
  return existsSync(fallback) ? fallback : undefined;
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Parses JSON; a problem is reported by line and column with what was
 * expected there, never with the text itself (V8's messages quote it, and a
 * settings path may be a symlink to someone's secret).
 */
export function parseJson(text: string, file: string): unknown {
  const body = text.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(body);
  } catch {
    const found = locateJsonError(body);
    let where = '';
    if (found) {
      const { line, column } = lineColumn(body, found.offset);
      where = found.offset >= body.length ? ` at the end of the file (line ${line}): ${found.problem}` : ` at line ${line}, column ${column}: ${found.problem}`;
    }
    // V8's error is not kept as the cause: its message quotes the text, and causes reach the log.
    throw new ConfigError(file, `not valid JSON${where}`);
  }
}

/** Validates parsed JSON against the schema. Paths in the settings stay as written. */
export function validateSettings(data: unknown, file: string): Settings {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(file, 'expected a JSON object ({ ... }) at the top level');
  }
  const parsed = SettingsSchema.safeParse(data);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ConfigError(file, describeIssue(first, data));
  }
  return parsed.data;
}

/**
 * Checks that what the settings point at exists, with JSON paths in the
 * message (`sources[1]: path does not exist`). Relative paths are resolved
 * against `cwd`. Only the values that are used are checked: a flag that
 * overrides a setting makes the file's value irrelevant.
 */
export async function checkSettingsPaths(
  settings: Settings,
  file: string,
  cwd: string,
  home: string,
  used: { sources: boolean; destination: boolean } = { sources: true, destination: true },
): Promise<void> {
  for (const [index, source] of (used.sources ? (settings.sources ?? []) : []).entries()) {
    const abs = path.resolve(cwd, expandHome(source, home));
    try {
      await fs.stat(abs);
    } catch (error) {
      const why = errnoCode(error) === 'ENOENT' ? 'path does not exist' : describeErrno(error);
      throw new ConfigError(file, `sources[${index}]: ${why} (${abs})`, { cause: error });
    }
  }
  if (used.destination && settings.destination !== undefined) {
    const abs = path.resolve(cwd, expandHome(settings.destination, home));
    const stat = await fs.stat(abs).catch(() => undefined);
    if (stat && !stat.isDirectory()) throw new ConfigError(file, `destination: ${abs} exists and is not a folder`);
  }
}

/**
 * The settings file's text. Opened without blocking (a FIFO would wait for
 * a writer forever, deaf to SIGTERM), checked to be a regular file (not a
 * FIFO, a device such as /dev/zero, a socket or a folder) and read to at
 * most MAX_SETTINGS_BYTES, whatever its size claims.
 */
export async function readSettingsText(file: string): Promise<string> {
  let read;
  try {
    read = await readSmallFile(file, { maxBytes: MAX_SETTINGS_BYTES });
  } catch (error) {
    if (!(error instanceof SmallFileError)) throw error;
    if (error.reason === 'not-regular' && error.detail === 'a folder') {
      throw new ConfigError(file, `cannot read the settings file: ${describeErrno(Object.assign(new Error('is a folder'), { code: 'EISDIR' }))}`);
    }
    if (error.reason === 'not-regular') throw new ConfigError(file, `not a regular file (it is ${error.detail}); give the path of a settings.json file`);
    if (error.reason === 'too-large') throw new ConfigError(file, `is ${error.detail} bytes; a settings file is at most 1 MiB`);
    throw new ConfigError(file, `cannot read the settings file: ${describeErrno(error.cause)}`, { cause: error.cause });
  }
  if (read === undefined) {
    throw new ConfigError(file, 'settings file not found (run `npx backup` to create one, or check the --config path)');
  }
  return read.text;
}


/** Reads and validates the file; paths are checked separately (checkSettingsPaths), once flags are known. */
export async function loadSettings(file: string): Promise<Settings> {
  return validateSettings(parseJson(await readSettingsText(file), file), file);
}
