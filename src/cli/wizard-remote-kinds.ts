/**
 * The wizard's questions for an SFTP server and an rclone remote, written
 * against their settings.json shapes:
 *   { name?, type: 'sftp', host, port? (22), user?, path, identityFile?, knownHostsFile? }
 *   { name?, type: 'rclone', remote (no colon), path }
 * Kept apart so their settings schemas can replace the plain checks below
 * (`SFTP_CHECKS` / `RCLONE_CHECKS`) without touching the rest of the wizard.
 * Secrets are never asked: SSH keys stay in their files (or ssh-agent), an
 * rclone remote's tokens in rclone's own config.
 */
import { expandHome } from '../config/expand-home.js';
import { checkPathText, toValidator, type Prompter } from './wizard-prompts.js';
import { sftpHostSchema } from '../config/destinations/sftp-schema.js';
import { rcloneRemoteSchema } from '../config/destinations/rclone-schema.js';

/** The settings schema's own message for an answer, undefined when it is fine. */
function schemaProblem(schema: { safeParse(value: unknown): { success: boolean; error?: { issues: Array<{ message: string }> } } }, value: string): string | undefined {
  const parsed = schema.safeParse(value);
  return parsed.success ? undefined : parsed.error?.issues[0]?.message;
}

export interface SftpDestinationEntry {
  name?: string;
  type: 'sftp';
  host: string;
  port?: number;
  user?: string;
  path: string;
  identityFile?: string;
  knownHostsFile?: string;
}

export interface RcloneDestinationEntry {
  name?: string;
  type: 'rclone';
  remote: string;
  path: string;
}

const controlCharacter = /[\u0000-\u001f\u007f]/;

/** Plain checks of each answer; the lead may swap in the settings schema's own fields here. */
export const SFTP_CHECKS = {
  host(value: string): string | undefined {
    const host = value.trim();
    if (host === '') return 'Type the server\'s host name or address, e.g. backup.example.com.';
    if (host.includes('@')) return 'Only the host here; the user name is asked next.';
    if (host.includes(':') && !/^[0-9a-fA-F:]+$/.test(host)) return 'Only the host here; the port is asked next.';
    return schemaProblem(sftpHostSchema, host);
  },
  port(value: string): string | undefined {
    return /^\d{1,5}$/.test(value.trim()) && Number(value) >= 1 && Number(value) <= 65535 ? undefined : 'A port is a number from 1 to 65535 (22 for SSH).';
  },
  user(value: string): string | undefined {
    if (value.trim() === '') return undefined;
    return /^[A-Za-z0-9._][A-Za-z0-9._-]*$/.test(value.trim()) ? undefined : 'A user name has letters, digits, ".", "_" and "-".';
  },
  path(value: string): string | undefined {
    if (value.trim() === '') return 'Type the folder on the server, e.g. backups/host1 (relative to the login folder) or /srv/backups.';
    if (controlCharacter.test(value)) return 'The folder contains a control character.';
    return undefined;
  },
  /** A local file (optional); its existence is the store's check, not the prompt's. */
  localFile(value: string): string | undefined {
    if (value.trim() === '') return undefined;
    return checkPathText(value, 'a file path');
  },
};

export const RCLONE_CHECKS = {
  remote(value: string): string | undefined {
    const remote = value.trim();
    if (remote === '') return 'Type the remote\'s name as `rclone listremotes` shows it, without the colon.';
    if (remote.includes(':')) return `Without the colon: type ${remote.split(':')[0] || 'the name'}; the path in the remote is asked next.`;
    return schemaProblem(rcloneRemoteSchema, remote);
  },
  path(value: string): string | undefined {
    if (value.trim() === '') return 'Type the folder in the remote, e.g. backups/host1 (for a bucket-based remote: bucket/folder).';
    if (controlCharacter.test(value)) return 'The path contains a control character.';
    return undefined;
  },
};

interface RemoteKindContext {
  host: string;
  home: string;
  say: (line: string) => void;
}

/** Host, port, user, folder, key file, known_hosts file. Nothing is checked against the server here (the caller's check does). */
export async function askSftpQuestions(prompts: Prompter, ctx: RemoteKindContext, previous?: SftpDestinationEntry): Promise<SftpDestinationEntry> {
  const host = (await prompts.input({ message: 'SFTP server (host name or address):', default: previous?.host, validate: toValidator(SFTP_CHECKS.host) })).trim();
  const port = Number(await prompts.input({ message: 'Port:', default: String(previous?.port ?? 22), validate: toValidator(SFTP_CHECKS.port) }));
  const user = (
    await prompts.input({ message: 'User name on the server (empty: yours, $USER):', default: previous?.user ?? '', validate: toValidator(SFTP_CHECKS.user) })
  ).trim();
  const folder = (
    await prompts.input({
      message: 'Folder on the server (it must exist; relative: in the login folder):',
      default: previous?.path ?? `backups/${ctx.host}`,
      validate: toValidator(SFTP_CHECKS.path),
    })
  ).trim();
  ctx.say('  The key is read from its file (or ssh-agent); a passphrase or password is never written into settings.json.');
  const identityFile = expandHome(
    (
      await prompts.input({
        message: 'Private key file (empty: ~/.ssh/id_ed25519, id_ecdsa, id_rsa and the ssh-agent):',
        default: previous?.identityFile ?? '',
        validate: toValidator(SFTP_CHECKS.localFile),
      })
    ).trim(),
    ctx.home,
  );
  const knownHostsFile = expandHome(
    (
      await prompts.input({
        message: 'known_hosts file with the server\'s key (empty: ~/.ssh/known_hosts):',
        default: previous?.knownHostsFile ?? '',
        validate: toValidator(SFTP_CHECKS.localFile),
      })
    ).trim(),
    ctx.home,
  );
  return {
    type: 'sftp',
    host,
    ...(port !== 22 ? { port } : {}),
    ...(user !== '' ? { user } : {}),
    path: folder,
    ...(identityFile !== '' ? { identityFile } : {}),
    ...(knownHostsFile !== '' ? { knownHostsFile } : {}),
  };
}

/** The remote's name (as in `rclone config`) and the folder in it. */
export async function askRcloneQuestions(prompts: Prompter, ctx: RemoteKindContext, previous?: RcloneDestinationEntry): Promise<RcloneDestinationEntry> {
  ctx.say('  Set the remote up first with `rclone config` (its tokens stay in rclone\'s own config file); `rclone listremotes` shows the names.');
  const remote = (await prompts.input({ message: 'rclone remote (its name, without the colon):', default: previous?.remote, validate: toValidator(RCLONE_CHECKS.remote) })).trim();
  const folder = (
    await prompts.input({ message: `Folder in ${remote} (created if missing):`, default: previous?.path ?? `backups/${ctx.host}`, validate: toValidator(RCLONE_CHECKS.path) })
  ).trim();
  return { type: 'rclone', remote, path: folder };
}

/** sftp://user@host:port/path; a relative folder (in the login folder) as /~/path. */
export function sftpLabel(d: SftpDestinationEntry): string {
  const host = d.host.includes(':') ? `[${d.host}]` : d.host;
  return `sftp://${d.user ? `${d.user}@` : ''}${host}${d.port && d.port !== 22 ? `:${d.port}` : ''}${d.path.startsWith('/') ? '' : '/~/'}${d.path}`;
}

export function rcloneLabel(d: RcloneDestinationEntry): string {
  return `${d.remote}:${d.path}`;
}
