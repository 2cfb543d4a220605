/**
 * The job lock: two runs of the same backup job at once (a cron run that
 * overlaps the previous one, a manual run during the nightly one) must not
 * write the same archive. The first run creates the lock file atomically
 * (O_CREAT | O_EXCL) and writes who it is; the second one reads that and
 * stops with a LockedError, or waits with `wait`.
 *
 * A lock left behind by a run that died (kill -9, power loss) is stale and is
 * taken over with a warning, but only when the owner ran on this host, where
 * its pid can be checked: the process is gone, has exited (zombie), or its pid
 * now belongs to another process (the /proc start time differs). A lock from
 * another host is never taken over; the message says how to remove it.
 *
 * Taking over is serialized by a short-lived guard file (`<lock>.takeover`),
 * so two runs that find the same stale lock cannot both replace it and end up
 * both holding "the" lock: only the guard's holder re-reads the stale lock
 * and, if it is unchanged, renames its own record over it (the lock file is
 * never missing meanwhile, so a run starting just then cannot slip in).
 */
import { randomUUID } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { open, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupError, LockedError, UsageError, describeErrno, errnoCode } from '../errors.js';
import { SmallFileError, readSmallFile } from '../fs/read-small-file.js';
import { silentLogger, type Logger } from '../log/logger-types.js';

/** What a lock file holds (one JSON object). */
export interface LockOwner {
  pid: number;
  host: string;
  /** When the run took the lock (ISO 8601). */
  started: string;
  /** The command line, shown to a run that is blocked. */
  command: string;
  /** Linux: field 22 of /proc/<pid>/stat (start time in clock ticks after boot), to tell a reused pid. */
  procStart?: string;
  /** Random per acquisition, so release() can tell its own lock from a later one by the same process. */
  id?: string;
}

export interface AcquireLockOptions {
  /** Absolute path of the lock file. Its folder must exist. */
  file: string;
  /** os.hostname() normally; injected for tests. */
  host: string;
  /** e.g. "backup run --config config/settings.json", shown to the blocked run. */
  command: string;
  now?: () => Date;
  /** false/undefined: fail at once; true: wait until free; a number: wait at most that many seconds. */
  wait?: boolean | number;
  /** How often to look again while waiting (default 1000 ms). */
  pollMs?: number;
  /** Aborting while waiting throws `signal.reason`. */
  signal?: AbortSignal;
  /** warn() when a stale lock is taken over, info() once when starting to wait. */
  logger?: Logger;
}

export interface HeldLock {
  file: string;
  /** What this run wrote into the lock file. */
  owner: LockOwner;
  /** The dead run whose stale lock was taken over, if any. */
  takenOver?: LockOwner;
  /** Removes the lock file if it is still ours. Idempotent; never throws (problems are logged as warnings). */
  release(): Promise<void>;
}

/** An unreadable or empty lock file younger than this may be one a run is writing right now. */
const CORRUPT_GRACE_MS = 60_000;

/** A lock record is one short JSON line; more than this is not one of ours, and is not read further. */
const MAX_LOCK_BYTES = 64 * 1024;

/**
 * Lock files live in folders other users may write to (a shared backup
 * folder). We create ours exclusively and never through a symlink, and read
 * one without following a symlink or blocking on a FIFO.
 */
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

type Look =
  | { kind: 'gone' }
  | { kind: 'stale'; raw: string; owner?: LockOwner; why: string }
  | { kind: 'held'; raw: string; owner?: LockOwner; remote: boolean; ageMs: number };

type Held = Extract<Look, { kind: 'held' }> & { file: string };

