/**
 * An rclone remote (Google Drive, OneDrive, B2, Dropbox, WebDAV, SFTP ...)
 * as a Store, by running the `rclone` program: one child process per
 * operation, with an explicit argv (never a shell), so no archive byte and no
 * credential passes through anything but rclone's own stdin and config.
 *
 * - Credentials stay where rclone keeps them: its config file (`configFile`
 *   or rclone's default) or RCLONE_CONFIG_<NAME>_* / backend option
 *   variables (RCLONE_S3_SECRET_ACCESS_KEY ...) in the environment
 *   (ctx.env). The values of every RCLONE_* variable named like a secret
 *   (`SECRET_ENV`) are registered for redaction.
 * - The environment is ctx.env minus the RCLONE_* variables that are rclone
 *   FLAGS changing what an operation does or prints (filters, --dry-run,
 *   --ignore-*, --backup-dir, -v/--dump, --retries ...: `UNSAFE_FLAG_ENV`):
 *   they could hide sidecars from a listing, make a move a no-op or log
 *   tokens. The remote definitions (RCLONE_CONFIG_*), backend options
 *   (RCLONE_S3_* ...) and tuning (RCLONE_BWLIMIT ...) pass.
 * - stdin and stdout are pipes with backpressure (nothing is held whole in
 *   memory); stderr is kept bounded (its last 8 KiB) and only shown
 *   sanitized (rclone-errors.ts).
 * - Every child is killed on the caller's AbortSignal and on close(); every
 *   call that is not a stream has a time limit (timeoutSeconds, plus an
 *   allowance by size for calls that hash or move a whole file, and
 *   rclone's own --contimeout / --timeout for connections and idle
 *   transfers).
 *
 * Writing one archive (facts about rclone 1.60 in rclone-errors.ts and
 * tests/storage/rclone.test.ts):
 * - reserve: an empty claim is written under our temporary name
 *   `.NAME.partial-<random>`, then the folder is listed: none of NAME,
 *   NAME.sha256, NAME.manifest.json and no other write's `.NAME.partial-*`
 *   may exist, else the claim is deleted and the name is taken. Two writes
 *   claiming at once see each other and both give the name up (never two
 *   winners).
 * - open: `rclone rcat` streams the bytes into that temporary name (rcat
 *   overwrites the claim). Hidden names: list() skips them.
 * - verify: `lsjson --stat --hash --hash-type T` of the temporary file: the
 *   size must be info.bytes, and where the remote offers a hash
 *   (`rclone backend features`: sha256 > sha1 > md5) it must equal that hash
 *   of the bytes we sent, computed as they went through. The SHA-256 of the
 *   bytes sent must also be info.sha256. A remote without any hash (crypt,
 *   some WebDAV) is checked by size only (logged).
 * - Remotes have no create-exclusive: nothing refuses to overwrite except
 *   `moveto --ignore-existing`, which skips (exit 0, the source left
 *   behind) when the target exists. So every final name (sidecars and the
 *   archive) is written under a temporary name first and moved with
 *   --ignore-existing; a temporary file still there afterwards means the
 *   name was taken (NAME_TAKEN, nothing replaced). rclone checks the target
 *   and then moves: another program creating the name in between (a window
 *   of one round trip) would be replaced; `moveto` without the flag always
 *   replaces, and `--immutable` does not stop a moveto (both measured).
 * - abort: kills rcat, then deletes our temporary files and the sidecars
 *   we published (or moved without learning it). If the archive's move
 *   may have happened unseen (killed or timed out, the check after it
 *   failed), it looks first: published means nothing is deleted; unknown
 *   means the sidecars are kept (logged). A crash leaves a hidden
 *   `.NAME.partial-*` (never listed, it keeps NAME reserved: the next run
 *   takes NAME-1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import path from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError, CancelledError, DestinationError, UsageError } from '../errors.js';
import { oneLine, printable } from '../log/printable.js';
import { registerSecretValue } from '../log/redact.js';
import { describeRcloneFailure, isMissingExit, StderrTail, type RcloneOutcome } from './rclone-errors.js';
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

export interface RcloneTarget {
  /** The rclone remote's name, without the colon ("gdrive"). */
  remote: string;
  /** The folder on the remote ('' for its root; "/srv/backups" absolute). */
  path: string;
  /** The rclone program (a path, or a name looked up on ctx.env.PATH); default "rclone". */
  binary?: string;
  /** rclone's config file (--config); default rclone's own. */
  configFile?: string;
  /**
   * A call that is not a stream may take this long, plus an allowance by size
   * for the calls that handle a whole file (hashing it, moving it); rclone's
   * --contimeout / --timeout too. Default 120.
   */
  timeoutSeconds?: number;
}

export type { StoreContext };

const DEFAULT_TIMEOUT_SECONDS = 120;
/** Hashing on the remote (sftp runs md5sum/sha1sum there) reads the whole file: allow this rate on top of the timeout. */
const HASH_BYTES_PER_SECOND = 10 * 1024 * 1024;
/**
 * Moving the archive to its final name is a server-side copy + delete on
 * S3-like remotes (minutes for many GB) and a download + upload on backends
 * without a server-side move: allow this rate on top of the timeout, or
 * twice as long as the upload took, whichever is longer.
 */
const MOVE_BYTES_PER_SECOND = 1024 * 1024;
/** A listing larger than this is refused (about 200,000 files). */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;
/** After SIGTERM, rclone gets this long to exit before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * RCLONE_* environment variables that are rclone flags changing what an
 * operation does, reports or logs: removed from the child's environment.
 */
