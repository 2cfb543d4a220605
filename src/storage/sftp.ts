/**
 * An SFTP server's folder as a Store (ssh2; no ssh2-sftp-client). Facts
 * about Debian's OpenSSH, checked by tests/storage/sftp.test.ts (the store
 * contract and the SFTP-only cases):
 *
 * - One SSH connection per store, opened at the first call and reused; a
 *   read, list, stat or delete whose connection dropped is tried again on a
 *   new one (a few times, with a growing delay). A request with no answer
 *   for `timeoutSeconds` closes the connection (SFTP cannot cancel one).
 * - Writing one archive: reserve(NAME) needs NAME, NAME.sha256 and
 *   NAME.manifest.json absent, then claims the name by creating the hidden
 *   temporary `.NAME.partial` with O_CREAT|O_EXCL ('wx'): a second writer's
 *   claim fails (OpenSSH answers FAILURE and the file is there). The bytes
 *   go in WRITE requests, a bounded number in flight (backpressure: memory
 *   stays flat), hashed as they are sent. A connection lost mid-stream
 *   fails the write (SFTP_CONNECTION_LOST): no resume, we do not trust
 *   what the server kept. publish() is the plain SFTP RENAME, which on
 *   OpenSSH never replaces (it links the new name, then unlinks the old:
 *   FAILURE if the name exists); posix-rename@openssh.com replaces, so it
 *   is never used to publish.
 * - abort() removes the temporary file and the sidecars this write created,
 *   on a new connection if the old one died.
 * - The remote folder is never created: a missing one is an error saying
 *   how to create it (a typo in "path" must not scatter backups).
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import type { FileEntryWithStats, Stats } from 'ssh2';
import { BackupError, CancelledError, DestinationError, UsageError } from '../errors.js';
import { silentLogger, type Logger } from '../log/logger-types.js';
import { SFTP_STATUS, SessionLost, describeSftpError, folderMissingError, sftpStatus } from './sftp-errors.js';
import { SftpReadStream, readAt } from './sftp-read.js';
import { WRITE_PIECE, call, createFile, delay, isTemporaryName, partialName, versionOf } from './sftp-calls.js';
import { connectSftp, type Session } from './sftp-session.js';
import { hostPort, sftpLabel, type SftpTarget } from './sftp-target.js';
import type { StoreContext } from './open-store.js';
import {
  checkSent,
  SIDECAR_SUFFIXES,
  type ArchiveWrite,
  type CheckOptions,
  type CommitInfo,
  type Committed,
  type RangeReader,
  type SidecarFile,
  type Store,
  type StoredFile,
  type WriteOptions,
} from './store.js';

export type { SftpTarget };
export { isTemporaryName, partialName };
export type SftpStoreContext = StoreContext & {
  /** Reconnects and clean-up problems are logged here (default: dropped). */
  logger?: Logger;
};

/** WRITE requests in flight (of WRITE_PIECE bytes): ~2 MiB per write in transit. */
const WRITES_IN_FLIGHT = 32;
const DEFAULT_MAX_TRIES = 3;
const DEFAULT_RETRY_DELAY_MS = 500;

export function openSftpStore(target: SftpTarget, ctx: SftpStoreContext): Store {
  return new SftpStore(target, ctx);
}

class SftpStore implements Store {
  readonly kind = 'sftp' as const;
  readonly name: string;
  readonly label: string;
  readonly logger: Logger;
  private readonly env: Record<string, string | undefined>;
  private current: Promise<Session> | undefined;
  /** Ends a connection attempt in progress when the store closes. */
  private readonly closing = new AbortController();
  private closed = false;
  readonly writes = new Set<SftpArchiveWrite>();

  constructor(
    readonly target: SftpTarget,
    ctx: SftpStoreContext,
  ) {
    this.name = ctx.name;
    this.env = ctx.env;
    this.logger = ctx.logger ?? silentLogger;
    this.label = sftpLabel(target);
  }

  get server(): string {
    return hostPort(this.target.host, this.target.port);
  }

  remotePath(name: string): string {
    return path.posix.join(this.target.path, name);
  }

  locationOf(name: string): string {
    return `${this.label.replace(/\/$/, '')}/${name}`;
  }