export async function acquireLock(options: AcquireLockOptions): Promise<HeldLock> {
  const { file, host, signal } = options;
  const logger = options.logger ?? silentLogger;
  const pollMs = options.pollMs ?? 1000;
  const waitMs = waitLimitMs(options.wait);
  const owner: LockOwner = {
    pid: process.pid,
    host,
    started: (options.now ?? (() => new Date()))().toISOString(),
    command: options.command,
  };
  const procStart = readProcStat(process.pid)?.start;
  if (procStart !== undefined) owner.procStart = procStart;
  owner.id = randomUUID();
  const mine = `${JSON.stringify(owner)}\n`;

  const began = performance.now();
  let announced = false;
  for (;;) {
    signal?.throwIfAborted();
    if (await createExclusive(file, mine)) return heldLock(file, owner, mine, undefined, logger);

    const look = await inspect(file, host);
    if (look.kind === 'gone') continue;
    let held: Held;
    if (look.kind === 'stale') {
      const outcome = await takeOver(file, look, host, mine, logger);
      if (outcome === 'acquired') return heldLock(file, owner, mine, look.owner, logger);
      if (outcome === 'retry') continue;
      held = outcome;
    } else {
      held = { ...look, file };
    }

    if (waitMs === undefined) throw lockedError(file, held, host);
    const waited = performance.now() - began;
    if (waited >= waitMs) throw lockedError(file, held, host, waitMs / 1000);
    if (!announced) {
      announced = true;
      logger.info(`Waiting for the lock ${file}, which is ${holderText(held, host)}.`, { file, holder: held.owner });
    }
    await pause(Math.min(pollMs, waitMs - waited), signal);
  }
}

/**
 * Whether the run that wrote `owner` is still running: undefined when it ran
 * on another host (its pid means nothing here).
 */
export function isOwnerAlive(owner: LockOwner, host: string): boolean | undefined {
  const status = ownerStatus(owner, host);
  return status === 'alive' ? true : status === 'unknown' ? undefined : false;
}

/** 'alive', 'unknown' (another host), or why it is dead. */
function ownerStatus(owner: LockOwner, host: string): 'alive' | 'unknown' | { dead: string } {
  if (owner.host !== host) return 'unknown';
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ESRCH') return { dead: 'that process no longer exists' };
    // EPERM: it exists but belongs to another user. Anything else: assume alive.
  }
  // Unreadable /proc (not Linux, hidepid): trust kill().
  const stat = readProcStat(owner.pid);
  if (stat === undefined) return 'alive';
  if (stat.state === 'Z' || stat.state === 'X') return { dead: 'that process has exited' };
  if (owner.procStart !== undefined && stat.start !== owner.procStart) {
    return { dead: `pid ${owner.pid} now belongs to another process (start time ${stat.start}, not ${owner.procStart})` };
  }
  return 'alive';
}

/** State (field 3) and start time (field 22) from /proc/<pid>/stat; undefined if it cannot be read. */
function readProcStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 is "(comm)", which may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : undefined;
}

function waitLimitMs(wait: boolean | number | undefined): number | undefined {
  if (wait === undefined || wait === false) return undefined;
  if (wait === true) return Infinity;
  if (Number.isNaN(wait) || wait < 0) throw new UsageError(`The lock wait must be a number of seconds (0 or more), not ${wait}.`);
  return wait === 0 ? undefined : wait * 1000;
}

/** Creates `file` with O_EXCL and writes `content`; false if it exists already. */
async function createExclusive(file: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, CREATE_FLAGS, 0o644);
  } catch (error) {
    const code = errnoCode(error);
    // A symlink planted at the name is EEXIST too (O_EXCL never follows one): inspect() then says what it is.
    if (code === 'EEXIST' || code === 'ELOOP') return false;
    if (code === 'ENOENT') throw lockFailed(`Cannot create the lock file ${file}: its folder ${path.dirname(file)} does not exist [ENOENT].`, error);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw lockFailed(
        `Cannot create the lock file ${file}: ${describeErrno(error)}. The folder ${path.dirname(file)} is read-only ` +
          `${code === 'EROFS' ? '(its file system is mounted read-only)' : 'for this user'}, so nothing can be written or deleted there: ` +
          'run as a user who may write to it, or choose another folder.',
        error,
      );
    }
    throw lockFailed(`Cannot create the lock file ${file}: ${describeErrno(error)}.`, error);
  }
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(file, { force: true }).catch(() => undefined);
    throw lockFailed(`Cannot write the lock file ${file}: ${describeErrno(error)}.`, error);
  }
  await handle.close();
  return true;
}