export const UNSAFE_FLAG_ENV =
  /^RCLONE_(DRY_RUN|INTERACTIVE|I|IGNORE_.*|IMMUTABLE|BACKUP_DIR|SUFFIX.*|COMPARE_DEST|COPY_DEST|MAX_TRANSFER|CUTOFF_MODE|MAX_DURATION|ERROR_ON_NO_TRANSFER|UPDATE|SIZE_ONLY|CHECKSUM|NO_CHECK_DEST|FILTER.*|INCLUDE.*|EXCLUDE.*|FILES_FROM.*|MIN_SIZE|MAX_SIZE|MIN_AGE|MAX_AGE|MAX_DEPTH|DELETE_EXCLUDED|METADATA_(FILTER|INCLUDE|EXCLUDE).*|VERBOSE|V|VV|LOG_.*|USE_JSON_LOG|DUMP.*|STATS.*|PROGRESS|P|SYSLOG.*|RETRIES|CONTIMEOUT|TIMEOUT|ASK_PASSWORD|RC|RC_.*)$/;

/**
 * RCLONE_* variables whose values are secrets: remote definitions
 * (RCLONE_CONFIG_GDRIVE_TOKEN), backend options (RCLONE_S3_SECRET_ACCESS_KEY,
 * RCLONE_B2_KEY, RCLONE_DRIVE_TOKEN, RCLONE_AZUREBLOB_SAS_URL,
 * RCLONE_SFTP_KEY_PEM, RCLONE_WEBDAV_PASS ...) and RCLONE_CONFIG_PASS: any
 * name ending in a secret-looking word. Not *_FILE (paths), *_ID, *_TYPE.
 */
const SECRET_ENV = /^RCLONE_(?:.+_)?(PASS|PASSWORD\d?|PASSPHRASE|SECRET|TOKEN|KEY|PEM|KEY_BASE64|SAS_URL|SAS|CREDENTIALS?|AUTHORIZATION)$/;

/** Our temporary names and check()'s probes: hidden from list(). */
const HIDDEN = /^\.(.+\.partial-[0-9a-f]{12}|backup-probe-[0-9a-f]{12})$/;
/** Hashes we can compute, in order of preference (names as rclone writes them). */
const HASHES = ['sha256', 'sha1', 'md5'] as const;
type HashName = (typeof HASHES)[number];

export function isHiddenName(name: string): boolean {
  return HIDDEN.test(name);
}

/** `.NAME.partial-<12 hex>` */
function tempName(fileName: string, tag: string): string {
  return `.${fileName}.partial-${tag}`;
}

function isTempOf(candidate: string, fileName: string): boolean {
  const prefix = `.${fileName}.partial-`;
  return candidate.startsWith(prefix) && /^[0-9a-f]{12}$/.test(candidate.slice(prefix.length));
}

interface LsEntry {
  Name: string;
  Size: number;
  ModTime: string;
  IsDir: boolean;
  Hashes?: Record<string, string>;
}

/** One running rclone. */
interface Child {
  proc: ChildProcess;
  exit: Promise<RcloneOutcome>;
  /** Stops it (SIGTERM, then SIGKILL); `closed` when close() did. */
  kill(why?: 'closed'): void;
}

export function openRcloneStore(target: RcloneTarget, ctx: StoreContext): Store {
  return new RcloneStore(target, ctx);
}

/** The environment rclone runs with (see the module comment). Registers secret values for redaction. */
export function rcloneEnv(env: Record<string, string | undefined>, home: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || UNSAFE_FLAG_ENV.test(key)) continue;
    if (SECRET_ENV.test(key)) registerSecretEnvValue(value);
    out[key] = value;
  }
  out.HOME ??= home;
  return out;
}

/**
 * Registers a secret variable's value for redaction; an OAuth token is JSON
 * ({"access_token": ..., "refresh_token": ...}) and a backend may print one
 * of its fields alone: those are registered too.
 */
function registerSecretEnvValue(value: string): void {
  registerSecretValue(value);
  if (!value.trimStart().startsWith('{')) return;
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed === null || typeof parsed !== 'object') return;
    for (const [field, inner] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof inner === 'string' && /token|secret|key|pass/i.test(field)) registerSecretValue(inner);
    }
  } catch {
    // Not JSON: the whole value is registered.
  }
}

class RcloneStore implements Store {
  readonly kind = 'rclone' as const;
  readonly name: string;
  readonly label: string;
  readonly target: RcloneTarget;
  readonly timeoutMs: number;
  readonly binary: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly cwd: string;
  private readonly configFile: string | undefined;
  private readonly globalFlags: string[];
  private closed = false;
  /** Every rclone running for this store: killed by close(). */
  readonly children = new Set<Child>();
  readonly writes = new Set<RcloneArchiveWrite>();
  private hashType: Promise<HashName | undefined> | undefined;