  /** The live session, connecting (once, shared by concurrent callers) when there is none. */
  async session(signal?: AbortSignal): Promise<Session> {
    if (this.closed) throw new Error('SftpStore used after close()');
    if (signal?.aborted) throw new CancelledError(undefined, { cause: signal.reason });
    const existing = this.current ? await this.current.catch(() => undefined) : undefined;
    if (existing && !existing.dead) return existing;
    if (!this.current || existing) {
      const connecting = connectSftp({ target: this.target, env: this.env, logger: this.logger, signal: this.closing.signal });
      this.current = connecting;
      connecting.catch(() => {
        if (this.current === connecting) this.current = undefined;
      });
    }
    const connecting = this.current;
    if (!signal) return connecting;
    // The caller stops waiting on Ctrl-C; the connection attempt itself is bounded by the timeout.
    return new Promise<Session>((resolve, reject) => {
      const onAbort = () => reject(new CancelledError(undefined, { cause: signal.reason }));
      signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  fail(error: unknown, action: string, name: string | undefined, signal?: AbortSignal, missingIsNotFound = false): BackupError {
    return describeSftpError(error, {
      action,
      where: name === undefined ? this.label : this.locationOf(name),
      user: this.target.user,
      server: this.server,
      signal,
      missingIsNotFound,
    });
  }

  /**
   * Runs `run` on the live session; when the connection was lost, again on a
   * new one (maxTries in all). Only for calls that are safe to repeat.
   */
  async retrying<T>(signal: AbortSignal | undefined, run: (s: Session) => Promise<T>): Promise<T> {
    const tries = this.target.maxTries ?? DEFAULT_MAX_TRIES;
    let wait = this.target.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await run(await this.session(signal));
      } catch (error) {
        if (!(error instanceof SessionLost) || attempt >= tries || signal?.aborted || this.closed) throw error;
        this.logger.warn(`The SSH connection to ${this.server} was lost (${error.message}); reconnecting (try ${attempt + 1} of ${tries}).`);
        await delay(wait, signal);
        wait *= 2;
      }
    }
  }

  /**
   * Connects (host key, login), then: the folder exists and is a folder
   * (never created), can be listed, and (unless dryRun) written: a probe
   * file is created and removed.
   */
  async check(options: CheckOptions): Promise<void> {
    const { signal } = options;
    const folder = this.target.path;
    const session = await this.session(signal);
    let stats: Stats;
    try {
      stats = await call.stat(session, folder, signal);
    } catch (error) {
      if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) {
        throw folderMissingError(this.label, folder, `${this.target.user}@${this.target.host}`, this.target.port === 22 ? '' : `-p ${this.target.port} `, error);
      }
      throw this.fail(error, 'read the folder', undefined, signal);
    }
    if (!stats.isDirectory()) throw new UsageError(`${this.label} is a file on the server, not a folder: fix "path" in settings.json.`, { code: 'DESTINATION_NOT_DIR' });
    await call.readdir(session, folder, signal).catch((error: unknown) => {
      throw this.fail(error, 'list', undefined, signal);
    });
    if (options.dryRun) return;
    const probe = `.backup-probe-${randomBytes(6).toString('hex')}`;
    try {
      await createFile(session, this.remotePath(probe), Buffer.from('probe\n'), signal);
    } catch (error) {
      throw this.fail(error, 'write (create a test file in)', undefined, signal);
    }
    await call.unlink(session, this.remotePath(probe), signal).catch((error: unknown) => {
      throw this.fail(error, 'delete a test file from', undefined, signal);
    });
  }

  beginWrite(options: WriteOptions): ArchiveWrite {
    const write = new SftpArchiveWrite(this, options);
    this.writes.add(write);
    return write;
  }