/** Reads a lock file and judges it. */
async function inspect(file: string, host: string): Promise<Look> {
  const read = await readLockFile(file);
  if (read === undefined) return { kind: 'gone' };
  const { raw, mtimeMs } = read;
  const ageMs = Date.now() - mtimeMs;
  const owner = parseOwner(raw);
  if (owner === undefined) {
    if (ageMs > CORRUPT_GRACE_MS) {
      return { kind: 'stale', raw, why: `it was empty or not a lock record, last written ${Math.round(ageMs / 1000)} s ago` };
    }
    return { kind: 'held', raw, remote: false, ageMs };
  }
  const status = ownerStatus(owner, host);
  if (typeof status === 'object') return { kind: 'stale', raw, owner, why: status.dead };
  return { kind: 'held', raw, owner, remote: status === 'unknown', ageMs };
}

function parseOwner(raw: string): LockOwner | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || !Number.isSafeInteger(v.pid) || v.pid <= 0) return undefined;
  if (typeof v.host !== 'string' || typeof v.started !== 'string' || typeof v.command !== 'string') return undefined;
  const owner: LockOwner = { pid: v.pid, host: v.host, started: v.started, command: v.command };
  if (typeof v.procStart === 'string') owner.procStart = v.procStart;
  if (typeof v.id === 'string') owner.id = v.id;
  return owner;
}

/**
 * Replaces a stale lock with ours, holding the guard file meanwhile. 'retry'
 * when the lock changed or another run got in first; a Held when another
 * live run holds the guard (it is taking the lock over right now).
 */
async function takeOver(file: string, stale: Extract<Look, { kind: 'stale' }>, host: string, mine: string, logger: Logger): Promise<'acquired' | 'retry' | Held> {
  const guard = `${file}.takeover`;
  if (!(await createExclusive(guard, mine))) {
    const look = await inspect(guard, host);
    if (look.kind === 'gone') return 'retry';
    // A run died while taking over (within milliseconds): clear its guard.
    if (look.kind === 'stale') {
      await removeIfUnchanged(guard, look.raw);
      return 'retry';
    }
    return { ...look, file: guard };
  }
  try {
    const now = await inspect(file, host);
    if (now.kind !== 'stale' || now.raw !== stale.raw) return 'retry';
    // Our record replaces the stale one in one rename: the lock file never
    // goes missing, so a run starting right now cannot slip in between.
    // An unpredictable name, created exclusively: nothing can be planted at it beforehand.
    const temp = `${file}.${randomUUID()}.tmp`;
    try {
      if (!(await createExclusive(temp, mine))) return 'retry';
      await rename(temp, file);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      const cause = error instanceof BackupError && error.cause !== undefined ? error.cause : error;
      throw lockFailed(
        `Cannot replace the stale lock file ${file} (${stale.why}): ${describeErrno(cause)}. Nothing was done; delete that file by hand.`,
        cause,
      );
    }
    const old = stale.owner;
    logger.warn(
      old
        ? `Took over the stale lock ${file} of pid ${old.pid} on ${old.host} (started ${old.started}` +
            `${old.procStart === undefined ? '' : `, process start time ${old.procStart}`}): ${stale.why}.`
        : `Took over the stale lock ${file}: ${stale.why}.`,
      { file, previous: old },
    );
    return 'acquired';
  } finally {
    await rm(guard, { force: true }).catch(() => undefined);
  }
}

/** Removes `file` only if it still holds `raw` (a guard whose run died). */
async function removeIfUnchanged(file: string, raw: string): Promise<void> {
  try {
    if ((await readIfPresent(file)) === raw) await rm(file, { force: true });
  } catch (error) {
    if (error instanceof BackupError) throw error;
    throw lockFailed(`Cannot remove the stale file ${file} left by a run that died: ${describeErrno(error)}. Nothing was done; delete that file by hand.`, error);
  }
}

async function readIfPresent(file: string): Promise<string | undefined> {
  return (await readLockFile(file))?.raw;
}

