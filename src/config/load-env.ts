/**
 * ./.env (AWS credentials kept out of settings.json), read as carefully as
 * the settings file: opened without blocking (a FIFO named .env hung every
 * command, deaf to SIGTERM), a regular file only, at most 1 MiB. Variables
 * already in the environment win. A .env that cannot be used is a warning,
 * not an error: a command that needs no credentials still runs, and one
 * that does says which are missing.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import dotenv from 'dotenv';
import { describeErrno, errnoCode } from '../errors.js';

const MAX_ENV_BYTES = 1024 * 1024;

/** Sets the variables of `file` that `env` does not have; returns a warning when the file is there but not used. */
export function loadDotEnv(file: string, env: NodeJS.ProcessEnv): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    return errnoCode(error) === 'ENOENT' ? undefined : `${file} was not read: ${describeErrno(error)}; its variables are not set`;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return `${file} is not a regular file (a FIFO, device or folder) and was not read; its variables are not set`;
    if (stat.size > MAX_ENV_BYTES) return `${file} is larger than 1 MiB and was not read; its variables are not set`;
    const buffer = Buffer.alloc(stat.size);
    let length = 0;
    while (length < buffer.length) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
    }
    for (const [name, value] of Object.entries(dotenv.parse(buffer.subarray(0, length)))) {
      if (env[name] === undefined) env[name] = value;
    }
    return undefined;
  } catch (error) {
    return `${file} was not read: ${describeErrno(error)}; its variables are not set`;
  } finally {
    closeSync(fd);
  }
}