  /** Regular files directly in the folder; temporary names of writes in progress left out. */
  async list(signal?: AbortSignal): Promise<StoredFile[]> {
    let entries: FileEntryWithStats[];
    try {
      entries = await this.retrying(signal, (s) => call.readdir(s, this.target.path, signal));
    } catch (error) {
      if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) {
        throw folderMissingError(this.label, this.target.path, `${this.target.user}@${this.target.host}`, this.target.port === 22 ? '' : `-p ${this.target.port} `, error);
      }
      throw this.fail(error, 'list', undefined, signal);
    }
    return entries
      .filter((e) => e.attrs.isFile() && !isTemporaryName(e.filename))
      .map((e) => ({ name: e.filename, size: e.attrs.size, modified: new Date(e.attrs.mtime * 1000) }));
  }

  async stat(name: string, signal?: AbortSignal): Promise<StoredFile | undefined> {
    let stats: Stats;
    try {
      stats = await this.retrying(signal, (s) => call.stat(s, this.remotePath(name), signal));
    } catch (error) {
      if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) return undefined;
      throw this.fail(error, 'read the attributes of', name, signal);
    }
    if (stats.isDirectory()) throw new UsageError(`${this.locationOf(name)} is a folder, not an archive.`, { code: 'NOT_AN_ARCHIVE' });
    return { name, size: stats.size, modified: new Date(stats.mtime * 1000) };
  }

  /** Opens `name` for reading (on a new connection if the old one dropped), with its attributes. */
  private async openForRead(name: string, signal: AbortSignal | undefined): Promise<{ session: Session; handle: Buffer; stats: Stats }> {
    try {
      return await this.retrying(signal, async (session) => {
        const handle = await call.open(session, this.remotePath(name), 'r', signal);
        try {
          return { session, handle, stats: await call.fstat(session, handle, signal) };
        } catch (error) {
          if (!session.dead) call.close(session, handle).catch(() => undefined);
          throw error;
        }
      });
    } catch (error) {
      throw this.fail(error, 'read', name, signal, true);
    }
  }

  async openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable> {
    const { session, handle, stats } = await this.openForRead(name, signal);
    if (version !== undefined && versionOf(stats) !== version) {
      call.close(session, handle).catch(() => undefined);
      throw new BackupError(`${this.locationOf(name)} was replaced while it was being read; run the command again.`, { code: 'STORE_FAILED' });
    }
    return new SftpReadStream(session, handle, (error) => this.fail(error, 'read', name, signal), signal);
  }

  /**
   * Random reads on one open handle. A dropped connection is survived: the
   * file is opened again on a new one, if it is still the same version.
   */
  async openRanges(name: string, signal?: AbortSignal): Promise<RangeReader> {
    let { session, handle, stats } = await this.openForRead(name, signal);
    const version = versionOf(stats);
    const store = this;
    return {
      size: stats.size,
      version,
      async read(start, length) {
        const out: Buffer[] = [];
        let got = 0;
        let reopened = 0;
        while (got < length) {
          let bytes: Buffer;
          try {
            bytes = await readAt(session, handle, start + got, Math.min(length - got, 256 * 1024), signal);
          } catch (error) {
            if (!(error instanceof SessionLost) || reopened++ >= 1 || signal?.aborted) throw store.fail(error, 'read', name, signal);
            ({ session, handle, stats } = await store.openForRead(name, signal));
            if (versionOf(stats) !== version) throw new BackupError(`${store.locationOf(name)} was replaced while it was being read; run the command again.`, { code: 'STORE_FAILED' });
            continue;
          }
          if (bytes.length === 0) break;
          out.push(bytes);
          got += bytes.length;
        }
        return Buffer.concat(out, got);
      },
      async close() {
        if (!session.dead) await call.close(session, handle).catch(() => undefined);
      },
    };
  }

  /** A sidecar: a regular file of at most maxBytes, read to at most maxBytes + 1. */
  async readText(name: string, maxBytes: number, signal?: AbortSignal): Promise<string | undefined> {
    const where = this.locationOf(name);
    let opened;
    try {
      opened = await this.openForRead(name, signal);
    } catch (error) {
      if (error instanceof BackupError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
    const { session, handle, stats } = opened;
    try {
      if (!stats.isFile()) throw new BackupError(`${where} is not a regular file: it was not read (a sidecar must be a regular file).`, { code: 'SIDECAR_INVALID' });
      if (stats.size > maxBytes) throw new BackupError(`${where} is ${stats.size} bytes, more than a sidecar file can be (${maxBytes}): it was not read.`, { code: 'SIDECAR_TOO_LARGE' });
      const chunks: Buffer[] = [];
      let total = 0;
      for (;;) {
        const bytes = await readAt(session, handle, total, Math.min(maxBytes + 1 - total, 256 * 1024) || 1, signal);
        if (bytes.length === 0) break;
        chunks.push(bytes);
        total += bytes.length;
        if (total > maxBytes) throw new BackupError(`${where} grew past ${maxBytes} bytes while it was read: it was not used.`, { code: 'SIDECAR_TOO_LARGE' });
      }
      return Buffer.concat(chunks, total).toString('utf8');
    } catch (error) {
      throw this.fail(error, 'read', name, signal);
    } finally {
      if (!session.dead) call.close(session, handle).catch(() => undefined);
    }
  }

  /**
   * Written to `.NAME.tmp-HEX` (created exclusively), then moved over NAME
   * with posix-rename@openssh.com (atomic, replaces). A server without it:
   * NAME is removed, then the plain rename (a reader may briefly miss it).
   */
  async writeText(name: string, content: string, signal?: AbortSignal): Promise<void> {
    const body = Buffer.from(content, 'utf8');
    try {
      await this.retrying(signal, async (session) => {
        const temp = this.remotePath(`.${name}.tmp-${randomBytes(8).toString('hex')}`);
        const final = this.remotePath(name);
        try {
          await createFile(session, temp, body, signal);
          try {
            await call.posixRename(session, temp, final, signal);
          } catch (error) {
            if (!/does not support/.test((error as Error).message)) throw error;
            await call.unlink(session, final, signal).catch((e: unknown) => {
              if (sftpStatus(e) !== SFTP_STATUS.NO_SUCH_FILE) throw e;
            });
            await call.rename(session, temp, final, signal);
          }
        } catch (error) {
          if (!session.dead) await call.unlink(session, temp).catch(() => undefined);
          throw error;
        }
      });
    } catch (error) {
      throw this.fail(error, 'write', name, signal);
    }
  }

  async remove(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.retrying(signal, (s) => call.unlink(s, this.remotePath(name), signal));
    } catch (error) {
      if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) return;
      throw this.fail(error, 'delete', name, signal);
    }
  }

  /** Stops the writes in progress (removing what they left), then ends the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const write of [...this.writes]) await write.close();
    this.closed = true;
    this.closing.abort();
    const current = this.current;
    this.current = undefined;
    (await current?.catch(() => undefined))?.end();
  }
}

/** One attempt at a name (a write may reserve again after abort()). */
class Attempt {
  readonly hash: Hash = createHash('sha256');
  readonly inFlight = new Set<Promise<void>>();
  handle: Buffer | undefined;
  handleOpen = false;
  sink: Writable | undefined;
  failure: BackupError | undefined;
  written = 0;
  acknowledged = 0;
  digest: string | undefined;
  finished = false;
  published = false;
  /**
   * Set while the RENAME that publishes may have reached the server with
   * its outcome unknown (the caller stopped waiting, or the connection
   * dropped): abort() then finds out before it deletes anything.
   */
  publishing: CommitInfo | undefined;
  aborted = false;