/**
 * A lock (or guard) file's text and time, or undefined when it is gone.
 * Refuses what this tool never creates there (a symlink, a FIFO, a device, a
 * folder) with a message saying to remove it: following a symlink would read
 * any file, opening a FIFO would wait forever. Reads at most MAX_LOCK_BYTES.
 */
async function readLockFile(file: string): Promise<{ raw: string; mtimeMs: number } | undefined> {
  try {
    const read = await readSmallFile(file, { maxBytes: MAX_LOCK_BYTES, noFollow: true, truncate: true });
    return read && { raw: read.text, mtimeMs: read.stat.mtimeMs };
  } catch (error) {
    if (!(error instanceof SmallFileError)) throw error;
    if (error.reason === 'symlink' || error.reason === 'not-regular') throw notALock(file, error.detail, error.cause);
    throw lockFailed(`Cannot read the lock file ${file}: ${describeErrno(error.cause)}.`, error.cause);
  }
}


function notALock(file: string, kind: string, cause?: unknown): BackupError {
  return lockFailed(
    `The lock file ${file} is ${kind}, which this tool never creates: someone or something else put it there. ` +
      `Nothing was done, and it was left as it is; check what it is, remove it (rm '${file}') and run again.`,
    cause,
  );
}

function heldLock(file: string, owner: LockOwner, mine: string, takenOver: LockOwner | undefined, logger: Logger): HeldLock {
  let releasing: Promise<void> | undefined;
  const lock: HeldLock = { file, owner, release: () => (releasing ??= release(file, mine, logger)) };
  if (takenOver) lock.takenOver = takenOver;
  return lock;
}

async function release(file: string, mine: string, logger: Logger): Promise<void> {
  try {
    const current = await readIfPresent(file);
    if (current === undefined) {
      logger.warn(`The lock file ${file} was already gone when this run ended (deleted by hand?).`, { file });
      return;
    }
    if (current !== mine) {
      const other = parseOwner(current);
      logger.warn(
        `The lock file ${file} is no longer this run's${other ? ` (now pid ${other.pid} on ${other.host})` : ''}; left it in place.`,
        { file, holder: other },
      );
      return;
    }
    await unlink(file);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    logger.warn(`Could not remove the lock file ${file}: ${describeErrno(error)}. Delete it by hand before the next run.`, { file });
  }
}

/** What follows "the lock <file> is ...". */
function holderText(held: Held, host: string): string {
  const guard = held.file.endsWith('.takeover');
  const owner = held.owner;
  if (!owner) {
    return guard
      ? 'being taken over by another run right now'
      : `not readable yet (empty or not a lock record, written ${Math.round(held.ageMs / 1000)} s ago): another run may be creating it right now`;
  }
  const where = owner.host === host ? `on this host (${host})` : `on host ${owner.host}`;
  const who = `pid ${owner.pid} ${where}, running since ${owner.started}, command: ${owner.command}`;
  return guard ? `being taken over from a dead run by ${who}` : `held by ${who}`;
}

function lockedError(file: string, held: Held, host: string, waitedSeconds?: number): LockedError {
  const owner = held.owner;
  const parts = [
    waitedSeconds === undefined
      ? `The lock ${file} is ${holderText(held, host)}.`
      : `Waited ${waitedSeconds} s for the lock ${file}; it is still ${holderText(held, host)}.`,
    'Nothing was done.',
    waitedSeconds === undefined
      ? 'Wait for that run to finish and try again, or pass --wait to start as soon as it has.'
      : 'Try again later, or pass --wait without a limit.',
  ];
  if (owner && held.remote) {
    parts.push(
      `That run is on another host, so this one (${host}) cannot check whether it is still alive; ` +
        `if it is gone on ${owner.host}, delete the lock file: rm '${held.file}'`,
    );
  } else if (!owner) {
    parts.push(`If no other run is starting, it is taken over once it is a minute old, or delete it: rm '${held.file}'`);
  }
  return new LockedError(file, parts.join(' '), owner ? { holder: owner } : {});
}

function lockFailed(message: string, error: unknown): BackupError {
  return new BackupError(message, { code: 'LOCK_FAILED', cause: error });
}

async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  }
}
