/**
 * What the `rclone` program tells us when it fails, turned into one clear
 * BackupError. rclone reports by exit code (https://rclone.org/docs/#exit-code)
 * and by its log lines on stderr; both are mapped here, pure (no I/O).
 *
 * stderr is a remote's own words: it may hold control characters (a hostile
 * server's message, a file name) and, from some backends, secrets (a URL
 * with a password, a token in an HTTP error). It is kept bounded
 * (`StderrTail`), and only ever shown through `sanitizeStderrLine`:
 * redacted (src/log/redact.ts) and with every control character escaped.
 *
 * Facts about Debian's rclone 1.60 (tests/storage/rclone.test.ts checks
 * what depends on them, through the store: 'rclone itself missing or
 * misconfigured', the contract's reads and list()):
 * - A remote name that is not configured: exit 1, "didn't find section in
 *   config file" (also for `rcat`); a remote whose type rclone does not
 *   know: exit 1, "didn't find backend called".
 * - A missing folder (lsjson) and a missing file (cat, lsjson --stat):
 *   exit 3, "directory not found"; deletefile of a missing file: exit 1,
 *   "is a directory or doesn't exist".
 * - The binary missing: spawn fails with ENOENT (nothing runs).
 * - An sftp remote whose server key is not the pinned one: exit 1,
 *   "knownhosts: key mismatch" ("key is unknown" when the host is not in
 *   the known_hosts file), shown as rclone's reason.
 */
import { BackupError, CancelledError, DestinationError, UsageError } from '../errors.js';
import { redactText } from '../log/redact.js';
import { oneLine } from '../log/printable.js';

/** rclone's exit codes (https://rclone.org/docs/#exit-code), in words. */
export const RCLONE_EXIT_CODES: Readonly<Record<number, string>> = {
  1: 'an error not otherwise categorised',
  2: 'a syntax or usage error',
  3: 'directory not found',
  4: 'file not found',
  5: 'a temporary error (more retries might fix it)',
  6: 'a less serious error',
  7: 'a fatal error (more retries will not fix it, e.g. the account is suspended)',
  8: 'the transfer limit (--max-transfer) was reached',
  9: 'the operation succeeded but no files were transferred',
  10: 'the duration limit (--max-duration) was reached',
};

/** Exit codes that mean "not there" (a missing folder or file). */
export function isMissingExit(code: number | null): boolean {
  return code === 3 || code === 4;
}

/** The last `limit` bytes written to a stream (rclone's stderr): memory stays bounded whatever it prints. */
export class StderrTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit = 8 * 1024) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

const MAX_LINE = 300;

/**
 * One line of rclone's stderr as it may be shown: the date/level prefix
 * dropped, secrets redacted, every control character escaped, at most 300
 * characters.
 */
export function sanitizeStderrLine(line: string): string {
  const bare = line
    .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d(\.\d+)?\s*/, '')
    .replace(/^(ERROR|NOTICE|INFO|DEBUG|CRITICAL)\s*:\s*/, '')
    .trim();
  const safe = oneLine(redactText(bare));
  return safe.length > MAX_LINE ? `${safe.slice(0, MAX_LINE)}...` : safe;
}

/**
 * The line of stderr that says what went wrong: rclone's final "Failed to
 * OP: reason" line if there is one, else the last ERROR line, else the last
 * non-empty line. Sanitized.
 */
export function lastErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).filter((l) => l.trim() !== '');
  const last = (test: (l: string) => boolean): string | undefined => [...lines].reverse().find(test);
  const pick = last((l) => /\bFailed to /.test(l)) ?? last((l) => /\b(ERROR|CRITICAL)\b/.test(l)) ?? lines[lines.length - 1] ?? '';
  return sanitizeStderrLine(pick);
}

/** The env variable that configures remote `name` (rclone matches it case-insensitively; `-` cannot be written). */
export function remoteEnvName(name: string): string {
  return `RCLONE_CONFIG_${name.toUpperCase()}_TYPE`;
}

export interface RcloneFailureContext {
  /** The rclone subcommand, e.g. "rcat", "lsjson". */
  op: string;
  /** What it was about, for people: `remote:path/name`. */
  where: string;
  /** The remote's name (without the colon). */
  remote: string;
  /** The binary as configured, for messages. */
  binary: string;
  /** Which config file rclone reads (for messages): a path, or a description. */
  configFile: string;
  /** A write of an archive (DestinationError) or the read side. */
  write: boolean;
  /** The caller's own signal: a kill is a cancellation only when this one was aborted. */
  signal?: AbortSignal;
}

