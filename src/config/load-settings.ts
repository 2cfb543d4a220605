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
import { SettingsSchema, describeIssue, type Settings } from './schema.js';

export const DEFAULT_SETTINGS_FILE = path.join('config', 'settings.json');
const MAX_SETTINGS_BYTES = 1024 * 1024;

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

/** Parses JSON, turning V8's "at position N" into "line L, column C". */
export function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/.exec(message);
    let where = '';
    if (position) {
      const { line, column } = lineColumn(text, Number(position[1]));
      where = ` at line ${line}, column ${column}`;
    } else if (/Unexpected end of JSON input/.test(message)) {
      where = ' at the end of the file (is a closing } or ] missing?)';
    }
    throw new ConfigError(file, `not valid JSON${where}: ${message.replace(/ in JSON at position \d+.*$/, '')}`, { cause: error });
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

/** Reads and validates the file; paths are checked separately (checkSettingsPaths), once flags are known. */
export async function loadSettings(file: string): Promise<Settings> {
  let text: string;
  try {
    const handle = await fs.open(file, 'r');
    try {
      const stat = await handle.stat();
      if (stat.isDirectory()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
      if (stat.size > MAX_SETTINGS_BYTES) throw new ConfigError(file, `is ${stat.size} bytes; a settings file is at most 1 MiB`);
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = errnoCode(error);
    throw new ConfigError(
      file,
      code === 'ENOENT'
        ? 'settings file not found (run `npx backup` to create one, or check the --config path)'
        : `cannot read the settings file: ${describeErrno(error)}`,
      { cause: error },
    );
  }
  return validateSettings(parseJson(text, file), file);
}