  constructor(target: RcloneTarget, ctx: StoreContext) {
    this.target = target;
    this.name = ctx.name;
    this.label = `${target.remote}:${target.path}`;
    this.timeoutMs = (target.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    this.cwd = ctx.cwd;
    const expand = (p: string) => (p === '~' || p.startsWith('~/') ? path.join(ctx.home, p.slice(1)) : p);
    const binary = expand(target.binary ?? 'rclone');
    this.binary = binary.includes('/') ? path.resolve(ctx.cwd, binary) : binary;
    this.configFile = target.configFile === undefined ? undefined : path.resolve(ctx.cwd, expand(target.configFile));
    this.env = rcloneEnv(ctx.env, ctx.home);
    const seconds = `${Math.ceil(this.timeoutMs / 1000)}s`;
    this.globalFlags = [
      // Never wait for a password on a terminal: an encrypted config needs RCLONE_CONFIG_PASS.
      '--ask-password=false',
      // rclone's whole-operation retries would run a failed listing or delete 3 times (and rcat cannot be retried).
      '--retries',
      '1',
      '--contimeout',
      seconds,
      '--timeout',
      seconds,
      ...(this.configFile ? ['--config', this.configFile] : []),
    ];
  }

  /** `remote:path` of the folder. */
  folderPath(): string {
    return `${this.target.remote}:${this.target.path}`;
  }

  /** `remote:path/name`. */
  pathOf(name: string): string {
    checkName(name);
    const dir = this.target.path;
    return `${this.target.remote}:${dir === '' ? '' : dir.endsWith('/') ? dir : `${dir}/`}${name}`;
  }

  locationOf(name: string): string {
    return this.pathOf(name);
  }

  private configDescription(): string {
    if (this.configFile) return this.configFile;
    const fromEnv = this.env.RCLONE_CONFIG;
    return fromEnv ? `${fromEnv} (RCLONE_CONFIG)` : "rclone's default, ~/.config/rclone/rclone.conf";
  }

  fail(op: string, where: string, outcome: RcloneOutcome, signal: AbortSignal | undefined, write: boolean): BackupError {
    return describeRcloneFailure(outcome, {
      op,
      where: printable(where),
      remote: this.target.remote,
      binary: this.binary,
      configFile: this.configDescription(),
      write,
      signal,
    });
  }

  /**
   * Starts `rclone OP FLAGS ARGS`. Killed when `signal` aborts, when
   * `timeoutMs` passes, or on close(). stderr is kept bounded.
   */
  spawn(op: string, args: string[], options: { stdin?: boolean; signal?: AbortSignal; timeoutMs?: number } = {}): Child {
    if (this.closed) throw new BackupError(`The rclone destination ${this.label} was used after close().`, { code: 'INTERNAL' });
    const tail = new StderrTail();
    let timedOutAfterMs: number | undefined;
    let closedBy = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    const proc = spawn(this.binary, [op, ...this.globalFlags, ...args], {
      env: this.env,
      cwd: this.cwd,
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // EPIPE when rclone exits before taking all of stdin: its exit code says why.
    proc.stdin?.on('error', () => undefined);
    proc.stderr!.on('data', (chunk: Buffer) => tail.push(chunk));
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (why?: 'closed') => {
      if (why === 'closed') closedBy = true;
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
      proc.kill('SIGTERM');
      killTimer ??= setTimeout(() => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      }, KILL_GRACE_MS);
    };
    const onAbort = () => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOutAfterMs = options.timeoutMs;
            kill();
          }, options.timeoutMs);
    const exit = new Promise<RcloneOutcome>((resolve) => {
      const done = (code: number | null) => {
        clearTimeout(timer);
        clearTimeout(killTimer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve({ code, stderr: tail.text(), spawnError, timedOutAfterMs, closed: closedBy });
      };
      proc.once('error', (error: NodeJS.ErrnoException) => {
        spawnError = error;
        // Never started: no 'close' is certain to follow.
        if (proc.pid === undefined) done(null);
      });
      proc.once('close', (code) => done(spawnError ? null : code));
    });
    const child: Child = { proc, exit, kill };
    this.children.add(child);
    void exit.then(() => this.children.delete(child));
    if (options.signal?.aborted) kill();
    return child;
  }

  /**
   * Runs rclone to the end: stdout collected (at most `maxStdout` bytes:
   * more kills it and fails), `input` given on stdin. The outcome is
   * returned for the caller to judge (a missing file is exit 3).
   */
  async exec(
    op: string,
    args: string[],
    options: { signal?: AbortSignal; timeoutMs?: number; maxStdout?: number; input?: Buffer } = {},
  ): Promise<{ outcome: RcloneOutcome; stdout: Buffer; overflow: boolean }> {
    const child = this.spawn(op, args, { stdin: options.input !== undefined, signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs });
    const limit = options.maxStdout ?? MAX_LISTING_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    let overflow = false;
    child.proc.stdout!.on('data', (chunk: Buffer) => {
      if (overflow) return;
      size += chunk.length;
      if (size > limit) {
        overflow = true;
        chunks.length = 0;
        child.kill();
      } else chunks.push(chunk);
    });
    child.proc.stdin?.end(options.input);
    const outcome = await child.exit;
    return { outcome, stdout: Buffer.concat(chunks), overflow };
  }

  /** Runs rclone; a non-zero exit (or a kill) throws the mapped error. */
  async run(op: string, args: string[], where: string, options: { signal?: AbortSignal; timeoutMs?: number; input?: Buffer; write?: boolean } = {}): Promise<Buffer> {
    const { outcome, stdout, overflow } = await this.exec(op, args, options);
    if (outcome.code !== 0) throw this.fail(op, where, outcome, options.signal, options.write ?? false);
    if (overflow) throw new BackupError(`rclone ${op} for ${printable(where)} printed more than ${MAX_LISTING_BYTES} bytes; refused.`, { code: 'RCLONE_FAILED' });
    return stdout;
  }

  /** The timeout of a call that handles `bytes` of a file at `bytesPerSecond` (at least `minMs` on top of the timeout). */
  wholeFileTimeoutMs(bytes: number, bytesPerSecond: number, minMs = 0): number {
    return this.timeoutMs + Math.max((bytes / bytesPerSecond) * 1000, minMs);
  }

  /** Everything directly in the folder, hidden names included; undefined if the folder does not exist. */
  async listRaw(signal?: AbortSignal): Promise<LsEntry[] | undefined> {
    const where = this.folderPath();
    const { outcome, stdout, overflow } = await this.exec('lsjson', ['--files-only', '--no-mimetype', where], { signal });
    // A failed lsjson leaves an unfinished "[" on stdout: never parsed.
    if (isMissingExit(outcome.code)) return undefined;
    if (outcome.code !== 0) throw this.fail('lsjson', where, outcome, signal, false);
    if (overflow) throw new BackupError(`The listing of ${printable(where)} is larger than ${MAX_LISTING_BYTES} bytes; refused.`, { code: 'RCLONE_FAILED' });
    return parseJson<LsEntry[]>(stdout, 'lsjson', where).filter((e) => !e.IsDir);
  }

  /** lsjson --stat of one file (with one hash if asked); undefined if it does not exist. */
  async statEntry(name: string, signal?: AbortSignal, hash?: { type: HashName; bytes: number }): Promise<LsEntry | undefined> {
    const where = this.pathOf(name);
    const args = ['--stat', '--no-mimetype', ...(hash ? ['--hash', '--hash-type', hash.type] : []), where];
    const timeoutMs = hash ? this.wholeFileTimeoutMs(hash.bytes, HASH_BYTES_PER_SECOND) : undefined;
    const { outcome, stdout } = await this.exec('lsjson', args, { signal, timeoutMs, maxStdout: 1024 * 1024 });
    if (isMissingExit(outcome.code)) return undefined;
    if (outcome.code !== 0) throw this.fail('lsjson', where, outcome, signal, false);
    return parseJson<LsEntry>(stdout, 'lsjson --stat', where);
  }

  /** Deletes one file; a missing one (or folder) is fine. */
  async deleteFile(name: string, signal?: AbortSignal, write = false): Promise<void> {
    const where = this.pathOf(name);
    const { outcome } = await this.exec('deletefile', [where], { signal });
    if (outcome.code === 0 || isMissingExit(outcome.code)) return;
    // rclone 1.60: exit 1 "... is a directory or doesn't exist".
    if (outcome.code === 1 && /is a directory or doesn't exist|object not found|directory not found/.test(outcome.stderr)) return;
    throw this.fail('deletefile', where, outcome, signal, write);
  }

  /** Streams `input` (a Buffer) into `name` with rcat (overwrites). */
  async rcatBuffer(name: string, input: Buffer, signal?: AbortSignal, write = false): Promise<void> {
    await this.run('rcat', [this.pathOf(name)], this.pathOf(name), { signal, input, write });
  }

  /**
   * The best hash this remote offers that we can compute (sha256 > sha1 >
   * md5), from `rclone backend features`; undefined: none. Asked once.
   */
  bestHash(signal?: AbortSignal): Promise<HashName | undefined> {
    this.hashType ??= (async () => {
      const where = this.folderPath();
      const out = await this.run('backend', ['features', where], where, { signal });
      const offered = (parseJson<{ Hashes?: string[] }>(out, 'backend features', where).Hashes ?? []).map((h) => h.toLowerCase());
      return HASHES.find((h) => offered.includes(h));
    })();
    this.hashType.catch(() => (this.hashType = undefined));
    return this.hashType;
  }

  /**
   * rclone found and runnable, the remote configured, the folder reachable
   * (lsjson). A missing folder is created with `rclone mkdir` on a real run
   * (remote folders are cheap; on a bucket-based remote such as S3 a
   * missing bucket is created by it), and a dry run accepts it. Then,
   * unless a dry run, a write probe: a 1-byte `.backup-probe-*` rcat and
   * deleted again (prune and abort need delete).
   */
  async check(options: CheckOptions): Promise<void> {
    const { signal } = options;
    const listed = await this.listRaw(signal);
    if (listed === undefined) {
      if (options.dryRun) return;
      await this.run('mkdir', [this.folderPath()], this.folderPath(), { signal });
    }
    if (options.dryRun) return;
    const probe = `.backup-probe-${randomBytes(6).toString('hex')}`;
    await this.rcatBuffer(probe, Buffer.from('p'), signal, true);
    try {
      await this.deleteFile(probe, signal, true);
    } catch (error) {
      throw error instanceof BackupError && error.code === 'RCLONE_FAILED'
        ? new DestinationError(`${error.message} (the check could write ${printable(this.pathOf(probe))} but not delete it: prune and failed runs need delete)`, {
            code: 'RCLONE_FAILED',
            cause: error,
          })
        : error;
    }
  }

  beginWrite(options: WriteOptions): ArchiveWrite {
    const write = new RcloneArchiveWrite(this, options);
    this.writes.add(write);
    return write;
  }

  /** Files directly in the folder (rclone lsjson, not recursive); our temporary names and probes skipped. */
  async list(signal?: AbortSignal): Promise<StoredFile[]> {
    const entries = await this.listRaw(signal);
    if (entries === undefined) {
      throw new UsageError(`The folder ${printable(this.folderPath())} does not exist on the rclone remote.`, { code: 'DESTINATION_NOT_FOUND' });
    }
    return entries.filter((e) => !isHiddenName(e.Name)).map((e) => toStored(e));
  }

  async stat(name: string, signal?: AbortSignal): Promise<StoredFile | undefined> {
    const entry = await this.statEntry(name, signal);
    if (!entry) return undefined;
    if (entry.IsDir) throw new UsageError(`${printable(this.pathOf(name))} is a folder, not an archive.`, { code: 'NOT_AN_ARCHIVE' });
    return toStored(entry, name);
  }

  private async mustStat(name: string, signal?: AbortSignal): Promise<StoredFile> {
    const found = await this.stat(name, signal);
    if (!found) throw new BackupError(`${printable(this.pathOf(name))} does not exist.`, { code: 'NOT_FOUND' });
    return found;
  }

  /**
   * `rclone cat` straight into the reader. The stream ends only once rclone
   * exited 0 and gave exactly the size listed (a failure mid-way is an
   * error, never a short file). With `version` (size and time, from
   * openRanges) it fails rather than read a file replaced since.
   */
  async openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable> {
    const file = await this.mustStat(name, signal);
    if (version !== undefined && version !== versionOf(file)) {
      throw new BackupError(`${printable(this.pathOf(name))} was replaced while it was being read; run the command again.`, { code: 'STORE_FAILED' });
    }
    const where = this.pathOf(name);
    const child = this.spawn('cat', [where], { signal });
    let got = 0;
    const gate = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        got += chunk.length;
        callback(null, chunk);
      },
      flush: (callback) => {
        void child.exit.then((outcome) => {
          if (outcome.code !== 0) return callback(this.fail('cat', where, outcome, signal, false));
          if (got !== file.size) {
            return callback(new BackupError(`${printable(where)} gave ${got} bytes, ${file.size} were listed: it changed while being read; run the command again.`, { code: 'STORE_FAILED' }));
          }
          callback();
        });
      },
      destroy(error, callback) {
        child.kill();
        callback(error);
      },
    });
    pipeline(child.proc.stdout!, gate).catch((error: unknown) => gate.destroy(error as Error));
    return gate;
  }

  /** Each read is one `rclone cat --offset --count`. rclone has no conditional read: the version is checked on open only. */
  async openRanges(name: string, signal?: AbortSignal): Promise<RangeReader> {
    const file = await this.mustStat(name, signal);
    const where = this.pathOf(name);
    return {
      size: file.size,
      version: versionOf(file),
      read: async (start, length) => {
        if (length === 0) return Buffer.alloc(0);
        const expected = Math.max(0, Math.min(length, file.size - start));
        const { outcome, stdout, overflow } = await this.exec('cat', ['--offset', String(start), '--count', String(length), where], {
          signal,
          maxStdout: length,
          timeoutMs: this.wholeFileTimeoutMs(length, HASH_BYTES_PER_SECOND),
        });
        if (outcome.code !== 0 && !overflow) {
          if (isMissingExit(outcome.code)) throw new BackupError(`${printable(where)} does not exist (any more).`, { code: 'NOT_FOUND' });
          throw this.fail('cat', where, outcome, signal, false);
        }
        if (overflow || stdout.length !== expected) {
          throw new BackupError(`rclone cat gave ${overflow ? 'more' : stdout.length} bytes of ${printable(where)} at ${start}, ${expected} were asked for: it changed while being read?`, {
            code: 'STORE_FAILED',
          });
        }
        return stdout;
      },
      close: async () => undefined,
    };
  }

  async readText(name: string, maxBytes: number, signal?: AbortSignal): Promise<string | undefined> {
    const where = this.pathOf(name);
    const { outcome, stdout, overflow } = await this.exec('cat', ['--count', String(maxBytes + 1), where], { signal, maxStdout: maxBytes });
    if (overflow || (outcome.code === 0 && stdout.length > maxBytes)) {
      throw new BackupError(`${printable(where)} is more than ${maxBytes} bytes, more than a sidecar file can be: it was not read.`, { code: 'SIDECAR_TOO_LARGE' });
    }
    if (isMissingExit(outcome.code)) return undefined;
    if (outcome.code !== 0) throw this.fail('cat', where, outcome, signal, false);
    return stdout.toString('utf8');
  }

  /** rcat to a temporary name, then moveto (which replaces): readers see the old or the new file whole. */
  async writeText(name: string, content: string, signal?: AbortSignal): Promise<void> {
    const temp = tempName(name, randomBytes(6).toString('hex'));
    try {
      await this.rcatBuffer(temp, Buffer.from(content, 'utf8'), signal);
      await this.run('moveto', [this.pathOf(temp), this.pathOf(name)], this.pathOf(name), { signal });
    } catch (error) {
      await this.deleteFile(temp).catch(() => undefined);
      throw error;
    }
  }

  async remove(name: string, signal?: AbortSignal): Promise<void> {
    await this.deleteFile(name, signal);
  }

  /** Stops the writes in progress (removing what they left) and kills every rclone still running. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const write of [...this.writes]) await write.close();
    this.closed = true;
    const running = [...this.children];
    for (const child of running) child.kill('closed');
    await Promise.all(running.map((child) => child.exit));
  }
}

/** Waits for all; then throws the first failure (so no operation is left running behind an error). */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

