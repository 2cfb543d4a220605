/**
 * An SFTP destination's settings resolved against this machine: `~` and
 * relative local paths expanded, the user, key files and known_hosts file
 * defaulted. Pure (no I/O): which default keys exist is seen when connecting.
 */
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { SFTP_DEFAULT_PORT, type SftpDestinationSettings } from '../config/destinations/sftp-schema.js';

export const DEFAULT_IDENTITY_FILES = ['.ssh/id_ed25519', '.ssh/id_ecdsa', '.ssh/id_rsa'] as const;
export const DEFAULT_KNOWN_HOSTS = '.ssh/known_hosts';
export const SFTP_DEFAULT_TIMEOUT_SECONDS = 60;

export interface SftpTarget {
  host: string;
  port: number;
  user: string;
  /** The remote folder as the server takes it: absolute, or relative to the login folder ('.' for the login folder itself). */
  path: string;
  /** Private key files to try, in order (absolute paths). */
  identityFiles: string[];
  /** True when `identityFile` was set: a missing or unreadable file is then an error, not skipped. */
  identityExplicit: boolean;
  /** The ssh-agent socket (SSH_AUTH_SOCK), tried after the default key files; never offered when `identityFile` is set (identityExplicit). */
  agent?: string;
  /** The NAME of the environment variable holding the key's passphrase. */
  passphraseEnv?: string;
  knownHostsFile: string;
  timeoutSeconds: number;
  /** Tries of a read / list / stat / remove whose connection dropped (default 3, the first included). */
  maxTries?: number;
  /** First delay before reconnecting, doubled each time (default 500 ms; tests use less). */
  retryDelayMs?: number;
}

export type SftpEntry = Omit<SftpDestinationSettings, 'name' | 'type' | 'port'> & { port?: number };

export interface SftpTargetContext {
  home: string;
  cwd: string;
  env: Record<string, string | undefined>;
  /**
   * The login name of the account this runs as, asked when USER and
   * LOGNAME say nothing (a systemd system unit sets neither). Default:
   * os.userInfo(); tests pass their own.
   */
  osUser?: () => string | undefined;
}

/** This process's account name from the password database, or undefined (no entry for the uid). */
function osUserName(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * The default login name, as ssh picks it: USER, then LOGNAME, then the
 * account this runs as. An empty or blank variable counts as unset (a
 * unit file's `Environment=USER=` must not stop the fallback).
 */
export function defaultLoginUser(ctx: Pick<SftpTargetContext, 'env' | 'osUser'>): string | undefined {
  for (const value of [ctx.env.USER, ctx.env.LOGNAME]) {
    const trimmed = value?.trim();
    if (trimmed) return trimmed;
  }
  return (ctx.osUser ?? osUserName)()?.trim() || undefined;
}

/** `~`, `~/x` and relative paths on this machine, made absolute. */
export function expandLocalPath(value: string, ctx: { home: string; cwd: string }): string {
  if (value === '~') return ctx.home;
  if (value.startsWith('~/')) return path.join(ctx.home, value.slice(2));
  return path.resolve(ctx.cwd, value);
}

/**
 * The remote folder, normalised: `~` / `~/x` (which OpenSSH's SFTP server
 * does not expand) become relative to the login folder, trailing slashes
 * and `.` segments go. An absolute path stays absolute.
 */
export function normaliseRemotePath(value: string): string {
  let p = value.trim();
  if (p === '~') p = '.';
  else if (p.startsWith('~/')) p = p.slice(2);
  const absolute = p.startsWith('/');
  const normal = path.posix.normalize(p);
  if (absolute) return normal === '/' ? '/' : normal.replace(/\/+$/, '');
  const relative = normal.replace(/\/+$/, '');
  return relative === '' ? '.' : relative;
}

export function sftpTargetFromSettings(entry: SftpEntry, ctx: SftpTargetContext): SftpTarget {
  const user = entry.user ?? defaultLoginUser(ctx);
  if (!user) {
    throw new UsageError(
      `The SFTP destination on ${entry.host} needs a login name: set "user" in settings.json (USER and LOGNAME are not set, and this process's account has no name).`,
    );
  }
  const identityFiles = entry.identityFile
    ? [expandLocalPath(entry.identityFile, ctx)]
    : DEFAULT_IDENTITY_FILES.map((file) => path.join(ctx.home, file));
  const agent = ctx.env.SSH_AUTH_SOCK?.trim() || undefined;
  return {
    host: entry.host,
    port: entry.port ?? SFTP_DEFAULT_PORT,
    user,
    path: normaliseRemotePath(entry.path),
    identityFiles,
    identityExplicit: entry.identityFile !== undefined,
    ...(agent ? { agent } : {}),
    ...(entry.passphraseEnv ? { passphraseEnv: entry.passphraseEnv } : {}),
    knownHostsFile: expandLocalPath(entry.knownHostsFile ?? `~/${DEFAULT_KNOWN_HOSTS}`, ctx),
    timeoutSeconds: entry.timeoutSeconds ?? SFTP_DEFAULT_TIMEOUT_SECONDS,
  };
}

/** `host` for port 22, `[host]:port` otherwise: how OpenSSH names a host in known_hosts and messages. */
export function hostPort(host: string, port: number): string {
  return port === SFTP_DEFAULT_PORT ? host : `[${host}]:${port}`;
}

/** `sftp://user@host:port/path`; a path relative to the login folder is written `/~/path`. */
export function sftpLabel(target: Pick<SftpTarget, 'host' | 'port' | 'user' | 'path'>): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const where = target.path.startsWith('/') ? target.path : target.path === '.' ? '/~' : `/~/${target.path}`;
  return `sftp://${target.user}@${host}:${target.port}${where}`;
}
