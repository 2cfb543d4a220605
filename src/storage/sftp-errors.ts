/**
 * What ssh2 reports, as one clear BackupError: the SFTP status of a failed
 * request (ssh2 puts it in `err.code` as a number), a connection that
 * dropped or stopped answering, and the failures of connecting (refused,
 * unknown host name, timeout, no SFTP subsystem). Pure: looks only at the
 * error's fields; imports nothing from ssh2. Host key and authentication
 * refusals are built where the facts are (sftp-known-hosts.ts, sftp-session.ts).
 */
import { BackupError, CancelledError, UsageError } from '../errors.js';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02 §7), as ssh2 sets `err.code`. */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
  OP_UNSUPPORTED: 8,
} as const;

/**
 * The connection died (closed, reset, or a request unanswered for the
 * timeout, after which we close it ourselves). Internal: turned into
 * SFTP_CONNECTION_LOST by describeSftpError, or retried on a new connection.
 */
export class SessionLost extends Error {
  constructor(
    message: string,
    readonly timedOutAfterMs?: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}
SessionLost.prototype.name = 'SessionLost';

export interface SftpErrorContext {
  /** What we were doing, in words: "list", "write", "rename". */
  action: string;
  /** `sftp://user@host:port/path/name`, or the folder. */
  where: string;
  user: string;
  /** `host:port`, for connection messages. */
  server: string;
  /** The caller's own signal: an abort is a cancellation only when this one was aborted. */
  signal?: AbortSignal;
  /** A missing file is NOT_FOUND (reads of a named file) rather than SFTP_FAILED. */
  missingIsNotFound?: boolean;
}

interface Ssh2LikeError {
  message?: string;
  code?: number | string;
  level?: string;
  name?: string;
}

export function sftpStatus(error: unknown): number | undefined {
  const code = (error as Ssh2LikeError | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The server's own words, short and without control characters. */
export function serverWords(message: string | undefined): string {
  const clean = (message ?? '').replace(/[\x00-\x1f\x7f]+/g, ' ').trim().replace(/\.+$/, '');
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the SSH server running, and is the port right?)',
  ENOTFOUND: 'host name not found (check "host", and DNS)',
  EAI_AGAIN: 'host name lookup failed temporarily (DNS or network down?)',
  ECONNRESET: 'the connection was reset',
  EPIPE: 'the connection was closed by the server',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'host unreachable (no network route)',
  ENETUNREACH: 'network unreachable (no network?)',
  EADDRNOTAVAIL: 'address not available',
};

/** Connecting failed before login (not the host key, not authentication): SFTP_UNREACHABLE. */
export function unreachableError(error: unknown, server: string, timeoutMs: number): BackupError {
  const e = (error ?? {}) as Ssh2LikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  let why: string;
  if (code && NETWORK_CODES[code]) why = NETWORK_CODES[code];
  else if (e.level === 'client-timeout' || /timed out/i.test(e.message ?? '')) {
    why = `no SSH handshake within ${Math.round(timeoutMs / 1000)} s (a firewall dropping packets, a wrong port, or an overloaded server; raise "timeoutSeconds" for a slow link)`;
  } else if (e.level === 'protocol') why = `it does not speak SSH as expected (${serverWords(e.message)}): is this the SSH port?`;
  else why = serverWords(e.message) || 'the connection closed before login';
  return new BackupError(`Cannot reach the SSH server ${server}: ${why}.`, { code: 'SFTP_UNREACHABLE', cause: error });
}

export function describeSftpError(error: unknown, ctx: SftpErrorContext): BackupError {
  if (error instanceof BackupError) return error;
  if (ctx.signal?.aborted) return new CancelledError(undefined, { cause: error });
  if (error instanceof SessionLost) {
    const why =
      error.timedOutAfterMs !== undefined
        ? `the server did not answer for ${Math.round(error.timedOutAfterMs / 1000)} s, so the connection was closed`
        : 'the connection dropped';
    return new BackupError(
      `Could not ${ctx.action} ${ctx.where}: ${why} (${serverWords(error.message)}). Check the network and the server ${ctx.server}, then run again${error.timedOutAfterMs !== undefined ? ' (or raise "timeoutSeconds")' : ''}.`,
      { code: 'SFTP_CONNECTION_LOST', cause: error },
    );
  }
  const status = sftpStatus(error);
  const said = serverWords((error as Ssh2LikeError | undefined)?.message);
  switch (status) {
    case SFTP_STATUS.NO_SUCH_FILE:
      if (ctx.missingIsNotFound) return new BackupError(`${ctx.where} does not exist.`, { code: 'NOT_FOUND', cause: error });
      return new BackupError(`Could not ${ctx.action} ${ctx.where}: it (or the folder it is in) does not exist on the server (server: ${said}).`, {
        code: 'SFTP_FAILED',
        cause: error,
      });
    case SFTP_STATUS.PERMISSION_DENIED:
      return new BackupError(
        `The SFTP server refused to ${ctx.action} ${ctx.where}: permission denied (server: ${said}). The account "${ctx.user}" may not ${/write|creat|renam|delet|remov/.test(ctx.action) ? 'write' : 'read'} there: check the folder's owner and mode on the server, or use another "path" or "user".`,
        { code: 'STORE_ACCESS_DENIED', cause: error },
      );
    case SFTP_STATUS.FAILURE:
      return new BackupError(
        `The SFTP server failed to ${ctx.action} ${ctx.where} (server: ${said || 'Failure'}). SFTP v3 servers answer this one word for many causes: a full disk or quota (check \`df\` on the server), a file or folder in the way, or a file system error.`,
        { code: 'SFTP_FAILED', cause: error },
      );
    case SFTP_STATUS.OP_UNSUPPORTED:
      return new BackupError(`The SFTP server does not support what is needed to ${ctx.action} ${ctx.where} (server: ${said}).`, { code: 'SFTP_FAILED', cause: error });
    case SFTP_STATUS.NO_CONNECTION:
    case SFTP_STATUS.CONNECTION_LOST:
      return describeSftpError(new SessionLost(said || 'connection lost', undefined, { cause: error }), ctx);
    default:
      break;
  }
  if (/No response from server|Not connected|No SFTP|channel/i.test(said) && status === undefined) {
    return describeSftpError(new SessionLost(said, undefined, { cause: error }), ctx);
  }
  return new BackupError(`Could not ${ctx.action} ${ctx.where}${status !== undefined ? ` (SFTP status ${status})` : ''}: ${said || 'unknown error'}.`, {
    code: 'SFTP_FAILED',
    cause: error,
  });
}

/** The remote folder is missing: never created by us, the user must (or fix "path"). */
export function folderMissingError(where: string, folder: string, login: string, portFlag: string, cause?: unknown): UsageError {
  return new UsageError(
    `The remote folder ${where} does not exist (or a part of its path is not a folder). It is not created automatically: create it on the server (\`ssh ${portFlag}${login} mkdir -p '${folder.replace(/'/g, `'\\''`)}'\`) or fix "path" in settings.json.`,
    { code: 'DESTINATION_NOT_FOUND', cause },
  );
}