function checkName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (name === '' || name === '.' || name === '..' || name.includes('/') || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new UsageError(`${printable(name)} is not a file name (it must not be empty, hold "/" or control characters).`);
  }
}

function parseJson<T>(stdout: Buffer, op: string, where: string): T {
  try {
    return JSON.parse(stdout.toString('utf8')) as T;
  } catch (error) {
    throw new BackupError(`rclone ${op} for ${printable(where)} printed something that is not JSON (${oneLine(stdout.subarray(0, 80).toString('utf8'))}...).`, {
      code: 'RCLONE_FAILED',
      cause: error,
    });
  }
}

function toStored(entry: LsEntry, name = entry.Name): StoredFile {
  const modified = new Date(entry.ModTime);
  return { name, size: entry.Size, modified: Number.isNaN(modified.getTime()) ? new Date(0) : modified };
}

/** rclone has no ETag: size and modification time stand for the version. */
function versionOf(file: StoredFile): string {
  return `${file.size}@${file.modified.toISOString()}`;
}

/** The state of one attempt at a name (a fresh one after abort()). */
class Attempt {
  readonly tag = randomBytes(6).toString('hex');
  readonly temp: string;
  child: Child | undefined;
  sink: Writable | undefined;
  readonly sha256 = createHash('sha256');
  /** The remote's hash, when it is not sha256, computed of the bytes sent too. */
  other: { type: HashName; hash: Hash } | undefined;
  hashType: HashName | undefined;
  sentSha256: string | undefined;
  sentOther: string | undefined;
  written = 0;
  /** When rcat started, and how long the upload took (the archive's move may take as long). */
  uploadStarted = 0;
  uploadMs = 0;
  finished = false;
  /**
   * Set by publish() before the archive's moveto: from then on the archive
   * may be under its final name even if we never learn it (moveto killed
   * after the move, the stat after it failing). abort() looks first.
   */
  publishing: { bytes: number } | undefined;
  published = false;
  aborted = false;
  /** Aborted by abort(): stops a publish() or writeSidecars() still running (close() during one). */
  readonly stop = new AbortController();
  /** publish() / writeSidecars() in progress (settled), for abort() to wait for. */
  readonly busy = new Set<Promise<void>>();
  /** Names of ours that may exist at the remote and go on abort(): the temporary files. */
  readonly temps = new Set<string>();
  /** Sidecars this attempt published under their final names. */
  readonly sidecars: string[] = [];
  /**
   * Sidecar moves started whose outcome is not known yet: if the temporary
   * name is gone, we moved it (--ignore-existing leaves it when the final
   * name is taken) and the final name is ours to delete.
   */
  readonly sidecarMoves: { temp: string; final: string }[] = [];

