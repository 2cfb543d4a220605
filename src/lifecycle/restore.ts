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
import type { Store } from '../storage/store.js';
import { ArchiveDamagedError, readArchive, formatOfName } from '../archive/read/read-archive.js';
import { decodeName, isHole, type ArchiveEntry } from '../archive/read/archive-entry.js';
import type { Logger } from '../log/logger-types.js';
import { checkEntryPath, printable } from './safe-path.js';
import { parseShaSidecar } from './verify.js';
import { ensureDir } from '../fs/ensure-dir.js';
import { MAX_SHA256_BYTES } from './catalog.js';

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

/** "1 file", "2 files": a count with its noun. */
export function counted(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** A byte-string path (see restoreBackup) as the Buffer the fs calls take. */
function fsPath(bytes: string): Buffer {
  return Buffer.from(bytes, 'latin1');
}

/**
 * The path `--include` patterns are matched against, for an entry whose checked path is `rel`
 * (its parts joined by "/", as a byte string): what the web UI's tree shows and selects by.
 */
export function includeText(rel: string): string {
  return decodeName(fsPath(rel)).text;
}

/** The path --include matches for an archive entry, or undefined for one restore refuses or skips (no name, unsafe). */
export function includePathOf(entry: Pick<ArchiveEntry, 'path' | 'pathBytes'>): string | undefined {
  const checked = checkEntryPath((entry.pathBytes ?? Buffer.from(entry.path, 'utf8')).toString('latin1'));
  return checked.ok ? includeText(checked.parts.join('/')) : undefined;
}

/** A path as a byte string: its UTF-8 bytes, one character each. */
function byteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A byte-string path as it is printed: UTF-8 where it is, `\xNN` for other bytes and control characters. */
function shown(bytes: string): string {
  return printable(decodeName(fsPath(bytes)).text);
}

async function lstatOrUndefined(file: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await fs.lstat(fsPath(file));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

export async function restoreBackup(store: Store, name: string, options: RestoreOptions): Promise<RestoreOutcome> {
  const location = store.locationOf(name);
  const format = formatOfName(name);
  if (!format) throw new UsageError(`${location}: not an archive this tool reads (expected .zip, .tar.gz or .tar.bz2).`, { code: 'UNKNOWN_FORMAT' });
  const { logger } = options;
  const root = options.to;
  await prepareTarget(root, options.signal);

  const shaText = await store.readText(`${name}.sha256`, MAX_SHA256_BYTES, options.signal);
  const expected = shaText === undefined ? undefined : parseShaSidecar(shaText)?.sha256;
  if (shaText !== undefined && !expected) {
    throw new BackupError(`${location}.sha256 is not a sha256sum line (it was edited or damaged); nothing was restored. Check it, or move it away to restore without it.`, {
      code: 'SIDECAR_INVALID',
    });
  }
  if (!expected) logger.warn(`${location}: no usable .sha256 beside it; the archive's integrity cannot be checked against it (the format's own CRCs still are)`);

  // Case-sensitive: `--include data/Case` is not `data/case` (the `ignore` package folds case by default).
  const include = options.include.length > 0 ? ignore({ ignorecase: false }).add(options.include) : undefined;
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
  /**
   * Paths on disk are byte strings (latin1: one character per byte), so a name that is not UTF-8
   * is restored with its exact bytes; fsPath() gives the Buffer the fs calls take.
   */
  const rootBytes = byteString(root);
  /** Folders known to be real folders below root (created or checked by us). */
  const safeDirs = new Set<string>(['']);
  /** Folders this restore created: only these (or any, with --overwrite) get the archive's mode and time. */
  const createdDirs = new Set<string>();
  const dirTimes: Array<{ rel: string; mode: number; mtime: Date }> = [];
  /** Files and links this restore put in place, and (only where it differs) the name each came from. */
  const placed = new Set<string>();
  const placedFrom = new Map<string, string>();

  /** Makes sure every folder on the way to `parts` exists and is a real folder, not a link. */
  const ensureFolders = async (parts: string[], label: string): Promise<void> => {
    let rel = '';
    for (const part of parts) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (safeDirs.has(rel)) continue;
      const abs = path.join(rootBytes, rel);
      const stat = await lstatOrUndefined(abs);
      if (!stat) {
        await fs.mkdir(fsPath(abs), { mode: 0o700 });
        createdDirs.add(rel);
      } else if (stat.isSymbolicLink()) {
        const target = await fs.readlink(fsPath(abs), { encoding: 'buffer' }).then((t) => shown(t.toString('latin1')), () => '?');
        throw new UnsafeArchiveError(
          `Refused: the entry "${label}" would be written through the symbolic link ${shown(rel)} -> ${target}, which could lead outside ${printable(root)}. Nothing was written outside ${printable(root)}; the restore stopped here.`,
        );
      } else if (!stat.isDirectory()) {
        throw new BackupError(`${label}: ${shown(abs)} is in the way (a file where a folder is needed); the restore stopped here.`, { code: 'RESTORE_CONFLICT' });
      }
      safeDirs.add(rel);
    }
  };

  const restoreEntry = async (entry: ArchiveEntry, body: AsyncIterable<Buffer>): Promise<void> => {
    // `tar -C dir -cf x.tar .` starts with a `./` entry: the target folder itself, nothing to restore.
    if (entry.kind === 'dir' && entry.path.split('/').every((part) => part === '' || part === '.')) return;
    const raw = (entry.pathBytes ?? Buffer.from(entry.path, 'utf8')).toString('latin1');
    const label = printable(entry.path);
    const checked = checkEntryPath(raw);
    if (!checked.ok && raw.split('/').every((part) => part === '' || part === '.') && !raw.startsWith('/')) {
      // A file with no name at all: nothing is written anywhere for it.
      outcome.matched += 1;
      outcome.notRestored.push({ path: entry.path === '' ? '(no name)' : label, reason: `${entry.kind === 'file' ? 'a file' : `an entry (${entry.kind})`} with no name: not restored` });
      return;
    }
    if (!checked.ok) {
      throw new UnsafeArchiveError(
        `Refused: the archive entry "${label}" ${checked.reason}; restoring it would write outside ${printable(root)}. Nothing was written outside ${printable(root)}; the restore stopped here (this archive was not made by this tool, or was tampered with).`,
      );
    }
    const rel = checked.parts.join('/');
    const relText = includeText(rel);
    if (include && !include.ignores(entry.kind === 'dir' ? `${relText}/` : relText)) return;
    outcome.matched += 1;
    const notRestored = (reason: string): void => {
      outcome.notRestored.push({ path: shown(rel), reason });
    };
    const abs = path.join(rootBytes, ...checked.parts);
    try {
      if (entry.kind === 'dir') {
        await ensureFolders(checked.parts, label);
        // An existing folder keeps its own mode without --overwrite (think of ~/.ssh).
        if (createdDirs.has(rel) || options.overwrite) dirTimes.push({ rel, mode: entry.mode, mtime: entry.mtime });
        outcome.dirs += 1;
        return;
      }
      // Two names in the archive for one file: never one silently over the other. The same name
      // again is a later version of the file (`tar -r` appends one): it replaces the earlier, as in tar.
      // (`./` in front, as `tar -C dir .` writes every name, is how the name is spelled, not another name.)
      const spelling = raw.replace(/^(\.\/+)+/, '');
      let own = false;
      if (placed.has(rel)) {
        const earlier = placedFrom.get(rel) ?? rel;
        // A zip has no appending: the same name twice is two files, and one would be lost.
        if (format === 'zip') {
          notRestored(`the archive holds "${label}" more than once; the first was restored, this one was not (extract it with unzip to choose)`);
          return;
        }
        if (earlier !== spelling) {
          notRestored(`the archive entries "${shown(earlier)}" and "${label}" are the same file on disk; the first was restored, this one was not`);
          return;
        }
        own = true;
      }
      await ensureFolders(checked.parts.slice(0, -1), label);
      if (entry.kind === 'other') {
        // A zip entry typed as a FIFO or device may hold data (some writers): say so, it is data not restored.
        notRestored(
          entry.size > 0
            ? `a ${entry.typeName ?? 'special file'} entry that holds ${entry.size} bytes of data: not restored (its type is not a regular file; extract it with unzip or tar and check it)`
            : `${entry.typeName ?? 'a special file'}: not restored (this tool restores files, folders and links only)`,
        );
        return;
      }
      const existing = await lstatOrUndefined(abs);
      if (existing?.isDirectory()) {
        notRestored(`a folder ${shown(abs)} is in the way`);
        return;
      }
      if (existing && !options.overwrite && !own) {
        outcome.existing.push(shown(rel));
        return;
      }
      const replace = existing !== undefined;
      switch (entry.kind) {
        case 'file':
          await writeFile(abs, entry, body, replace, options.signal);
          outcome.files += 1;
          outcome.bytes += entry.size;
          break;
        case 'symlink': {
          const target = entry.linkTargetBytes ?? Buffer.from(entry.linkTarget ?? '', 'utf8');
          await putInPlace(abs, replace, async (at) => {
            await fs.symlink(target, at);
            await fs.lutimes(at, entry.mtime, entry.mtime).catch(() => undefined);
          });
          outcome.symlinks += 1;
          break;
        }
        case 'hardlink': {
          const targetLabel = printable(entry.linkTarget ?? '');
          const target = checkEntryPath((entry.linkTargetBytes ?? Buffer.from(entry.linkTarget ?? '', 'utf8')).toString('latin1'));
          if (!target.ok) throw new UnsafeArchiveError(`Refused: the hard link "${label}" points to "${targetLabel}", and ${target.reason}. Nothing was written outside ${printable(root)}.`);
          const targetRel = target.parts.join('/');
          if (targetRel === rel) {
            notRestored('a hard link to itself (the archive is damaged)');
            return;
          }
          await ensureFolders(target.parts.slice(0, -1), label);
          const source = path.join(rootBytes, ...target.parts);
          // Only onto a file this restore wrote: never onto one that was there already (kept
          // without --overwrite) or that --include left out, which would give it other contents.
          if (!placed.has(targetRel)) {
            notRestored(`a hard link to ${targetLabel}, which this restore did not write (it was not in the archive before this link, was kept as an existing file, or was left out by --include)`);
            return;
          }
          const sourceStat = await lstatOrUndefined(source);
          if (!sourceStat?.isFile()) {
            notRestored(`a hard link to ${targetLabel}, which ${sourceStat ? 'is not a regular file' : 'was not restored'}`);
            return;
          }
          // Already that very file (restored twice): a rename would do nothing and leave the temporary name.
          if (!(existing && existing.ino === sourceStat.ino && existing.dev === sourceStat.dev)) {
            await putInPlace(abs, replace, (at) => fs.link(fsPath(source), at));
          }
          outcome.hardlinks += 1;
          break;
        }
      }
      placed.add(rel);
      if (spelling !== rel) placedFrom.set(rel, spelling);
    } catch (error) {
      const code = errnoCode(error);
      // Only a file system problem with this one entry is reported and passed over; damage in the
      // archive, an unsafe entry or Ctrl-C ends the restore.
      if (code === undefined || error instanceof BackupError || options.signal?.aborted || isAbortError(error)) throw error;
      if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EIO') {
        throw new BackupError(`Cannot restore ${shown(rel)} into ${printable(root)}: ${printable(describeErrno(error))}.`, { code: 'RESTORE_FAILED', cause: error });
      }
      notRestored(printable(describeErrno(error)));
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
        ? `The ${counted(outcome.files, 'file')} restored before it passed ${outcome.files === 1 ? 'its' : 'their'} CRC-32 check.`
        : `The ${counted(outcome.files, 'file')} already restored into ${printable(root)} ${outcome.files === 1 ? 'was' : 'were'} read before the damage was detected and may contain damaged data.`;
    throw new ArchiveDamagedError(`${error.message} The restore stopped there. ${already}`, { cause: error });
  }
  // Deepest first: a folder's own time changes when something is created in it.
  for (const dir of dirTimes.sort((a, b) => b.rel.length - a.rel.length)) {
    const abs = path.join(rootBytes, dir.rel);
    // chmod and utimes follow symlinks: only a real folder is touched.
    if (!(await lstatOrUndefined(abs).catch(() => undefined))?.isDirectory()) continue;
    await fs.chmod(fsPath(abs), dir.mode & 0o1777).catch(() => undefined);
    await fs.utimes(fsPath(abs), dir.mtime, dir.mtime).catch(() => undefined);
  }
  outcome.sha256 = read.sha256;
  outcome.checksum = expected === undefined ? 'no-sidecar' : expected === read.sha256 ? 'match' : 'mismatch';
  return outcome;
}

/** The target folder: created if missing; a file there, or a folder this user cannot write to, said plainly. */
async function prepareTarget(root: string, signal?: AbortSignal): Promise<void> {
  const refuse = (why: string, cause?: unknown): UsageError =>
    new UsageError(`Cannot restore into ${printable(root)}: ${why}.`, { code: 'RESTORE_TARGET', cause });
  const who = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
  let stat: import('node:fs').Stats | undefined;
  try {
    stat = await fs.stat(root);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOTDIR') throw refuse('a part of that path is a file, not a folder', error);
    if (code !== 'ENOENT') throw refuse(describeErrno(error), error);
  }
  if (stat && !stat.isDirectory()) {
    throw refuse(`it is ${stat.isFile() ? 'a file' : 'not a folder (a device, FIFO or socket)'}; --to takes a folder (created if missing), e.g. --to ${printable(root)}-restored`);
  }
  if (!stat) {
    try {
      await ensureDir(root, 0o755, signal);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EACCES' || code === 'EPERM') throw refuse(`it does not exist, and this user${who} may not create it there (the folder above it is not writable)`, error);
      if (code === 'EROFS') throw refuse('it does not exist, and the file system it would be on is read-only', error);
      if (code === 'ENOTDIR' || code === 'EEXIST') throw refuse('a part of that path is a file, not a folder', error);
      throw refuse(describeErrno(error), error);
    }
  }
  try {
    await fs.access(root, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EROFS') throw refuse('it is on a read-only file system', error);
    if (code === 'EACCES' || code === 'EPERM') throw refuse(`it is not writable by this user${who} (check its owner and mode)`, error);
    throw refuse(describeErrno(error), error);
  }
}

/**
 * Creates an entry at a fresh, unpredictable name beside `target` with `make`, then puts it in
 * place: with `replace`, renamed over what is there only once it is complete, so a failure leaves
 * the existing file as it was; else linked in, which never replaces anything.
 */
async function putInPlace(target: string, replace: boolean, make: (temp: Buffer) => Promise<void>): Promise<void> {
  // Short whatever the name's length (a 255-byte name must still fit), created exclusively by `make`.
  const temp = fsPath(path.join(path.dirname(target), `.restore-${randomBytes(8).toString('hex')}`));
  try {
    await make(temp);
    if (replace) await fs.rename(temp, fsPath(target));
    else {
      await fs.link(temp, fsPath(target));
      await fs.unlink(temp);
    }
  } catch (error) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** Writes a file's content at a temporary name and puts it in place (see putInPlace). */
async function writeFile(target: string, entry: ArchiveEntry, body: AsyncIterable<Buffer>, replace: boolean, signal?: AbortSignal): Promise<void> {
  await putInPlace(target, replace, async (temp) => {
    // Opened before the body is read: a file that cannot be created costs no archive bytes.
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    if (entry.sparse) {
      // Holes stay holes: skipped over, not written; the size is set at the end.
      try {
        let position = 0;
        for await (const piece of body) {
          signal?.throwIfAborted();
          for (let done = 0; !isHole(piece) && done < piece.length; ) {
            done += (await handle.write(piece, done, piece.length - done, position + done)).bytesWritten;
          }
          position += piece.length;
        }
        await handle.truncate(position);
      } finally {
        await handle.close();
      }
    } else {
      await pipeline(Readable.from(body), createWriteStream('', { fd: handle, autoClose: true }), { signal });
    }
    await fs.chmod(temp, entry.mode & 0o777);
    await fs.utimes(temp, entry.mtime, entry.mtime);
  });
}
