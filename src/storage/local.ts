/**
 * The local folder destination.
 *
 * - The archive is written as `NAME.EXT.partial`, created with O_EXCL so two
 *   runs can never write the same file, and published by `link()` (which
 *   fails rather than overwrite) once it is complete, synced to disk and
 *   re-read against its SHA-256.
 * - Sidecars are written to a temporary name and renamed into place.
 * - Any failure before publishing removes the partial file.
 * Archives and sidecars are created mode 0600: a backup holds other
 * people's files.
 */
import fs from 'node:fs/promises';
import { createReadStream, constants } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DestinationError, UsageError, describeErrno, errnoCode } from '../errors.js';
import { hashFile } from '../archive/hash-stream.js';
import type { CommitInfo, Committed, Destination, SidecarFile } from './destination.js';

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

export class LocalDestination implements Destination {
  readonly kind = 'local' as const;
  readonly label: string;
  private fileName: string | undefined;
  private handle: fs.FileHandle | undefined;
  private partialPath: string | undefined;
  /** Set once abort() must remove nothing: the archive is published, or a complete partial is kept for the user. */
  private settled = false;

  constructor(readonly dir: string) {
    this.label = dir;
  }

  /** Creates the folder if needed and checks that it is a writable folder. */
  async prepare(): Promise<void> {
    const notAFolder = (what: string): UsageError =>
      new UsageError(`The destination ${this.dir} cannot be used: ${what}. Choose a folder (it is created if missing).`, {
        code: 'DESTINATION_NOT_DIR',
      });
    const existing = await fs.stat(this.dir).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (existing instanceof Error) {
      if (existing.code === 'ENOTDIR') throw notAFolder('a part of the path is a file');
    } else if (!existing.isDirectory()) {
      throw notAFolder('it is a file, not a folder');
    }
    try {
      await fs.mkdir(this.dir, { recursive: true });
    } catch (error) {
      if (errnoCode(error) === 'ENOTDIR' || errnoCode(error) === 'EEXIST') throw notAFolder('a part of the path is a file');
      throw destinationFailure(`Cannot create the destination folder ${this.dir}`, error);
    }
    try {
      await fs.access(this.dir, constants.W_OK | constants.X_OK);
    } catch (error) {
      throw destinationFailure(`Cannot write to the destination folder ${this.dir}`, error);
    }
  }

  async reserve(fileName: string): Promise<boolean> {
    const finalPath = path.join(this.dir, fileName);
    if (await exists(finalPath)) return false;
    const partialPath = `${finalPath}.partial`;
    try {
      this.handle = await fs.open(partialPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
    } catch (error) {
      if (errnoCode(error) === 'EEXIST') return false;
      throw destinationFailure(`Cannot create ${partialPath}`, error);
    }
    this.fileName = fileName;
    this.partialPath = partialPath;
    return true;
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

  async commit(info: CommitInfo, signal?: AbortSignal): Promise<Committed> {
    const { partialPath, fileName } = this;
    if (!partialPath || !fileName || !this.handle) throw new Error('LocalDestination.commit() before reserve()');
    await this.handle.close();
    this.handle = undefined;

    // Read back what is on disk and check it against the hash computed while writing.
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

    const finalPath = path.join(this.dir, fileName);
    try {
      await fs.link(partialPath, finalPath);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EEXIST') {
        this.settled = true; // keep the complete partial: nothing lost
        throw new DestinationError(
          `${finalPath} was created by another program during the backup; it was not overwritten. The complete, verified archive is kept as ${partialPath} (sha256 ${info.sha256}).`,
          { code: 'NAME_TAKEN', cause: error },
        );
      }
      // File systems without hard links (vfat, some network shares): rename after a last check.
      // (Not atomic against another program creating the name in between; link() above is.)
      if (await exists(finalPath)) {
        this.settled = true; // keep the complete partial: nothing lost
        throw new DestinationError(`${finalPath} appeared during the backup; it was not overwritten. The complete archive is kept as ${partialPath}.`, {
          code: 'NAME_TAKEN',
        });
      }
      try {
        await fs.rename(partialPath, finalPath);
      } catch (renameError) {
        throw destinationFailure(`Cannot rename ${partialPath} to ${finalPath}`, renameError);
      }
    }
    this.settled = true;
    await fs.rm(partialPath, { force: true });
    await fsyncDir(this.dir);
    return { fileName, location: finalPath };
  }

  async writeSidecars(files: readonly SidecarFile[]): Promise<void> {
    for (const file of files) {
      const target = path.join(this.dir, file.name);
      const temp = `${target}.tmp-${process.pid}`;
      try {
        const handle = await fs.open(temp, 'wx', FILE_MODE);
        try {
          await handle.writeFile(file.content);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fs.rename(temp, target);
      } catch (error) {
        await fs.rm(temp, { force: true });
        throw destinationFailure(`Cannot write ${target}`, error);
      }
    }
    await fsyncDir(this.dir);
  }

  async abort(): Promise<void> {
    if (this.handle) {
      await this.handle.close().catch(() => undefined);
      this.handle = undefined;
    }
    // After publishing, a partial no longer exists and the archive is complete: nothing to undo.
    if (this.partialPath && !this.settled) {
      await fs.rm(this.partialPath, { force: true });
    }
  }
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
