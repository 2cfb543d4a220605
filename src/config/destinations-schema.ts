/**
 * settings.json `destinations`: the general form of where a backup goes, a
 * list of `{ name, type, ...options }`. The older `destination` + `s3` keys
 * still mean a local and an S3 destination (merge-settings.ts turns them into
 * this list), so every saved settings file keeps working. Secrets are never
 * in the file: only the names of the environment variables that hold them.
 * Each kind's own options are in src/config/destinations/<kind>-schema.ts.
 */
import { z } from 'zod';

/** A destination's name: in messages, the result, `--from NAME`. */
export const destinationNameSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(40, 'at most 40 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit (it is typed after --from)');

export const DESTINATION_TYPES = ['local', 's3', 'azure', 'sftp', 'rclone'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];
