/**
 * Where a job's lock lives. A job is its sources and name template (what
 * prune also uses to tell its backups apart), so `backup run` and `backup
 * prune` of the same job share one lock. Pure.
 *
 * - With a local destination: in that folder, so runs started from
 *   different working folders (or users' crontabs) still meet there.
 * - S3 only: in `fallbackDir` (the log file's folder, logs/ by default);
 *   runs of the same job on other machines are not seen (README).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

export function jobKey(job: { sources: readonly string[]; nameTemplate: string }): string {
  const identity = JSON.stringify({ sources: [...job.sources].sort(), name: job.nameTemplate });
  return createHash('sha256').update(identity).digest('hex').slice(0, 12);
}

export function lockFileFor(job: { sources: readonly string[]; nameTemplate: string }, localDestination: string | undefined, fallbackDir: string): string {
  return path.join(localDestination ?? fallbackDir, `.backup-${jobKey(job)}.lock`);
}