export interface RcloneOutcome {
  /** The exit code; null when rclone was killed (by us: Ctrl-C, timeout, close()). */
  code: number | null;
  stderr: string;
  /** The spawn error (ENOENT: no such program), if it never ran. */
  spawnError?: NodeJS.ErrnoException;
  /** Set when our own timeout killed it. */
  timedOutAfterMs?: number;
  /** Set when close() killed it. */
  closed?: boolean;
}

export function rcloneNotFound(ctx: Pick<RcloneFailureContext, 'binary'>, cause?: unknown): BackupError {
  const which = ctx.binary.includes('/') ? `${oneLine(ctx.binary)} does not exist or cannot be run` : `"${oneLine(ctx.binary)}" is not on PATH`;
  return new UsageError(
    `The rclone program was not found: ${which}. Install rclone (apt install rclone / https://rclone.org/install/), or set "binary" in the destination to its path.`,
    { code: 'RCLONE_NOT_FOUND', cause },
  );
}

export function describeRcloneFailure(outcome: RcloneOutcome, ctx: RcloneFailureContext): BackupError {
  const { spawnError } = outcome;
  if (spawnError) {
    if (spawnError.code === 'ENOENT' || spawnError.code === 'EACCES' || spawnError.code === 'ENOTDIR') return rcloneNotFound(ctx, spawnError);
    return new BackupError(`Could not start ${oneLine(ctx.binary)}: ${oneLine(spawnError.message)}.`, { code: 'RCLONE_FAILED', cause: spawnError });
  }
  if (outcome.code === null) {
    if (ctx.signal?.aborted) return new CancelledError();
    if (outcome.timedOutAfterMs !== undefined) {
      return failure(
        ctx,
        `rclone ${ctx.op} for ${ctx.where} did not finish in ${Math.round(outcome.timedOutAfterMs / 1000)} s and was stopped; check the network and the remote, or raise "timeoutSeconds".`,
      );
    }
    if (outcome.closed) return failure(ctx, `rclone ${ctx.op} for ${ctx.where} was stopped: the destination was closed.`);
    return failure(ctx, `rclone ${ctx.op} for ${ctx.where} was killed by a signal (out of memory, or stopped by someone else?).`);
  }
  const stderr = outcome.stderr;
  if (/didn't find section in config file/.test(stderr)) {
    return new UsageError(
      `rclone has no remote named "${oneLine(ctx.remote)}" (config file: ${oneLine(ctx.configFile)}). ` +
        `Create it with \`rclone config\` as the user the backups run as (or point "configFile" at the config that has it), ` +
        `or configure it by environment: ${remoteEnvName(ctx.remote)}=<backend type> plus its options (RCLONE_CONFIG_${ctx.remote.toUpperCase()}_HOST ...); \`rclone listremotes\` shows the remotes rclone knows.`,
      { code: 'RCLONE_NO_REMOTE' },
    );
  }
  const backend = /didn't find backend called "([^"]*)"/.exec(stderr);
  if (backend) {
    return new UsageError(
      `rclone remote "${oneLine(ctx.remote)}" has type "${sanitizeStderrLine(backend[1]!)}", which this rclone does not know: fix its type in \`rclone config\` (or ${remoteEnvName(ctx.remote)}), or install a newer rclone.`,
      { code: 'RCLONE_NO_REMOTE' },
    );
  }
  const meaning = RCLONE_EXIT_CODES[outcome.code] ?? 'an unknown exit code';
  const line = lastErrorLine(stderr);
  const hint = outcome.code === 5 ? ' Try again later.' : /config file.*(password|encrypted)|unable to decrypt|ask-password/i.test(stderr)
    ? ' The config file is encrypted: set RCLONE_CONFIG_PASS in the environment (or .env).'
    : '';
  return failure(ctx, `rclone ${ctx.op} for ${ctx.where} failed (exit ${outcome.code}: ${meaning})${line ? `: ${line}` : ''}.${hint}`);
}

function failure(ctx: RcloneFailureContext, message: string): BackupError {
  return ctx.write ? new DestinationError(message, { code: 'RCLONE_FAILED' }) : new BackupError(message, { code: 'RCLONE_FAILED' });
}
