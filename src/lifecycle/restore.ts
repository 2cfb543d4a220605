/**
 * `backup restore`: streams an archive (local, or straight from S3) into a
 * folder, restoring files, folders, symlinks, hard links, permission bits
 * and modification times, and checks the SHA-256 against the `.sha256`
 * sidecar as it reads.
 *
 * Nothing is ever written outside the target folder:
 * - entries with an absolute path or `..` are refused (safe-path.ts), and the
 *   restore stops there;
 * - nothing is written through a symbolic link: every folder on the way to an
 *   entry must be a real folder, so a symlink restored earlier (or already in
 *   the target) cannot redirect a later entry;
 * - a file is written to a temporary name beside its place and linked (or,
 *   with --overwrite, renamed) into place, so an existing file is never
 *   clobbered without --overwrite and a failed restore leaves no half file.
 * Folders' modes and times are set at the end, deepest first, so a
 * read-only folder does not stop its own contents from being restored.
 * Owners are not restored; set-user/group-ID bits are dropped.
 */
import fs from 'node:fs/promises';
import { constants, createWriteStream } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import ignore from 'ignore';
import { BackupError, UsageError, describeErrno, errnoCode, isAbortError } from '../errors.js';
import type { BackupStore } from '../storage/backup-store.js';
import { ArchiveDamagedError, readArchive, formatOfName } from '../archive/read/read-archive.js';
import type { ArchiveEntry } from '../archive/read/archive-entry.js';
import type { Logger } from '../log/logger-types.js';
import { checkEntryPath } from './safe-path.js';
import { parseShaSidecar } from './verify.js';

export interface RestoreOptions {
  /** Absolute target folder (created if missing). */
  to: string;
  overwrite: boolean;
  /** gitignore-style patterns against the paths inside the archive (e.g. `data/docs`, `*.txt`); empty = everything. */
  include: string[];
  signal?: AbortSignal;
  envPath?: string;
  threads?: number;
  logger: Logger;
  onBytes?: (bytes: number) => void;
}

export interface RestoreProblem {
  path: string;
  reason: string;
}

export interface RestoreOutcome {
  location: string;
  to: string;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  /** Entries matched by --include (all when there is none). */
  matched: number;
  /** Existing files left alone (no --overwrite). */
  existing: string[];
  /** Entries not restored, with why (FIFOs, devices, a folder in the way, ...). */
  notRestored: RestoreProblem[];
  sha256: string;
  /** The .sha256 sidecar's verdict. */
  checksum: 'match' | 'mismatch' | 'no-sidecar';
  expectedSha256?: string;
}

/** An archive that tries to write outside the target folder: exit 1, nothing written outside. */
export class UnsafeArchiveError extends BackupError {
  constructor(message: string) {
    super(message, { code: 'ARCHIVE_UNSAFE' });
  }
}
UnsafeArchiveError.prototype.name = 'UnsafeArchiveError';