  constructor(
    readonly fileName: string,
    readonly temp: string,
    readonly session: Session,
  ) {}
}

/** What a RENAME whose answer was lost did, as seen afterwards. */
type PublishOutcome = 'published' | 'not-published' | 'unknown';

class SftpArchiveWrite implements ArchiveWrite {
  readonly kind = 'sftp' as const;
  readonly label: string;
  private attempt: Attempt | undefined;
  private closed = false;
  /**
   * Remote path -> name of every file this write created or may have
   * created: recorded BEFORE the exclusive OPEN is sent (its answer may be
   * lost to Ctrl-C or a dropped connection while the server did create the
   * file), forgotten when the server answers that the create failed (then
   * the file is not ours: it existed, or was never made). abort() deletes
   * what is left here.
   */
  private readonly owned = new Map<string, string>();

  constructor(
    private readonly store: SftpStore,
    private readonly options: WriteOptions,
  ) {
    this.label = store.label;
  }

  private user(extra?: AbortSignal): AbortSignal {
    return extra && extra !== this.options.signal ? AbortSignal.any([this.options.signal, extra]) : this.options.signal;
  }

  private current(method: string): Attempt {
    if (!this.attempt || this.attempt.aborted) throw new Error(`SftpArchiveWrite.${method}() before reserve()`);
    return this.attempt;
  }

