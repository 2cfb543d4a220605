/**
 * settings.json `destinations[]` entry of type `rclone`: any remote the
 * `rclone` program knows (Google Drive, OneDrive, Backblaze B2, Dropbox,
 * pCloud, WebDAV, a NAS over SFTP ...), driven as a child process.
 *
 * Credentials are never fields: they live where rclone keeps them, in its
 * config file (`rclone config`; encrypted configs need RCLONE_CONFIG_PASS in
 * the environment or .env) or in RCLONE_CONFIG_<NAME>_* environment
 * variables.
 *
 * There is deliberately no free-form "flags" field: extra rclone flags could
 * switch off the checks the write discipline relies on (--ignore-existing
 * on publish, --dry-run, --ignore-size, --ignore-checksum ...), make rclone
 * log what it should not (-vv --dump headers,bodies prints authorization
 * headers and tokens to stderr, which is shown in error messages), or send
 * the data somewhere else (--backup-dir, --config). Backend options belong
 * in the remote's own configuration.
 */
import { z } from 'zod';
import { destinationNameSchema } from '../destinations-schema.js';

/**
 * An rclone remote's name as `rclone config` accepts it: letters, digits,
 * `_ - . + @` and inner spaces, not starting with `-` (it would read as a
 * flag) or a space. Without the colon.
 */
export const rcloneRemoteSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(100, 'at most 100 characters')
  .refine((value) => !value.includes(':'), { error: 'the remote name without the colon: "gdrive", not "gdrive:" (the folder goes in "path")' })
  .refine((value) => /^[\p{L}\p{N}_.+@][\p{L}\p{N}_.+@ -]*$/u.test(value) && !value.endsWith(' '), {
    error: 'an rclone remote name has letters, digits, "_", "-", ".", "+", "@" and inner spaces, and does not start with "-" (see `rclone listremotes`)',
  });

/**
 * The folder on the remote: relative to the remote's root (for sftp: the
 * login's home) or absolute ("/srv/backups"). No control characters, no
 * "." or ".." parts; a trailing "/" is dropped. Empty: the remote's root.
 */
export const rclonePathSchema = z
  .string()
  .max(1000, 'at most 1000 characters')
  // eslint-disable-next-line no-control-regex
  .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), { error: 'a path has no control characters' })
  .refine((value) => !value.split('/').some((part) => part === '.' || part === '..'), { error: 'a path has no "." or ".." parts' })
  .transform((value) => (value.length > 1 ? value.replace(/\/+$/, '') : value));

export const rcloneDestinationSchema = z
  .object({
    /** Default: the type ("rclone"); needed to tell two rclone destinations apart. */
    name: destinationNameSchema.optional(),
    type: z.literal('rclone'),
    /** The rclone remote's name (`rclone listremotes`, without the colon), e.g. "gdrive". */
    remote: rcloneRemoteSchema,
    /** The folder on the remote; default: the remote's root. */
    path: rclonePathSchema.default(''),
    /** The rclone program: a path, or a name looked up on PATH; default "rclone". */
    binary: z.string().trim().min(1, 'must not be empty').optional(),
    /** rclone's config file (--config); default: rclone's own (RCLONE_CONFIG, else ~/.config/rclone/rclone.conf). */
    configFile: z.string().trim().min(1, 'must not be empty').optional(),
    /** One rclone call that is not a stream (list, stat, move, delete) may take this long; also rclone's --contimeout and --timeout (idle). Default 120. */
    timeoutSeconds: z.number().positive().max(3600).optional(),
  })
  .strict();

export type RcloneDestinationSettings = z.infer<typeof rcloneDestinationSchema>;