  constructor(readonly fileName: string) {
    this.temp = tempName(fileName, this.tag);
  }
}

class RcloneArchiveWrite implements ArchiveWrite {
  readonly kind = 'rclone' as const;
  readonly label: string;
  private attempt: Attempt | undefined;
  private closed = false;

  constructor(
    private readonly store: RcloneStore,
    private readonly options: WriteOptions,
  ) {
    this.label = store.label;
  }

  /** The write's signal, the attempt's `stop` and the call's own. */
  private signal(attempt: Attempt, extra?: AbortSignal): AbortSignal {
    return AbortSignal.any([this.options.signal, attempt.stop.signal, ...(extra && extra !== this.options.signal ? [extra] : [])]);
  }

  /** Runs `work`, known to abort() (which waits for it) until it settles. */
  private async track<T>(attempt: Attempt, work: () => Promise<T>): Promise<T> {
    const running = work();
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    attempt.busy.add(settled);
    try {
      return await running;
    } finally {
      attempt.busy.delete(settled);
    }
  }

  private current(method: string): Attempt {
    if (!this.attempt || this.attempt.aborted) throw new Error(`RcloneArchiveWrite.${method}() before reserve()`);
    return this.attempt;
  }

  /**
   * See the module comment: the claim is written first, then the folder
   * listed once (one round trip fewer than listing first, when the name is
   * free, as it mostly is).
   */
  async reserve(fileName: string): Promise<boolean> {
    if (this.closed) throw new Error('RcloneArchiveWrite.reserve() after close()');
    if (this.attempt && !this.attempt.aborted) throw new Error('RcloneArchiveWrite.reserve() called twice');
    checkName(fileName);
    const signal = this.options.signal;
    const finals = new Set([fileName, ...SIDECAR_SUFFIXES.map((suffix) => fileName + suffix)]);
    const attempt = new Attempt(fileName);
    attempt.temps.add(attempt.temp);
    this.attempt = attempt;
    try {
      await this.store.rcatBuffer(attempt.temp, Buffer.alloc(0), signal, true);
      const [listing, hashType] = await Promise.all([this.store.listRaw(signal), this.store.bestHash(signal)]);
      const taken = (listing ?? []).filter((e) => finals.has(e.Name) || (isTempOf(e.Name, fileName) && e.Name !== attempt.temp));
      if (taken.length > 0) {
        this.options.logger.debug(`${printable(this.store.pathOf(fileName))} is taken (${taken.map((e) => printable(e.Name)).join(', ')}).`);
        await this.abort();
        return false;
      }
      attempt.hashType = hashType;
    } catch (error) {
      await this.abort();
      throw error;
    }
    return true;
  }

