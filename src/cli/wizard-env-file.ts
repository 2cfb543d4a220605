/**
 * The wizard keeps secrets (a Slack webhook URL, an SMTP password) in ./.env,
 * never in settings.json. Setting a key replaces only that key's line (and
 * drops later repeats of it); every other line, comments included, is kept.
 * The file is written whole to a fresh temporary file with mode 0600 (it
 * holds secrets) in the same folder and renamed over .env, so a crash
 * leaves the old file or the new one. A .env that is a link, a FIFO or a
 * folder is refused, never written through.
 */
import fs from 'node:fs/promises';
import { writeFileAtomic } from '../fs/write-atomic.js';
import dotenv from 'dotenv';
import { ConfigError, describeErrno, errnoCode } from '../errors.js';

const MAX_ENV_BYTES = 1024 * 1024;

/** `KEY=value` as dotenv reads it back unchanged; undefined when no quoting can carry the value. */
export function envLine(key: string, value: string): string | undefined {
  if (/[\r\n]/.test(value)) return undefined;
  for (const quote of [`'`, '`', '"']) {
    if (value.includes(quote)) continue;
    const line = `${key}=${quote}${value}${quote}`;
    if (dotenv.parse(line)[key] === value) return line;
  }
  return undefined;
}

/** The text of `.env` with `values` set: their lines replaced in place (or appended), every other line kept. */
export function setEnvText(text: string, values: Record<string, string>): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  const done = new Set<string>();
  const out: string[] = [];
  for (const line of lines) {
    const key = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=/.exec(line)?.[1];
    if (key !== undefined && key in values) {
      if (done.has(key)) continue;
      done.add(key);
      out.push(envLineOrThrow(key, values[key]!));
    } else out.push(line);
  }
  for (const [key, value] of Object.entries(values)) if (!done.has(key)) out.push(envLineOrThrow(key, value));
  return `${out.join('\n')}\n`;
}

function envLineOrThrow(key: string, value: string): string {
  const line = envLine(key, value);
  if (line === undefined) {
    throw new ConfigError('.env', `the value of ${key} has a line break or every kind of quote, so a .env file cannot hold it; set ${key} in the environment instead`);
  }
  return line;
}

/** Sets `values` in the .env file `file` (see the module comment); returns what the file held before (every key). */
export async function setEnvValues(file: string, values: Record<string, string>): Promise<Record<string, string>> {
  let text = '';
  try {
    const stat = await fs.lstat(file);
    if (!stat.isFile()) throw new ConfigError(file, 'is not a regular file (a link, a FIFO or a folder); the wizard does not write through it. Move it away or set the variables in the environment');
    if (stat.size > MAX_ENV_BYTES) throw new ConfigError(file, 'is larger than 1 MiB; not rewritten');
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (errnoCode(error) !== 'ENOENT') throw new ConfigError(file, `cannot be read: ${describeErrno(error)}`, { cause: error });
  }
  const next = setEnvText(text, values);
  try {
    await writeFileAtomic(file, next, 0o600);
  } catch (error) {
    throw new ConfigError(file, `cannot be written: ${describeErrno(error)}`, { cause: error });
  }
  return dotenv.parse(text);
}
