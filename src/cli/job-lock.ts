/**
 * Runs `work` holding the job's lock (lifecycle/lock.ts): a second run of
 * the same job is refused (exit 1) or waits with --wait; a stale lock left
 * by a killed run is taken over with a warning.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { acquireLock } from '../lifecycle/lock.js';
import { lockFileFor } from '../lifecycle/job-lock-file.js';
import type { Logger } from '../log/logger-types.js';
import type { CliIO } from './io.js';
import { UsageError } from '../errors.js';

export interface JobLockOptions {
  job: { sources: readonly string[]; nameTemplate: string };
  localDestination?: string;
  logFile: string;
  wait?: boolean | number;
  command: string;
  /** Dry runs write nothing and take no lock. */
  skip?: boolean;
}

export async function withJobLock<T>(io: CliIO, logger: Logger, options: JobLockOptions, work: () => Promise<T>): Promise<T> {
  if (options.skip) return work();
  const fallbackDir = path.dirname(options.logFile);
  // The destination folder is created here as the backup would create it. If it cannot be (a file
  // in the way, no permission), the lock goes beside the log and the backup reports the problem.
  const usable = async (dir: string | undefined): Promise<boolean> =>
    dir !== undefined && (await fs.mkdir(dir, { recursive: true }).then(() => fs.stat(dir)).then((s) => s.isDirectory(), () => false));
  const local = (await usable(options.localDestination)) ? options.localDestination : undefined;
  await fs.mkdir(fallbackDir, { recursive: true }).catch(() => undefined);
  const lock = await acquireLock({
    file: lockFileFor(options.job, local, fallbackDir),
    host: io.host,
    command: options.command,
    now: io.now,
    wait: options.wait,
    signal: io.signal,
    // "Waiting for pid N" must reach the terminal or the cron mail, not only the log file.
    logger: { ...logger, info: (message, meta) => logger.warn(message, meta) },
  });
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** `--wait` alone: as long as it takes; `--wait 600`: at most ten minutes. */
export function parseWait(value: boolean | string | undefined): boolean | number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return true;
  if (!/^\d{1,6}$/.test(value)) throw new UsageError(`--wait ${JSON.stringify(value)}: expected seconds (a whole number), or --wait alone to wait as long as it takes`, { code: 'USAGE' });
  return Number(value);
}