  location(): string {
    return this.store.locationOf(this.current('location').fileName);
  }

  /**
   * `rclone rcat` into the temporary name; the sink's writes wait for the
   * pipe (backpressure). onProgress counts the bytes rclone has taken from
   * the pipe's buffer: rclone does not say what the remote acknowledged.
   * (A backend without streaming uploads makes rcat spool to a local temp
   * file first; rclone's cache folder then needs room for the archive.)
   */
  async open(signal?: AbortSignal): Promise<Writable> {
    const attempt = this.current('open');
    if (attempt.sink) throw new Error('RcloneArchiveWrite.open() called twice');
    const user = this.signal(attempt, signal);
    const where = this.store.pathOf(attempt.temp);
    attempt.uploadStarted = Date.now();
    const child = this.store.spawn('rcat', [where], { stdin: true, signal: user });
    attempt.child = child;
    if (attempt.hashType && attempt.hashType !== 'sha256') attempt.other = { type: attempt.hashType, hash: createHash(attempt.hashType) };
    const stdin = child.proc.stdin!;
    const store = this.store;
    const options = this.options;
    const failed = async (): Promise<never> => {
      const outcome = await child.exit;
      throw outcome.code === 0
        ? new DestinationError(`rclone rcat for ${printable(where)} stopped reading before the end of the archive.`, { code: 'RCLONE_FAILED' })
        : store.fail('rcat', store.pathOf(attempt.fileName), outcome, user, true);
    };
    /** Resolves when the pipe takes more; fails if rclone exited meanwhile. */
    const drained = () =>
      new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          cleanup();
          resolve();
        };
        const onExit = () => {
          cleanup();
          failed().catch(reject);
        };
        const cleanup = () => {
          stdin.off('drain', onDrain);
          stdin.off('close', onExit);
        };
        stdin.on('drain', onDrain);
        stdin.on('close', onExit);
      });
    const sink = new Writable({
      highWaterMark: 256 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        (async () => {
          if (user.aborted) throw new CancelledError();
          if (stdin.destroyed || stdin.writableEnded) await failed();
          attempt.sha256.update(chunk);
          attempt.other?.hash.update(chunk);
          attempt.written += chunk.length;
          if (!stdin.write(chunk)) await drained();
          options.onProgress?.(attempt.written);
        })().then(() => callback(), (error: unknown) => callback(error as Error));
      },
      final(callback) {
        (async () => {
          stdin.end();
          const outcome = await child.exit;
          if (outcome.code !== 0) throw store.fail('rcat', store.pathOf(attempt.fileName), outcome, user, true);
          attempt.sentSha256 = attempt.sha256.digest('hex');
          attempt.sentOther = attempt.other?.hash.digest('hex');
          attempt.uploadMs = Date.now() - attempt.uploadStarted;
          attempt.finished = true;
        })().then(() => callback(), (error: unknown) => callback(error as Error));
      },
      destroy(error, callback) {
        // A destroyed sink (upstream failure, Ctrl-C) sends nothing more.
        if (!attempt.finished) child.kill();
        callback(error);
      },
    });
    attempt.sink = sink;
    return sink;
  }

  /**
   * The temporary file's size must be info.bytes, the SHA-256 of the bytes
   * sent info.sha256, and the remote's own hash of the file (when it has
   * one) the same hash of the bytes sent. Nothing visible changes.
   */
  async verify(info: CommitInfo, signal?: AbortSignal): Promise<void> {
    const attempt = this.current('verify');
    if (!attempt.finished) throw new Error('RcloneArchiveWrite.verify() before the upload finished');
    const where = this.store.pathOf(attempt.fileName);
    const fail = (what: string) => new DestinationError(`Verification failed: ${what} for ${printable(where)}; nothing was published.`, { code: 'VERIFY_FAILED' });
    checkSent(printable(where), { bytes: attempt.written, sha256: attempt.sentSha256 ?? '' }, info);
    const type = attempt.hashType;
    const entry = await this.store.statEntry(attempt.temp, this.signal(attempt, signal), type ? { type, bytes: info.bytes } : undefined);
    if (!entry) throw fail(`the uploaded file ${printable(attempt.temp)} is gone`);
    if (entry.Size !== info.bytes) throw fail(`the remote holds ${entry.Size} bytes, ${info.bytes} were sent`);
    if (!type) {
      this.options.logger.debug(`${this.store.label} offers no hash rclone can give: ${printable(where)} was checked by its size only.`);
      return;
    }
    const remote = entry.Hashes?.[type]?.toLowerCase();
    const sent = type === 'sha256' ? attempt.sentSha256 : attempt.sentOther;
    if (!remote) {
      // sftp without md5sum/sha1sum on the server, an S3 multipart object without its MD5 ...
      this.options.logger.debug(`${this.store.label} gave no ${type} for ${printable(where)}: checked by its size only.`);
      return;
    }
    if (remote !== sent) throw fail(`the remote's ${type} is ${remote}, the bytes sent have ${sent}`);
  }

  /**
   * The sidecars are written (rcat) to temporary names, all at once, then
   * moved with moveto --ignore-existing to their final names; a temporary
   * file left behind (one listing) means that name exists: NAME_TAKEN, it
   * was not replaced.
   */
  async writeSidecars(files: readonly SidecarFile[], signal?: AbortSignal): Promise<void> {
    const attempt = this.current('writeSidecars');
    await this.track(attempt, () => this.writeSidecarFiles(attempt, files, this.signal(attempt, signal)));
  }

  private async writeSidecarFiles(attempt: Attempt, files: readonly SidecarFile[], user: AbortSignal): Promise<void> {
    const items = files.map((file) => {
      checkName(file.name);
      const temp = tempName(file.name, attempt.tag);
      attempt.temps.add(temp);
      return { file, temp };
    });
    if (items.length === 0) return;
    await settleAll(items.map(({ file, temp }) => this.store.rcatBuffer(temp, Buffer.from(file.content, 'utf8'), user, true)));
    const moves = items.map(({ file, temp }) => ({ temp, final: file.name }));
    attempt.sidecarMoves.push(...moves);
    await settleAll(moves.map(({ temp, final }) => this.moveIgnoringExisting(temp, final, user)));
    const left = new Set(((await this.store.listRaw(user)) ?? []).map((e) => e.Name));
    const taken: string[] = [];
    for (const { file, temp } of items) {
      if (left.has(temp)) taken.push(file.name);
      else {
        attempt.temps.delete(temp);
        attempt.sidecars.push(file.name);
      }
    }
    // Known now: published (in `sidecars`) or not moved (still in `temps`).
    for (const move of moves) attempt.sidecarMoves.splice(attempt.sidecarMoves.indexOf(move), 1);
    if (taken.length > 0) {
      throw new DestinationError(`${taken.map((n) => printable(this.store.pathOf(n))).join(', ')} appeared during the backup; not replaced, and the archive was not published.`, {
        code: 'NAME_TAKEN',
      });
    }
  }

  /** moveto --ignore-existing: moves, or (the target exists) leaves the source where it is, exit 0 either way. */
  private async moveIgnoringExisting(temp: string, final: string, signal: AbortSignal, timeoutMs?: number): Promise<void> {
    await this.store.run('moveto', ['--ignore-existing', this.store.pathOf(temp), this.store.pathOf(final)], this.store.pathOf(final), {
      signal,
      write: true,
      timeoutMs,
    });
  }

  /**
   * moveto --ignore-existing, then the temporary name must be gone (see the
   * module comment for the window). The move may copy the whole archive
   * (server-side, or down and up again): its time limit grows with the size.
   */
  async publish(info: CommitInfo, signal?: AbortSignal): Promise<Committed> {
    const attempt = this.current('publish');
    if (!attempt.finished) throw new Error('RcloneArchiveWrite.publish() before the upload finished');
    const user = this.signal(attempt, signal);
    attempt.publishing = { bytes: info.bytes };
    await this.track(attempt, async () => {
      const timeoutMs = this.store.wholeFileTimeoutMs(info.bytes, MOVE_BYTES_PER_SECOND, 2 * attempt.uploadMs);
      await this.moveIgnoringExisting(attempt.temp, attempt.fileName, user, timeoutMs);
      // Still there: the final name existed and --ignore-existing skipped the move.
      if ((await this.store.statEntry(attempt.temp, user)) !== undefined) {
        attempt.publishing = undefined;
        throw new DestinationError(`${printable(this.location())} was created by someone else during the backup; it was not overwritten.`, { code: 'NAME_TAKEN' });
      }
    });
    attempt.temps.delete(attempt.temp);
    attempt.published = true;
    return { fileName: attempt.fileName, location: this.location() };
  }

  /** lsjson --stat, not cancelled by the write's signal (bounded by the timeout); 'unknown' if it fails. */
  private async look(name: string): Promise<LsEntry | undefined | 'unknown'> {
    try {
      return await this.store.statEntry(name);
    } catch (error) {
      this.options.logger.error(`Could not look at ${printable(this.store.pathOf(name))}: ${(error as Error).message}`);
      return 'unknown';
    }
  }

  /**
   * Kills rcat (and waits for it to exit: no byte lands after the delete),
   * stops a publish() or sidecar write still running and waits for it, then
   * deletes our temporary files and the sidecars we published. Not
   * cancelled by Ctrl-C; each call is bounded by the timeout.
   *
   * A move whose outcome we did not learn (killed, timed out, or the check
   * after it failed) is looked at first: the archive's temporary name gone
   * and its final name holding info.bytes means it was published: nothing
   * is deleted. If that cannot be told, the sidecars are kept (an archive
   * without its sidecars is worse than stray sidecars) and named in the log.
   * A sidecar whose temporary name is gone was moved by us: its final name
   * is deleted with the others.
   */
  async abort(): Promise<void> {
    const attempt = this.attempt;
    if (!attempt || attempt.published || attempt.aborted) return;
    attempt.aborted = true;
    attempt.stop.abort();
    attempt.sink?.destroy();
    if (attempt.child) {
      attempt.child.kill();
      await attempt.child.exit;
    }
    await Promise.all(attempt.busy);
    const logger = this.options.logger;
    const shown = (names: readonly string[]) => names.map((n) => printable(this.store.pathOf(n))).join(', ');
    const moves = attempt.sidecarMoves.splice(0);
    const [archive, sidecarTemps] = await Promise.all([
      attempt.publishing ? Promise.all([this.look(attempt.temp), this.look(attempt.fileName)]) : undefined,
      Promise.all(moves.map((move) => this.look(move.temp))),
    ]);
    const sidecars = attempt.sidecars.splice(0);
    const unsure: string[] = [];
    moves.forEach((move, i) => {
      const temp = sidecarTemps[i];
      if (temp === undefined) sidecars.push(move.final);
      else if (temp === 'unknown') unsure.push(move.final);
    });
    let keepSidecars = false;
    if (archive && attempt.publishing) {
      const [temp, final] = archive;
      const complete = final !== undefined && final !== 'unknown' && final.Size === attempt.publishing.bytes;
      if (temp === undefined && complete) {
        attempt.published = true;
        attempt.temps.clear();
        logger.warn(
          `${printable(this.store.pathOf(attempt.fileName))} was published before the write was stopped (the move had happened); it is kept with its sidecars${sidecars.length > 0 ? ` (${shown(sidecars)})` : ''}.`,
        );
        return;
      }
      // Not told apart: published or not (or a move that copied but did not delete the original).
      keepSidecars = temp === 'unknown' || final === 'unknown' || complete;
    }
    const names = [...attempt.temps, ...(keepSidecars ? [] : sidecars)];
    attempt.temps.clear();
    const kept = [...(keepSidecars ? sidecars : []), ...unsure];
    if (keepSidecars) {
      logger.error(
        `Could not tell whether ${printable(this.store.pathOf(attempt.fileName))} was published before the write was stopped; its sidecars were kept: ${kept.length > 0 ? shown(kept) : 'none'}. If the archive is not there (or not complete), delete them by hand.`,
      );
    } else if (unsure.length > 0) {
      logger.error(`Could not tell whether these sidecars were moved to their final names before the write was stopped; if so they are left over: ${shown(unsure)}.`);
    }
    await Promise.all(
      names.map((name) =>
        this.store.deleteFile(name, undefined, true).catch((error: unknown) => {
          this.options.logger.error(`Could not delete ${printable(this.store.pathOf(name))}: ${(error as Error).message}`);
        }),
      ),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.abort();
    this.closed = true;
    this.store.writes.delete(this);
  }
}