  async reserve(fileName: string): Promise<boolean> {
    if (this.closed) throw new Error('SftpArchiveWrite.reserve() after close()');
    if (this.attempt && !this.attempt.aborted) throw new Error('SftpArchiveWrite.reserve() called twice');
    const signal = this.options.signal;
    const store = this.store;
    for (const name of [fileName, ...SIDECAR_SUFFIXES.map((suffix) => fileName + suffix)]) {
      try {
        await store.retrying(signal, (s) => call.lstat(s, store.remotePath(name), signal));
        return false;
      } catch (error) {
        if (sftpStatus(error) !== SFTP_STATUS.NO_SUCH_FILE) throw store.fail(error, 'check the name', name, signal);
      }
    }
    const temp = store.remotePath(partialName(fileName));
    let session: Session;
    let handle: Buffer;
    try {
      session = await store.session(signal);
      this.owned.set(temp, partialName(fileName));
      handle = await call.open(session, temp, 'wx', signal);
    } catch (error) {
      // The server answered: the exclusive create failed, so nothing there is ours.
      if (sftpStatus(error) !== undefined) this.owned.delete(temp);
      if (sftpStatus(error) === SFTP_STATUS.FAILURE) {
        // O_EXCL refused: another write holds the claim (or a run that died left it).
        const there = await store.retrying(signal, (s) => call.lstat(s, temp, signal)).then(() => true, () => false);
        if (there) {
          this.options.logger.debug(`${store.locationOf(partialName(fileName))} exists: another write has claimed ${fileName} (or one that failed left it).`);
          return false;
        }
      }
      throw store.fail(error, 'create', partialName(fileName), signal);
    }
    const attempt = new Attempt(fileName, temp, session);
    attempt.handle = handle;
    attempt.handleOpen = true;
    this.attempt = attempt;
    return true;
  }

  location(): string {
    return this.store.locationOf(this.current('location').fileName);
  }

  private fail(attempt: Attempt, error: unknown, action: string, name: string, signal?: AbortSignal): BackupError {
    if (error instanceof BackupError) return error;
    if (error instanceof SessionLost && !this.user(signal).aborted) {
      return new BackupError(
        `The SSH connection to ${this.store.server} was lost while writing ${this.store.locationOf(attempt.fileName)} (${error.message}${error.timedOutAfterMs !== undefined ? `: no answer for ${Math.round(error.timedOutAfterMs / 1000)} s` : ''}); an upload is not resumed, nothing was published. Check the network and run again.`,
        { code: 'SFTP_CONNECTION_LOST', cause: error },
      );
    }
    return this.store.fail(error, action, name, this.user(signal));
  }

