/**
 * The job's lock (lifecycle/lock.ts) for `backup run` and `backup prune`: a
 * second run of the same job is refused (exit 1) or waits with --wait; a
 * stale lock left by a killed run is taken over with a warning.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { acquireLock, type HeldLock } from '../lifecycle/lock.js';
import { lockFileFor } from '../lifecycle/job-lock-file.js';
import { ensureDir } from '../fs/ensure-dir.js';
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

/** The job's lock, taken when `acquire` is called and released by `release` (both idempotent). */
export function jobLock(io: CliIO, logger: Logger, options: JobLockOptions): { acquire(): Promise<void>; release(): Promise<void> } {
  let held: HeldLock | undefined;
  return {
    async acquire() {
      if (options.skip || held) return;
      const fallbackDir = path.dirname(options.logFile);
      // Beside the backups when their folder exists (runs from other working folders meet there),
      // else beside the log. The destination is never created just for the lock.
      const isDir = async (dir: string | undefined): Promise<boolean> =>
        dir !== undefined && (await fs.stat(dir).then((s) => s.isDirectory(), () => false));
      const local = (await isDir(options.localDestination)) ? options.localDestination : undefined;
      if (!local) await ensureDir(fallbackDir, 0o755, io.signal).catch(() => undefined);
      held = await acquireLock({
        file: lockFileFor(options.job, local, fallbackDir),
        host: io.host,
        command: options.command,
        now: io.now,
        wait: options.wait,
        signal: io.signal,
        // "Waiting for pid N" must reach the terminal or the cron mail, not only the log file.
        logger: { ...logger, info: (message, meta) => logger.warn(message, meta) },
      });
    },
    async release() {
      await held?.release();
      held = undefined;
    },
  };
}

/** Runs `work` holding the job's lock. */
export async function withJobLock<T>(io: CliIO, logger: Logger, options: JobLockOptions, work: () => Promise<T>): Promise<T> {
  const lock = jobLock(io, logger, options);
  await lock.acquire();
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
