/**
 * rclone remotes for the tests, configured by environment variables only
 * (RCLONE_CONFIG=/dev/null: no config file is read or written, and a
 * private HOME / XDG folders: the user's ~/.config/rclone and cache are
 * never touched):
 * - `nas`: an sftp remote on a throw-away sshd (tests/helpers/sshd.ts),
 *   key login, the server's key pinned in a known_hosts file;
 * - `disk`: rclone's local backend.
 * Both see this machine's file system, so a test reads and plants the
 * remote's files directly in `root` (the folder behind both remotes).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { startSshd, type Sshd } from './sshd.js';

export interface RcloneRemotes {
  sshd: Sshd;
  /** A folder both remotes can reach by its absolute path (inside the sshd's root). */
  root: string;
  /** rclone's private HOME. */
  home: string;
  /**
   * The environment to run rclone with: this process's, without its RCLONE_* variables,
   * with the private HOME, RCLONE_CONFIG=/dev/null, the `nas` and `disk` remotes, then `extra`.
   */
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** The RCLONE_CONFIG_<NAME>_* variables of an sftp remote on the sshd (overrides given). */
  sftpRemote(name: string, overrides?: Partial<Record<'HOST' | 'PORT' | 'USER' | 'KEY_FILE' | 'KNOWN_HOSTS_FILE' | 'SHELL_TYPE' | 'MD5SUM_COMMAND' | 'SHA1SUM_COMMAND', string>>): Record<string, string>;
  stop(): Promise<void>;
}

export async function startRcloneRemotes(): Promise<RcloneRemotes> {
  const sshd = await startSshd();
  const home = await fs.mkdtemp(path.join(sshd.root, 'home-'));
  const root = path.join(sshd.root, 'remotes');
  await fs.mkdir(root);
  const sftpRemote = (name: string, overrides: Record<string, string> = {}): Record<string, string> => {
    const prefix = `RCLONE_CONFIG_${name.toUpperCase()}_`;
    const fields: Record<string, string> = {
      // Without these, every rclone start runs three commands on the server first (shell type,
      // md5sum, sha1sum detection: seconds on a busy machine), since it cannot save what it found
      // in a config file that is /dev/null.
      SHELL_TYPE: 'unix',
      MD5SUM_COMMAND: 'md5sum',
      SHA1SUM_COMMAND: 'sha1sum',
      HOST: sshd.host,
      PORT: String(sshd.port),
      USER: sshd.user,
      KEY_FILE: sshd.privateKeyPath,
      KNOWN_HOSTS_FILE: sshd.knownHostsPath,
      ...overrides,
    };
    return { [`${prefix}TYPE`]: 'sftp', ...Object.fromEntries(Object.entries(fields).map(([k, v]) => [prefix + k, v])) };
  };
  const env = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => {
    const base: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('RCLONE_')) base[key] = value;
    return {
      ...base,
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, '.config'),
      XDG_CACHE_HOME: path.join(home, '.cache'),
      RCLONE_CONFIG: '/dev/null',
      ...sftpRemote('nas'),
      RCLONE_CONFIG_DISK_TYPE: 'local',
      ...extra,
    };
  };
  return { sshd, root, home, env, sftpRemote, stop: () => sshd.stop() };
}
