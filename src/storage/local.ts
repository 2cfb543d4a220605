/**
 * The local folder destination.
 *
 * - The folder is created one component at a time (ensure-dir.ts), mode 0700.
 * - The archive is written as `NAME.EXT.partial`, created with O_EXCL so two
 *   runs can never write the same file, synced and re-read against its
 *   SHA-256 (verify), then the sidecars are written, and last the archive is
 *   published by `link()` (which fails rather than overwrite). So a complete
 *   archive never stands under its final name without its sidecars.
 * - Sidecars are written to an unpredictable temporary name (O_EXCL) and
 *   linked into place: an existing file of that name is never replaced.
 * - Any failure before publishing removes the partial file and the sidecars.
 * Archives and sidecars are created mode 0600: a backup holds other
 * people's files.
 */
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DestinationError, UsageError, describeErrno, errnoCode } from '../errors.js';
import { hashFile } from './hash-file.js';
import { ensureDir, EnsureDirError, MAX_DIR_DEPTH, nearestExisting, pseudoFileSystem } from '../fs/ensure-dir.js';
import { SIDECAR_SUFFIXES, type CommitInfo, type Committed, type ArchiveWrite, type SidecarFile } from './store.js';

const FILE_MODE = 0o600;

function destinationFailure(what: string, error: unknown): DestinationError {
  const code = errnoCode(error);
  const extra =
    code === 'ENOSPC' || code === 'EDQUOT' ? ' The partial file was removed; nothing was published.' : '';
  return new DestinationError(`${what}: ${describeErrno(error)}.${extra}`, {
    code: code === 'ENOSPC' || code === 'EDQUOT' ? 'DISK_FULL' : 'DESTINATION_FAILED',
    cause: error,
  });
}

