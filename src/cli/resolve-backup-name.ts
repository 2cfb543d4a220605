/**
 * The backup a user named on the command line, for verify and restore:
 * - `s3://bucket/key`, or a path (it has a slash): that file or object;
 * - a bare name, as `backup list` prints it (`data-20261126-020000.tar.gz`):
 *   looked up in the destinations, as restic resolves the IDs it prints.
 *   With `--dest` / `--s3-bucket` those destinations first, then the working
 *   folder; without them the working folder first (a file there is what a
 *   shell user means), then the settings' destinations (or ./backups).
 *   When several hold it (a local copy and S3), the first in that order.
 *   With `--from NAME` only those destinations (the working folder is not looked at).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError, toBackupError } from '../errors.js';
import { expandHome } from '../config/expand-home.js';
import type { Store } from '../storage/store.js';
import type { CliIO } from './io.js';
import { resolveStores, storeForArchive, type LoadedSettings, type StoreFlags } from './stores.js';

export interface ResolvedBackup {
  store: Store;
  name: string;
}

/** A name with no folder in it: what `backup list` prints. */
export function isBareName(archive: string): boolean {
  return !archive.startsWith('s3://') && !archive.includes('/') && archive !== '.' && archive !== '..' && !archive.startsWith('~');
}

async function existsInWorkingFolder(io: CliIO, archive: string): Promise<boolean> {
  return fs.lstat(path.resolve(io.cwd, archive)).then(
    () => true,
    () => false,
  );
}

export async function resolveBackupName(io: CliIO, loaded: LoadedSettings, archive: string, flags: StoreFlags): Promise<ResolvedBackup> {
  if (!isBareName(archive)) return storeForArchive(io, loaded, archive, flags);
  // --from names the destination: a file of that name in the working folder is not what was meant.
  const picked = flags.from !== undefined && flags.from.length > 0;
  const explicit = flags.dest !== undefined || flags.s3Bucket !== undefined || picked;
  const here = (): Promise<ResolvedBackup> => storeForArchive(io, loaded, path.resolve(io.cwd, expandHome(archive, io.home)), flags);
  if (!explicit && (await existsInWorkingFolder(io, archive))) return here();

  const stores = await resolveStores(io, loaded, flags);
  let problem: unknown;
  for (const store of stores) {
    try {
      if (await store.stat(archive, io.signal)) return { store, name: archive };
    } catch (error) {
      if (io.signal.aborted) throw error;
      // One destination that cannot be asked (no credentials, offline) does not hide the others.
      problem ??= error;
    }
  }
  if (explicit && !picked && (await existsInWorkingFolder(io, archive))) return here();
  if (problem !== undefined) throw toBackupError(problem, io.signal);
  const labels = stores.map((s) => s.label);
  const looked = picked ? labels : explicit ? [...labels, io.cwd] : [io.cwd, ...labels];
  throw new UsageError(`${archive} is not in ${looked.join(', nor in ')}. See \`backup list\` for the backups there, or give the archive's path.`, {
    code: 'ARCHIVE_NOT_FOUND',
  });
}
