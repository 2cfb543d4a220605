/**
 * settings.json `destinations[]` entry of type `sftp` (an SSH server's
 * SFTP subsystem: OpenSSH, a NAS, a shell account). Login is by key only:
 * `identityFile` (default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa, those that
 * exist) and the ssh-agent at SSH_AUTH_SOCK (an explicit `identityFile` is
 * the only key offered: no agent keys then). A key's passphrase is never a
 * field: `passphraseEnv` names the environment variable that holds it. The
 * server's host key must be in `knownHostsFile` (default ~/.ssh/known_hosts),
 * as OpenSSH's `ssh` puts it there: an unknown or changed key is refused.
 */
import { isIPv6 } from 'node:net';
import { z } from 'zod';
import { envNameSchema } from '../notify-schema.js';
import { destinationNameSchema } from '../destinations-schema.js';

export const SFTP_DEFAULT_PORT = 22;

/** A host name, an IPv4 address or an IPv6 address (with or without brackets). */
export const sftpHostSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255, 'at most 255 characters')
  .transform((value) => (/^\[[0-9A-Fa-f:.]+\]$/.test(value) ? value.slice(1, -1) : value))
  .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(value), { error: 'only the host name, not a URL (put the folder in "path", the user in "user", the port in "port")' })
  .refine((value) => !value.includes('@'), { error: 'only the host name (put the user name in "user")' })
  .refine((value) => /^[A-Za-z0-9._-]+$/.test(value) || isIPv6(value), {
    error: 'a host name, IPv4 or IPv6 address (letters, digits, ".", "-", ":"); put the port in "port" and the folder in "path"',
  });

/** Remote paths: any text without control characters (a NUL or newline would break the protocol or messages). */
const remotePathSchema = z
  .string()
  .trim()
  .min(1, 'the remote folder, e.g. "/srv/backups" or "backups" (relative to the login folder)')
  .max(4096, 'at most 4096 characters')
  .refine((value) => !/[\x00-\x1f\x7f]/.test(value), { error: 'no control characters' });

const localPathSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(4096, 'at most 4096 characters')
  .refine((value) => !value.includes('\0'), { error: 'no NUL character' });

export const sftpDestinationSchema = z
  .object({
    /** Default: the type ("sftp"); needed to tell two SFTP destinations apart. */
    name: destinationNameSchema.optional(),
    type: z.literal('sftp'),
    host: sftpHostSchema,
    port: z.number().int('a whole number').min(1, 'a port is 1 to 65535').max(65535, 'a port is 1 to 65535').default(SFTP_DEFAULT_PORT),
    /** The login name; default: the user running the backup ($USER). */
    user: z
      .string()
      .trim()
      .min(1, 'must not be empty')
      .max(256, 'at most 256 characters')
      .refine((value) => !/[\s@:/\x00-\x1f\x7f]/.test(value), { error: 'a login name, without spaces, "@", ":" or "/"' })
      .optional(),
    /** The remote folder: absolute, or relative to the login folder ("~/backups" is the same as "backups"). Must exist. */
    path: remotePathSchema,
    /** The private key (a path on this machine, ~ allowed); default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exist, and the ssh-agent. */
    identityFile: localPathSchema.optional(),
    /** The NAME of the environment variable holding the key's passphrase (never the passphrase itself). */
    passphraseEnv: envNameSchema.optional(),
    /** The known_hosts file the server's key must be in; default ~/.ssh/known_hosts. */
    knownHostsFile: localPathSchema.optional(),
    /** Connecting, or a request without an answer, this long fails; default 60. */
    timeoutSeconds: z.number().positive().max(3600).optional(),
  })
  .strict();

export type SftpDestinationSettings = z.infer<typeof sftpDestinationSchema>;
