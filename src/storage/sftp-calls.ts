/**
 * The SFTP requests the store makes, as promises on a Session (each bounded
 * by the session: signal, timeout, connection death), and the names and
 * small helpers the store and its writes share.
 */
import type { FileEntryWithStats, Stats } from 'ssh2';
import { CancelledError } from '../errors.js';
import type { Session } from './sftp-session.js';

/** Bytes per WRITE request. */
export const WRITE_PIECE = 64 * 1024;
const FILE_MODE = 0o600;

/** Temporary names of writes in progress (never listed): `.NAME.partial`, `.NAME.tmp-HEX`, `.backup-probe-HEX`. */
export function isTemporaryName(name: string): boolean {
  return /^\..+\.partial$/.test(name) || /^\..+\.tmp-[0-9a-f]{16}$/.test(name) || /^\.backup-probe-[0-9a-f]{12}$/.test(name);
}

export function partialName(fileName: string): string {
  return `.${fileName}.partial`;
}

/** size:mtime, which openRead compares to fail on a file replaced since openRanges (SFTP has nothing better). */
export function versionOf(stats: Stats): string {
  return `${stats.size}:${stats.mtime}`;
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError(undefined, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** ssh2 calls, promised. */
export const call = {
  stat: (s: Session, p: string, signal?: AbortSignal) => s.request<Stats>(signal, (sftp, cb) => sftp.stat(p, cb)),
  lstat: (s: Session, p: string, signal?: AbortSignal) => s.request<Stats>(signal, (sftp, cb) => sftp.lstat(p, cb)),
  open: (s: Session, p: string, flags: 'r' | 'wx', signal?: AbortSignal) =>
    s.request<Buffer>(signal, (sftp, cb) => sftp.open(p, flags, flags === 'r' ? {} : { mode: FILE_MODE }, cb)),
  fstat: (s: Session, handle: Buffer, signal?: AbortSignal) => s.request<Stats>(signal, (sftp, cb) => sftp.fstat(handle, cb)),
  close: (s: Session, handle: Buffer, signal?: AbortSignal) => s.request<void>(signal, (sftp, cb) => sftp.close(handle, cb)),
  write: (s: Session, handle: Buffer, data: Buffer, position: number, signal?: AbortSignal) =>
    s.request<void>(signal, (sftp, cb) => sftp.write(handle, data, 0, data.length, position, (err) => cb(err))),
  unlink: (s: Session, p: string, signal?: AbortSignal) => s.request<void>(signal, (sftp, cb) => sftp.unlink(p, cb)),
  rename: (s: Session, from: string, to: string, signal?: AbortSignal) => s.request<void>(signal, (sftp, cb) => sftp.rename(from, to, cb)),
  /** posix-rename@openssh.com (replaces the target); ssh2 throws at once when the server does not offer it. */
  posixRename: (s: Session, from: string, to: string, signal?: AbortSignal) =>
    s.request<void>(signal, (sftp, cb) => sftp.ext_openssh_rename(from, to, cb)),
  /** fsync@openssh.com, where offered (undefined: not offered). */
  fsync: (s: Session, handle: Buffer, signal?: AbortSignal) =>
    s.request<void>(signal, (sftp, cb) => sftp.ext_openssh_fsync(handle, cb)).catch((error: unknown) => {
      if (/does not support/.test((error as Error).message)) return undefined;
      throw error;
    }),
  readdir: (s: Session, p: string, signal?: AbortSignal) => s.request<FileEntryWithStats[]>(signal, (sftp, cb) => sftp.readdir(p, cb)),
};

/** Creates `p` exclusively and writes `content` in it (sidecars, probe, writeText's temporary). */
export async function createFile(s: Session, p: string, content: Buffer, signal?: AbortSignal, onCreated?: () => void): Promise<void> {
  const handle = await call.open(s, p, 'wx', signal);
  onCreated?.();
  try {
    for (let at = 0; at < content.length; at += WRITE_PIECE) await call.write(s, handle, content.subarray(at, at + WRITE_PIECE), at, signal);
  } finally {
    if (!s.dead) await call.close(s, handle).catch(() => undefined);
  }
}