async function lstatOrUndefined(file: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await fs.lstat(file);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export async function restoreBackup(store: BackupStore, name: string, options: RestoreOptions): Promise<RestoreOutcome> {
  const location = store.locationOf(name);
  const format = formatOfName(name);
  if (!format) throw new UsageError(`${location}: not an archive this tool reads (expected .zip, .tar.gz or .tar.bz2).`, { code: 'UNKNOWN_FORMAT' });
  const { logger } = options;
  const root = options.to;
  await prepareTarget(root);

  const shaText = await store.readText(`${name}.sha256`, 64 * 1024, options.signal);
  const expected = shaText === undefined ? undefined : parseShaSidecar(shaText)?.sha256;
  if (shaText !== undefined && !expected) {
    throw new BackupError(`${location}.sha256 is not a sha256sum line (it was edited or damaged); nothing was restored. Check it, or move it away to restore without it.`, {
      code: 'SIDECAR_INVALID',
    });
  }
  if (!expected) logger.warn(`${location}: no usable .sha256 beside it; the archive's integrity cannot be checked against it (the format's own CRCs still are)`);

  const include = options.include.length > 0 ? ignore().add(options.include) : undefined;
  const outcome: RestoreOutcome = {
    location,
    to: root,
    files: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    bytes: 0,
    matched: 0,
    existing: [],
    notRestored: [],
    sha256: '',
    checksum: 'no-sidecar',
    expectedSha256: expected,
  };
  /** Folders known to be real folders below root (created or checked by us). */
  const safeDirs = new Set<string>(['']);
  /** Folders this restore created: only these (or any, with --overwrite) get the archive's mode and time. */
  const createdDirs = new Set<string>();
  const dirTimes: Array<{ rel: string; mode: number; mtime: Date }> = [];

  /** Makes sure every folder on the way to `parts` exists and is a real folder, not a link. */
  const ensureFolders = async (parts: string[], entryPath: string): Promise<void> => {
    let rel = '';
    for (const part of parts) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (safeDirs.has(rel)) continue;
      const abs = path.join(root, rel);
      const stat = await lstatOrUndefined(abs);
      if (!stat) {
        await fs.mkdir(abs, { mode: 0o700 });
        createdDirs.add(rel);
      }
      else if (stat.isSymbolicLink()) {
        const target = await fs.readlink(abs).catch(() => '?');
        throw new UnsafeArchiveError(
          `Refused: the entry "${entryPath}" would be written through the symbolic link ${rel} -> ${target}, which could lead outside ${root}. Nothing was written outside ${root}; the restore stopped here.`,
        );
      } else if (!stat.isDirectory()) {
        throw new BackupError(`${entryPath}: ${abs} is in the way (a file where a folder is needed)`, { code: 'RESTORE_CONFLICT' });
      }
      safeDirs.add(rel);
    }
  };

  const restoreEntry = async (entry: ArchiveEntry, body: AsyncIterable<Buffer>): Promise<void> => {
    // `tar -C dir -cf x.tar .` starts with a `./` entry: the target folder itself, nothing to restore.
    if (entry.kind === 'dir' && entry.path.split('/').every((part) => part === '' || part === '.')) return;
    const checked = checkEntryPath(entry.path);
    if (!checked.ok) {
      throw new UnsafeArchiveError(
        `Refused: the archive entry "${entry.path}" ${checked.reason}; restoring it would write outside ${root}. Nothing was written outside ${root}; the restore stopped here (this archive was not made by this tool, or was tampered with).`,
      );
    }
    const rel = checked.parts.join('/');
    if (include && !include.ignores(entry.kind === 'dir' ? `${rel}/` : rel)) return;
    outcome.matched += 1;
    const abs = path.join(root, ...checked.parts);
    try {
      if (entry.kind === 'dir') {
        await ensureFolders(checked.parts, entry.path);
        // An existing folder keeps its own mode without --overwrite (think of ~/.ssh).
        if (createdDirs.has(rel) || options.overwrite) dirTimes.push({ rel, mode: entry.mode, mtime: entry.mtime });
        outcome.dirs += 1;
        return;
      }
      await ensureFolders(checked.parts.slice(0, -1), entry.path);
      const existing = await lstatOrUndefined(abs);
      if (existing?.isDirectory()) {
        outcome.notRestored.push({ path: rel, reason: `a folder ${abs} is in the way` });
        return;
      }
      if (existing && !options.overwrite) {
        outcome.existing.push(rel);
        return;
      }
      switch (entry.kind) {
        case 'file':
          await writeFile(abs, entry, body, existing !== undefined, options.signal);
          outcome.files += 1;
          outcome.bytes += entry.size;
          return;
        case 'symlink':
          if (existing) await fs.unlink(abs);
          await fs.symlink(entry.linkTarget ?? '', abs);
          await fs.lutimes(abs, entry.mtime, entry.mtime).catch(() => undefined);
          outcome.symlinks += 1;
          return;
        case 'hardlink': {
          const target = checkEntryPath(entry.linkTarget ?? '');
          if (!target.ok) throw new UnsafeArchiveError(`Refused: the hard link "${entry.path}" points to "${entry.linkTarget}", and ${target.reason}. Nothing was written outside ${root}.`);
          await ensureFolders(target.parts.slice(0, -1), entry.path);
          const source = path.join(root, ...target.parts);
          const sourceStat = await lstatOrUndefined(source);
          if (!sourceStat?.isFile()) {
            outcome.notRestored.push({ path: rel, reason: `hard link to ${entry.linkTarget}, which was not restored` });
            return;
          }
          if (existing) await fs.unlink(abs);
          await fs.link(source, abs);
          outcome.hardlinks += 1;
          return;
        }
        default:
          // An entry typed as a FIFO or device that holds data (some zip writers) is data lost if skipped
          // quietly: reported without "never restored", so the restore exits 1.
          outcome.notRestored.push({
            path: rel,
            reason:
              entry.size > 0
                ? `a ${entry.typeName ?? 'special file'} entry that holds ${entry.size} bytes of data: not restored (its type is not a regular file; extract it with unzip and check it)`
                : `${entry.typeName ?? 'special file'}: not restored (FIFOs and devices are never restored)`,
          });
      }
    } catch (error) {
      const code = errnoCode(error);
      // Only a file system problem with this one entry is reported and passed over; damage in the
      // archive, an unsafe entry or Ctrl-C ends the restore.
      if (code === undefined || error instanceof BackupError || options.signal?.aborted || isAbortError(error)) throw error;
      if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EIO') {
        throw new BackupError(`Cannot restore ${rel} into ${root}: ${describeErrno(error)}.`, { code: 'RESTORE_FAILED', cause: error });
      }
      outcome.notRestored.push({ path: rel, reason: describeErrno(error) });
    }
  };

  let read;
  try {
    read = await readArchive({
      store,
      name,
      format,
      onEntry: restoreEntry,
      signal: options.signal,
      envPath: options.envPath,
      threads: options.threads,
      onBytes: options.onBytes,
    });
  } catch (error) {
    if (!(error instanceof ArchiveDamagedError) || outcome.files === 0) throw error;
    // zip checks each entry's CRC before the file is put in place; gzip checks its CRC only at the
    // end of the stream and bzip2 per block of up to 900 kB, so files written before may be bad.
    const already =
      format === 'zip'
        ? `The ${outcome.files} file(s) restored before it passed their CRC-32 check.`
        : `The ${outcome.files} file(s) already restored into ${root} were read before the damage was detected and may contain damaged data.`;
    throw new ArchiveDamagedError(`${error.message} The restore stopped there. ${already}`, { cause: error });
  }
  // Deepest first: a folder's own time changes when something is created in it.
  for (const dir of dirTimes.sort((a, b) => b.rel.length - a.rel.length)) {
    const abs = path.join(root, dir.rel);
    // chmod and utimes follow symlinks: only a real folder is touched.
    if (!(await lstatOrUndefined(abs).catch(() => undefined))?.isDirectory()) continue;
    await fs.chmod(abs, dir.mode & 0o1777).catch(() => undefined);
    await fs.utimes(abs, dir.mtime, dir.mtime).catch(() => undefined);
  }
  outcome.sha256 = read.sha256;
  outcome.checksum = expected === undefined ? 'no-sidecar' : expected === read.sha256 ? 'match' : 'mismatch';
  return outcome;
}

async function prepareTarget(root: string): Promise<void> {
  try {
    await fs.mkdir(root, { recursive: true, mode: 0o755 });
    const stat = await fs.stat(root);
    if (!stat.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await fs.access(root, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new UsageError(`Cannot restore into ${root}: ${describeErrno(error)}.`, { code: 'RESTORE_TARGET', cause: error });
  }
}

/** Writes to a temporary name beside `target`, then links (or with `replace`, renames) it into place. */
async function writeFile(target: string, entry: ArchiveEntry, body: AsyncIterable<Buffer>, replace: boolean, signal?: AbortSignal): Promise<void> {
  // Short whatever the name's length (a 255-byte name must still fit), created exclusively.
  const temp = path.join(path.dirname(target), `.restore-${randomBytes(6).toString('hex')}`);
  // Opened before the body is read: a file that cannot be created costs no archive bytes.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await pipeline(Readable.from(body), createWriteStream('', { fd: handle, autoClose: true }), { signal });
    await fs.chmod(temp, entry.mode & 0o777);
    await fs.utimes(temp, entry.mtime, entry.mtime);
    if (replace) await fs.rename(temp, target);
    else {
      await fs.link(temp, target);
      await fs.unlink(temp);
    }
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}