  async open(signal?: AbortSignal): Promise<Writable> {
    const attempt = this.current('open');
    if (attempt.sink) throw new Error('SftpArchiveWrite.open() called twice');
    const user = this.user(signal);
    const { session } = attempt;
    const handle = attempt.handle!;
    const write = this;
    const stop = (error: BackupError) => {
      attempt.failure ??= error;
      attempt.sink?.destroy(attempt.failure);
    };
    const onAbort = () => stop(new CancelledError(undefined, { cause: user.reason }));
    user.addEventListener('abort', onAbort, { once: true });
    /** Sends one piece once a slot is free (the writer waits meanwhile: backpressure). */
    const send = async (piece: Buffer) => {
      while (attempt.inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(attempt.inFlight);
      if (attempt.failure) throw attempt.failure;
      const position = attempt.written;
      attempt.written += piece.length;
      const request: Promise<void> = call
        .write(session, handle, piece, position)
        .then(
          () => {
            attempt.acknowledged += piece.length;
            write.options.onProgress?.(attempt.acknowledged);
          },
          (error: unknown) => stop(write.fail(attempt, error, 'write', partialName(attempt.fileName), signal)),
        )
        .finally(() => attempt.inFlight.delete(request));
      attempt.inFlight.add(request);
    };
    const sink = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        (async () => {
          if (attempt.failure) throw attempt.failure;
          attempt.hash.update(chunk);
          for (let at = 0; at < chunk.length; at += WRITE_PIECE) await send(chunk.subarray(at, at + WRITE_PIECE));
        })().then(() => callback(), (error: unknown) => callback(error as Error));
      },
      final(callback) {
        (async () => {
          await Promise.all(attempt.inFlight);
          if (attempt.failure) throw attempt.failure;
          try {
            // Where offered, the bytes reach the server's disk before the rename publishes them.
            await call.fsync(session, handle, user);
            attempt.handleOpen = false;
            await call.close(session, handle, user);
          } catch (error) {
            throw (attempt.failure = write.fail(attempt, error, 'write', partialName(attempt.fileName), signal));
          }
          attempt.digest = attempt.hash.digest('hex');
          attempt.finished = true;
          user.removeEventListener('abort', onAbort);
        })().then(() => callback(), (error: unknown) => callback(error as Error));
      },
      destroy(error, callback) {
        user.removeEventListener('abort', onAbort);
        if (!attempt.finished) attempt.failure ??= error ? write.fail(attempt, error, 'write', partialName(attempt.fileName), signal) : new CancelledError();
        callback(error);
      },
    });
    attempt.sink = sink;
    return sink;
  }

  /**
   * The size the server reports for the temporary file must be what was
   * sent, and the SHA-256 of the bytes sent (computed while streaming) must
   * be info.sha256. The file is not read back: that would move every byte
   * twice, and each WRITE was acknowledged by the server over SSH's
   * integrity-checked channel.
   */
  async verify(info: CommitInfo, signal?: AbortSignal): Promise<void> {
    const attempt = this.current('verify');
    if (!attempt.finished) throw new Error('SftpArchiveWrite.verify() before the upload finished');
    const where = this.store.locationOf(attempt.fileName);
    const failed = (why: string) => new DestinationError(`Verification failed: ${why} for ${where}; nothing was published.`, { code: 'VERIFY_FAILED' });
    checkSent(where, { bytes: attempt.written, sha256: attempt.digest ?? '' }, info);
    let stats: Stats;
    try {
      stats = await this.store.retrying(this.user(signal), (s) => call.lstat(s, attempt.temp, this.user(signal)));
    } catch (error) {
      throw this.fail(attempt, error, 'read the attributes of', partialName(attempt.fileName), signal);
    }
    if (stats.size !== info.bytes) throw failed(`the server holds ${stats.size} bytes, ${info.bytes} were sent`);
  }

  /** Each sidecar created exclusively ('wx'): an existing file is never replaced (NAME_TAKEN). */
  async writeSidecars(files: readonly SidecarFile[], signal?: AbortSignal): Promise<void> {
    const attempt = this.current('writeSidecars');
    if (attempt.publishing || attempt.published) throw new Error('SftpArchiveWrite.writeSidecars() after publish()');
    const user = this.user(signal);
    for (const file of files) {
      const remote = this.store.remotePath(file.name);
      try {
        const session = await this.store.session(user);
        let created = false;
        // Ours (abort() removes it) unless the server answers that the create failed.
        this.owned.set(remote, file.name);
        await createFile(session, remote, Buffer.from(file.content, 'utf8'), user, () => {
          created = true;
        }).catch(async (error: unknown) => {
          if (!created && sftpStatus(error) !== undefined) this.owned.delete(remote);
          if (!created && sftpStatus(error) === SFTP_STATUS.FAILURE) {
            const there = await call.lstat(session, remote, user).then(() => true, () => false);
            if (there) {
              throw new DestinationError(`${this.store.locationOf(file.name)} appeared during the backup; it was not replaced, and the archive was not published.`, {
                code: 'NAME_TAKEN',
                cause: error,
              });
            }
          }
          throw error;
        });
      } catch (error) {
        throw this.fail(attempt, error, 'write', file.name, signal);
      }
    }
  }

  /**
   * The plain SFTP rename, which never replaces on OpenSSH. If the
   * connection drops before the answer, a new one tells: the temporary name
   * gone and NAME there with our size means it landed. If the caller stops
   * waiting (Ctrl-C) after the RENAME was sent, the server may still do it:
   * the write stays "publishing" and abort() finds out before deleting.
   */
  async publish(info: CommitInfo, signal?: AbortSignal): Promise<Committed> {
    const attempt = this.current('publish');
    if (!attempt.finished) throw new Error('SftpArchiveWrite.publish() before the upload finished');
    const user = this.user(signal);
    const final = this.store.remotePath(attempt.fileName);
    let session: Session;
    try {
      session = await this.store.session(user);
    } catch (error) {
      throw this.fail(attempt, error, 'rename (publish)', partialName(attempt.fileName), signal);
    }
    try {
      attempt.publishing = info;
      await call.rename(session, attempt.temp, final, user);
    } catch (error) {
      // The server answered: the rename was not done.
      if (sftpStatus(error) !== undefined) attempt.publishing = undefined;
      let outcome: PublishOutcome = 'unknown';
      if (error instanceof SessionLost && !user.aborted) {
        outcome = await this.publishOutcome(attempt, info);
        if (outcome === 'not-published') attempt.publishing = undefined;
      }
      if (outcome !== 'published') {
        if (sftpStatus(error) === SFTP_STATUS.FAILURE) {
          const taken = await this.store.retrying(user, (s) => call.lstat(s, final, user)).then(() => true, () => false);
          if (taken) {
            throw new DestinationError(`${this.location()} was created by someone else during the backup; it was not overwritten.`, { code: 'NAME_TAKEN', cause: error });
          }
        }
        throw this.fail(attempt, error, 'rename (publish)', partialName(attempt.fileName), signal);
      }
      this.options.logger.warn(`The connection dropped while publishing ${this.location()}, but the rename had landed: published.`);
    }
    attempt.publishing = undefined;
    attempt.published = true;
    return { fileName: attempt.fileName, location: this.location() };
  }

  /**
   * What a RENAME whose answer was lost did, asked on calls that Ctrl-C
   * does not cancel (each request bounded by the timeout, a few
   * reconnects): the temporary name gone and NAME holding info.bytes is
   * published; the temporary name there and NAME absent or of another size
   * (someone else's: the rename never replaces) is not; anything else, or
   * a server that cannot be reached, is unknown.
   */
  private async publishOutcome(attempt: Attempt, info: CommitInfo): Promise<PublishOutcome> {
    const final = this.store.remotePath(attempt.fileName);
    const sizeOf = (s: Session, p: string) =>
      call.lstat(s, p).then(
        (stats) => stats.size,
        (error: unknown) => {
          if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) return undefined;
          throw error;
        },
      );
    try {
      return await this.store.retrying<PublishOutcome>(undefined, async (s) => {
        const temp = await sizeOf(s, attempt.temp);
        const published = await sizeOf(s, final);
        if (temp === undefined && published === info.bytes) return 'published';
        if (temp !== undefined && published !== info.bytes) return 'not-published';
        return 'unknown';
      });
    } catch {
      return 'unknown';
    }
  }

  /**
   * Stops sending, waits for the WRITEs in flight (bounded by the timeout),
   * closes the handle, then deletes the temporary file and the sidecars
   * this write created or may have created, on a new connection if the old
   * one died. If a publishing RENAME's outcome is unknown, it first finds
   * out: landed means published (nothing deleted); cannot tell means
   * nothing that may belong to a published archive is deleted (the names
   * are logged). Clean-up is not cancelled by Ctrl-C; a failure to clean
   * up is logged.
   */
  async abort(): Promise<void> {
    const attempt = this.attempt;
    if (attempt?.published) return;
    if (attempt && !attempt.aborted) {
      attempt.aborted = true;
      attempt.failure ??= new CancelledError();
      attempt.sink?.destroy();
      await Promise.allSettled([...attempt.inFlight]);
      if (attempt.handleOpen && !attempt.session.dead) {
        attempt.handleOpen = false;
        await call.close(attempt.session, attempt.handle!).catch(() => undefined);
      }
    }
    const owned = [...this.owned];
    this.owned.clear();
    if (attempt?.publishing) {
      const info = attempt.publishing;
      const outcome = await this.publishOutcome(attempt, info);
      attempt.publishing = undefined;
      const where = this.store.locationOf(attempt.fileName);
      if (outcome === 'published') {
        attempt.published = true;
        this.options.logger.warn(`${where} was published (the rename had landed on the server before the write was stopped): the archive and its sidecars are kept.`);
        return;
      }
      if (outcome === 'unknown') {
        const names = [attempt.fileName, ...owned.map(([, name]) => name)];
        this.options.logger.error(
          `Could not tell whether ${where} was published (the server could not be asked, or the rename was still in progress): nothing was deleted. ` +
            `Left in ${this.store.label}: ${names.join(', ')}. If ${attempt.fileName} is there with ${info.bytes} bytes it is complete; otherwise delete these names.`,
        );
        return;
      }
    }
    for (const [remote, name] of owned) {
      try {
        await this.store.retrying(undefined, (s) => call.unlink(s, remote));
      } catch (error) {
        if (sftpStatus(error) === SFTP_STATUS.NO_SUCH_FILE) continue;
        this.options.logger.error(`Could not delete ${this.store.locationOf(name)}: ${this.store.fail(error, 'delete', name).message}`);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.abort();
    this.closed = true;
    this.store.writes.delete(this);
  }
}