/** Writes every byte of `buffers` at the current position, retrying short writes. */
async function writeAll(handle: fs.FileHandle, buffers: Buffer[]): Promise<void> {
  let pending = buffers.filter((b) => b.length > 0);
  while (pending.length > 0) {
    let { bytesWritten } = await handle.writev(pending);
    const rest: Buffer[] = [];
    for (const buffer of pending) {
      if (bytesWritten >= buffer.length) bytesWritten -= buffer.length;
      else {
        rest.push(buffer.subarray(bytesWritten));
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY).catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync();
  } catch {
    // some file systems cannot sync a directory; the rename is still atomic
  } finally {
    await handle.close();
  }
}

const FOLDER_MODE = 0o700;
/** link() is not supported here (vfat, some network shares): fall back to rename after a check. */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

export class LocalDestination implements ArchiveWrite {
  readonly kind = 'local' as const;
  readonly label: string;
  private fileName: string | undefined;
  private handle: fs.FileHandle | undefined;
  private partialPath: string | undefined;
  /** Sidecars written by this run, removed again unless the archive is published. */
  private readonly sidecars: string[] = [];
  /** The archive stands under its final name: abort() removes nothing. */
  private published = false;
  /** A complete partial is kept for the user (its final name was taken meanwhile). */
  private keepPartial = false;

  constructor(readonly dir: string) {
    this.label = dir;
  }

  /** Creates the folder if needed (bounded: see ensure-dir.ts) and checks that it is a writable folder. */
  async prepare(signal?: AbortSignal): Promise<void> {
    const notAFolder = (what: string): UsageError =>
      new UsageError(`The destination ${this.dir} cannot be used: ${what}. Choose a folder (it is created if missing).`, {
        code: 'DESTINATION_NOT_DIR',
      });
    try {
      await ensureDir(this.dir, FOLDER_MODE, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!(error instanceof EnsureDirError)) throw error;
      if (error.reason === 'not-a-folder') throw notAFolder(error.at === this.dir ? 'it is a file, not a folder' : error.message);
      if (error.reason === 'refused') {
        throw new DestinationError(
          `Cannot create the destination folder ${this.dir}: ${error.message}${error.cause ? ` (${errnoCode(error.cause) ?? 'ENOENT'})` : ''}. Choose a folder on a disk.`,
          { code: 'DESTINATION_NOT_CREATABLE', cause: error },
        );
      }
      if (error.reason === 'too-deep') throw notAFolder(error.message);
      throw destinationFailure(`Cannot create the destination folder ${this.dir}`, error.cause);
    }
    try {
      await fs.access(this.dir, constants.W_OK | constants.X_OK);
    } catch (error) {
      throw destinationFailure(`Cannot write to the destination folder ${this.dir}`, error);
    }
  }

  /**
   * What prepare() would find, without creating anything (the dry run): the
   * folder, or the nearest part of its path that exists, is a writable folder.
   */
  async probe(): Promise<void> {
    const pseudo = await pseudoFileSystem(await nearestExisting(this.dir));
    if (pseudo) {
      throw new DestinationError(`Cannot create the destination folder ${this.dir}: it is on the kernel's ${pseudo} file system, which cannot hold files. Choose a folder on a disk.`, {
        code: 'DESTINATION_NOT_CREATABLE',
      });
    }
    let current = path.resolve(this.dir);
    for (let depth = 0; depth <= MAX_DIR_DEPTH; depth++) {
      const stat = await fs.stat(current).catch((error: unknown) => error as NodeJS.ErrnoException);
      if (!(stat instanceof Error)) {
        if (!stat.isDirectory()) {
          throw new UsageError(
            `The destination ${this.dir} cannot be used: ${current === path.resolve(this.dir) ? 'it is a file, not a folder' : `${current} is not a folder`}. Choose a folder (it is created if missing).`,
            { code: 'DESTINATION_NOT_DIR' },
          );
        }
        try {
          await fs.access(current, constants.W_OK | constants.X_OK);
        } catch (error) {
          throw destinationFailure(current === path.resolve(this.dir) ? `Cannot write to the destination folder ${this.dir}` : `Cannot create the destination folder ${this.dir}`, error);
        }
        return;
      }
      if (stat.code !== 'ENOENT' && stat.code !== 'ENOTDIR') throw destinationFailure(`Cannot look at ${current}`, stat);
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
    throw destinationFailure(`Cannot create the destination folder ${this.dir}`, undefined);
  }

  async reserve(fileName: string): Promise<boolean> {
    const finalPath = path.join(this.dir, fileName);
    for (const name of [finalPath, ...SIDECAR_SUFFIXES.map((s) => finalPath + s)]) {
      if (await exists(name)) return false;
    }
    const partialPath = `${finalPath}.partial`;
    try {
      this.handle = await fs.open(partialPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') return false;
      throw destinationFailure(`Cannot create ${partialPath}`, error);
    }
    this.fileName = fileName;
    this.partialPath = partialPath;
    return true;
  }

  location(): string {
    if (!this.fileName) throw new Error('LocalDestination.location() before reserve()');
    return path.join(this.dir, this.fileName);
  }

  async open(): Promise<Writable> {
    const handle = this.handle;
    const partialPath = this.partialPath;
    if (!handle || !partialPath) throw new Error('LocalDestination.open() before reserve()');
    const fail = (error: unknown): DestinationError => destinationFailure(`Cannot write ${partialPath}`, error);
    return new Writable({
      highWaterMark: 1024 * 1024,
      writev(chunks, callback) {
        writeAll(handle, chunks.map((c) => c.chunk as Buffer)).then(
          () => callback(),
          (error: unknown) => callback(fail(error)),
        );
      },
      final(callback) {
        handle.sync().then(
          () => callback(),
          (error: unknown) => callback(fail(error)),
        );
      },
    });
  }

  /** Reads back what is on disk and checks it against the hash computed while writing. */
  async verify(info: CommitInfo, signal?: AbortSignal): Promise<void> {
    const { partialPath } = this;
    if (!partialPath || !this.handle) throw new Error('LocalDestination.verify() before reserve()');
    await this.handle.close();
    this.handle = undefined;
    let check: { sha256: string; bytes: number };
    try {
      check = await hashFile(partialPath, signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw destinationFailure(`Cannot read back ${partialPath} to verify it`, error);
    }
    if (check.sha256 !== info.sha256 || check.bytes !== info.bytes) {
      throw new DestinationError(
        `Verification failed: ${partialPath} on disk (${check.bytes} bytes, sha256 ${check.sha256}) differs from what was written (${info.bytes} bytes, sha256 ${info.sha256}). The disk may be failing; nothing was published.`,
        { code: 'VERIFY_FAILED' },
      );
    }
  }

  async writeSidecars(files: readonly SidecarFile[]): Promise<void> {
    for (const file of files) {
      const target = path.join(this.dir, file.name);
      const temp = path.join(this.dir, `.${file.name}.${randomBytes(8).toString('hex')}.tmp`);
      try {
        const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
        try {
          await handle.writeFile(file.content);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await placeWithoutReplacing(temp, target);
        this.sidecars.push(target);
      } catch (error) {
        await fs.rm(temp, { force: true }).catch(() => undefined);
        if (errnoCode(error) === 'EEXIST' || errnoCode(error) === 'EISDIR') {
          throw new DestinationError(`Cannot write ${target}: something of that name appeared during the backup; it was not replaced, and the archive was not published.`, {
            code: 'NAME_TAKEN',
            cause: error,
          });
        }
        throw destinationFailure(`Cannot write ${target}; the archive was not published`, error);
      }
    }
    await fsyncDir(this.dir);
  }

  async publish(info: CommitInfo): Promise<Committed> {
    const { partialPath, fileName } = this;
    if (!partialPath || !fileName || this.handle) throw new Error('LocalDestination.publish() before verify()');
    const finalPath = path.join(this.dir, fileName);
    try {
      await placeWithoutReplacing(partialPath, finalPath);
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') {
        this.keepPartial = true; // keep the complete partial: nothing lost
        throw new DestinationError(
          `${finalPath} was created by another program during the backup; it was not overwritten. The complete, verified archive is kept as ${partialPath} (sha256 ${info.sha256}).`,
          { code: 'NAME_TAKEN', cause: error },
        );
      }
      throw destinationFailure(`Cannot publish ${partialPath} as ${finalPath}`, error);
    }
    this.published = true;
    await fsyncDir(this.dir);
    return { fileName, location: finalPath };
  }

  async abort(): Promise<void> {
    if (this.handle) {
      await this.handle.close().catch(() => undefined);
      this.handle = undefined;
    }
    // After publishing, a partial no longer exists and the archive is complete: nothing to undo.
    if (this.published) return;
    for (const sidecar of this.sidecars.splice(0)) await fs.rm(sidecar, { force: true }).catch(() => undefined);
    if (this.partialPath && !this.keepPartial) await fs.rm(this.partialPath, { force: true });
  }

  async close(): Promise<void> {
    await this.abort();
  }
}

/**
 * Gives `from` the name `to` without ever replacing an existing `to`:
 * link() then unlink(); where the file system has no hard links, rename()
 * after a last check (not atomic against another program in between).
 */
async function placeWithoutReplacing(from: string, to: string): Promise<void> {
  try {
    await fs.link(from, to);
  } catch (error) {
    if (!NO_LINK.has(errnoCode(error) ?? '')) throw error;
    if (await exists(to)) throw Object.assign(new Error(`${to} exists`), { code: 'EEXIST' });
    await fs.rename(from, to);
    return;
  }
  await fs.rm(from, { force: true });
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
}
