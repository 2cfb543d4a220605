/**
 * The read side of a local backup folder (see backup-store.ts).
 */
import fs from 'node:fs/promises';
import { constants, createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BackupError, UsageError, describeErrno, errnoCode } from '../errors.js';
import { SmallFileError, readSmallFile } from '../fs/read-small-file.js';
import type { ArchiveWrite, CheckOptions, RangeReader, Store, StoredFile, WriteOptions } from './store.js';
import { LocalDestination } from './local.js';

function failure(what: string, error: unknown): BackupError {
  return new BackupError(`${what}: ${describeErrno(error)}.`, { code: 'STORE_FAILED', cause: error });
}

function notRegular(file: string, kind: string, cause: unknown): BackupError {
  return new BackupError(`${file} is ${kind}, not a regular file: it was not read (a sidecar must be a regular file).`, { code: 'SIDECAR_INVALID', cause });
}

function tooLarge(file: string, size: number, maxBytes: number): BackupError {
  return new BackupError(`${file} is ${size} bytes, more than a sidecar file can be (${maxBytes}): it was not read.`, { code: 'SIDECAR_TOO_LARGE' });
}

/**
 * Which part of `dir` is a file (the first one from the root down that
 * exists and is not a folder), for ENOTDIR: in `file/sub` it is `file`, not
 * `sub`. Undefined if none is (any more).
 */
async function notAFolderIn(dir: string): Promise<string | undefined> {
  const absolute = path.resolve(dir);
  let current = path.parse(absolute).root;
  for (const part of absolute.slice(current.length).split(path.sep).filter(Boolean)) {
    current = path.join(current, part);
    const stat = await fs.stat(current).catch(() => undefined);
    if (!stat) return undefined;
    if (!stat.isDirectory()) return current;
  }
  return undefined;
}

export class LocalStore implements Store {
  readonly kind = 'local' as const;
  readonly label: string;

  constructor(
    readonly dir: string,
    readonly name = 'local',
  ) {
    this.label = dir;
  }

  get folder(): string {
    return this.dir;
  }

  /** The folder exists (created unless a dry run: then only that it could be) and can be written. */
  async check(options: CheckOptions): Promise<void> {
    const write = new LocalDestination(this.dir);
    if (options.dryRun) await write.probe();
    else await write.prepare(options.signal);
  }

  beginWrite(_options: WriteOptions): ArchiveWrite {
    return new LocalDestination(this.dir);
  }

  async close(): Promise<void> {
    // nothing held between calls
  }

  locationOf(name: string): string {
    return path.join(this.dir, name);
  }

  async stat(name: string): Promise<StoredFile | undefined> {
    const file = this.locationOf(name);
    try {
      const stat = await fs.stat(file);
      if (stat.isDirectory()) throw new UsageError(`${file} is a folder, not an archive.`, { code: 'NOT_AN_ARCHIVE' });
      return { name, size: stat.size, modified: stat.mtime };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      if (error instanceof BackupError) throw error;
      throw failure(`Cannot read ${file}`, error);
    }
  }

  async list(): Promise<StoredFile[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'ENOENT') throw new UsageError(`The backup folder ${this.dir} does not exist.`, { code: 'DESTINATION_NOT_FOUND', cause: error });
      if (code === 'ENOTDIR') {
        const file = await notAFolderIn(this.dir);
        const message =
          file === undefined || file === path.resolve(this.dir)
            ? `${this.dir} is a file, not a backup folder.`
            : `${this.dir} is not a backup folder: ${file} is a file, not a folder.`;
        throw new UsageError(message, { code: 'DESTINATION_NOT_DIR', cause: error });
      }
      throw failure(`Cannot read the backup folder ${this.dir}`, error);
    }
    const files: StoredFile[] = [];
    for (const name of names) {
      const stat = await fs.lstat(path.join(this.dir, name)).catch(() => undefined);
      if (stat?.isFile()) files.push({ name, size: stat.size, modified: stat.mtime });
    }
    return files;
  }

  async openRead(name: string, signal?: AbortSignal): Promise<Readable> {
    const file = this.locationOf(name);
    // Opened here, so a missing or unreadable file is an error now, not a stream error later.
    const handle = await fs.open(file, 'r').catch((error: unknown) => {
      throw failure(`Cannot read ${file}`, error);
    });
    // The stream owns the handle and closes it (once) when it ends or is destroyed.
    return createReadStream('', { fd: handle, highWaterMark: 1024 * 1024, signal, autoClose: true });
  }

  async openRanges(name: string): Promise<RangeReader> {
    const file = this.locationOf(name);
    const handle = await fs.open(file, 'r').catch((error: unknown) => {
      throw failure(`Cannot read ${file}`, error);
    });
    const { size } = await handle.stat().catch(async (error: unknown) => {
      await handle.close().catch(() => undefined);
      throw failure(`Cannot read ${file}`, error);
    });
    return {
      size,
      async read(start, length) {
        const buffer = Buffer.alloc(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return buffer.subarray(0, done);
      },
      close: () => handle.close().catch(() => undefined),
    };
  }

  /**
   * A sidecar is read only if it is a regular file of at most `maxBytes`:
   * opened without following a symbolic link and without blocking (a FIFO
   * planted there would hang list / verify for ever), checked on the open
   * handle, and read no further than the limit (a file that grows meanwhile
   * cannot make it read more).
   */
  async readText(name: string, maxBytes: number): Promise<string | undefined> {
    const file = this.locationOf(name);
    try {
      return (await readSmallFile(file, { maxBytes, noFollow: true }))?.text;
    } catch (error) {
      if (!(error instanceof SmallFileError)) throw error;
      if (error.reason === 'symlink' || error.reason === 'not-regular') throw notRegular(file, error.detail, error.cause);
      if (error.reason === 'too-large') throw tooLarge(file, Number.parseInt(error.detail, 10), maxBytes);
      throw failure(`Cannot read ${file}`, error.cause);
    }
  }


  /**
   * A small file (sidecar, verification record) written whole or not at all:
   * to an unpredictable temporary name beside it, created exclusively and
   * never through a symbolic link (a link planted in a folder other users can
   * write to must not make a root-run verify write over another file), then
   * renamed over the final name (which replaces a link there, never follows it).
   */
  async writeText(name: string, content: string): Promise<void> {
    const file = this.locationOf(name);
    const temp = `${file}.tmp-${randomBytes(8).toString('hex')}`;
    let created = false;
    try {
      const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      created = true;
      try {
        await handle.writeFile(content);
      } finally {
        await handle.close();
      }
      await fs.rename(temp, file);
    } catch (error) {
      if (created) await fs.rm(temp, { force: true }).catch(() => undefined);
      throw failure(`Cannot write ${file}`, error);
    }
  }

  async remove(name: string): Promise<void> {
    const file = this.locationOf(name);
    try {
      await fs.unlink(file);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw failure(`Cannot delete ${file}`, error);
    }
  }
}
