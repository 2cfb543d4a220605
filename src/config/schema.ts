/**
 * The settings.json schema. Unknown keys are refused (a typo must not be
 * silently ignored), and every problem is reported with its JSON path.
 * `format` is any string on purpose: an unsupported one is the ZIP fallback,
 * a warning, not an error.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { pathTextProblem } from './check-paths.js';
import { scheduleProblem } from '../automation/schedule.js';
import { S3_PRESETS } from './s3-presets.js';
import { NotifyChannelSchema, NOTIFY_CHANNEL_SCHEMAS, SmtpSchema } from './notify-schema.js';
import { destinationNameSchema } from './destinations-schema.js';
import { azureDestinationSchema } from './destinations/azure-schema.js';
import { sftpDestinationSchema } from './destinations/sftp-schema.js';
import { rcloneDestinationSchema } from './destinations/rclone-schema.js';

/** A path as written: not blank, kept as is (a name may end in a space; it is not trimmed away). */
export const pathTextSchema = z.string().superRefine((value, ctx) => {
  const problem = pathTextProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** The most `threads` / `--threads` may ask for (README); the run never starts more workers than cores. */
export const MAX_THREADS = 256;

/** `--threads N` as a number, or undefined when it is not a whole number from 1 to MAX_THREADS. */
export function parseThreads(text: string): number | undefined {
  if (!/^\d{1,4}$/.test(text.trim())) return undefined;
  const n = Number(text.trim());
  return n >= 1 && n <= MAX_THREADS ? n : undefined;
}

/** S3 storage classes (the API's names); case is forgiven. */
export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
  'REDUCED_REDUNDANCY',
  'EXPRESS_ONEZONE',
] as const;

export const storageClassSchema = z
  .string()
  .transform((value) => value.trim().toUpperCase())
  .refine((value) => (STORAGE_CLASSES as readonly string[]).includes(value), {
    error: `expected one of ${STORAGE_CLASSES.join(', ')}`,
  });

export const endpointSchema = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });

/**
 * What any store refuses: the name goes into a URL. S3's own, stricter rules
 * (bucketNameProblem) are checked once the endpoint is known: an error for
 * AWS, a warning for a custom endpoint (some stores accept more).
 */
export const bucketSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(255, 'a bucket name is at most 63 characters (255 for some S3-compatible stores)')
  .refine((value) => !/[/\\\s]/.test(value), { error: 'a bucket name has no slashes or spaces (put folders in "prefix")' })
  .refine((value) => /^[A-Za-z0-9._-]+$/.test(value), { error: 'a bucket name has only letters, digits, dots, hyphens (and, for some stores, underscores)' });

/**
 * Which of AWS S3's bucket naming rules `name` breaks, or undefined
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return `has ${name.length} characters; an S3 bucket name has 3 to 63`;
  if (!/^[a-z0-9.-]+$/.test(name)) return 'an S3 bucket name has only lowercase letters, digits, dots and hyphens (no capitals, no underscores)';
  if (!/^[a-z0-9].*[a-z0-9]$/.test(name)) return 'an S3 bucket name begins and ends with a letter or a digit';
  if (name.includes('..')) return 'an S3 bucket name has no two dots in a row';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'an S3 bucket name is not an IP address';
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return 'an S3 bucket name does not begin with "xn--", "sthree-" or "amzn-s3-demo-"';
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) return 'an S3 bucket name does not end with "-s3alias", "--ol-s3", ".mrap", "--x-s3" or "--table-s3"';
  return undefined;
}

/** A region goes into the host name (s3.REGION.amazonaws.com) and the signature: one host name label. */
export const REGION_RULE = 'a region is letters, digits and hyphens, e.g. us-east-1';
export const regionSchema = z.string().trim().min(1, 'must not be empty').regex(/^[A-Za-z0-9-]{1,63}$/, REGION_RULE);

export const S3SettingsSchema = z.strictObject({
  bucket: bucketSchema,
  /** An S3-compatible service by name: its endpoint and region are filled in (src/config/s3-presets.ts). */
  preset: z.enum(S3_PRESETS, { error: `expected one of ${S3_PRESETS.map((p) => `"${p}"`).join(', ')}` }).optional(),
  /** Cloudflare R2's account id (the r2 preset): part of the endpoint's host name, not a secret. */
  accountId: z.string().trim().regex(/^[0-9a-fA-F]{32}$/, 'expected the 32 hex digits of your Cloudflare account id').optional(),
  prefix: z.string().optional(),
  region: regionSchema.nullable().optional(),
  endpoint: endpointSchema.nullable().optional(),
  storageClass: storageClassSchema.optional(),
  keepLocal: z.boolean().optional(),
  timeoutSeconds: z.number().positive().max(3600).optional(),
});

const keepCount = z.number().int('expected a whole number').min(0, 'expected 0 or more').max(1_000_000).optional();

/** The retention policy (restic `forget` semantics, see src/lifecycle/retention.ts). */
export const RetentionSchema = z.strictObject({
  keepLast: keepCount,
  keepHourly: keepCount,
  keepDaily: keepCount,
  keepWeekly: keepCount,
  keepMonthly: keepCount,
  keepYearly: keepCount,
  keepWithin: z
    .string()
    .superRefine((value, ctx) => {
      try {
        parseDuration(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .optional(),
});

/** A local folder (created if missing). */
export const LocalDestinationSchema = z.strictObject({
  name: destinationNameSchema.optional(),
  type: z.literal('local'),
  path: pathTextSchema,
});

/** S3 or an S3-compatible store: the `s3` block's options, without keepLocal (a local copy is its own destination). */
export const S3DestinationSchema = z.strictObject({
  name: destinationNameSchema.optional(),
  type: z.literal('s3'),
  ...S3SettingsSchema.omit({ keepLocal: true }).shape,
});

export const DESTINATION_SCHEMAS = [LocalDestinationSchema, S3DestinationSchema, azureDestinationSchema, sftpDestinationSchema, rcloneDestinationSchema] as const;

export const DestinationSettingsSchema = z.discriminatedUnion('type', [...DESTINATION_SCHEMAS], {
  error: `expected a destination with "type": ${DESTINATION_SCHEMAS.map((d) => `"${d.shape.type.value}"`).join(', ')}`,
});

export type DestinationSettings = z.infer<typeof DestinationSettingsSchema>;

/** A destination's name: as given, else its type. */
export function destinationName(d: { name?: string; type: string }): string {
  return d.name ?? d.type;
}

export const SettingsSchema = z.strictObject({
  $schema: z.string().optional(),
  sources: z.array(pathTextSchema).min(1, 'needs at least one path').optional(),
  destination: pathTextSchema.optional(),
  format: z.string().optional(),
  name: z.string().optional(),
  exclude: z.array(z.string()).optional(),
  strict: z.boolean().optional(),
  logFile: pathTextSchema.optional(),
  threads: z.number().int('expected a whole number').min(1, `expected a whole number from 1 to ${MAX_THREADS}`).max(MAX_THREADS, `expected a whole number from 1 to ${MAX_THREADS}`).optional(),
  s3: S3SettingsSchema.nullable().optional(),
  /** Where the backup goes: the general form of destination + s3 (not both). */
  destinations: z.array(DestinationSettingsSchema).min(1, 'needs at least one destination').max(16, 'at most 16 destinations').optional(),
  retention: RetentionSchema.nullable().optional(),
  /** The job's name in history, status and alerts (default: from the settings file's path). */
  job: z.string().trim().min(1, 'must not be empty').max(80, 'at most 80 characters').regex(/^[^\u0000-\u001f\u007f/\\]+$/, 'no slashes or control characters').optional(),
  /** When the job runs by itself (backup schedule install / backup daemon). */
  schedule: z
    .string()
    .superRefine((value, ctx) => {
      const problem = scheduleProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .nullable()
    .optional(),
  notify: z.array(NotifyChannelSchema).max(20, 'at most 20 channels').optional(),
}).superRefine((settings, ctx) => {
  if (!settings.destinations) return;
  const old = (['destination', 's3'] as const).filter((key) => settings[key] !== undefined && settings[key] !== null);
  if (old.length > 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['destinations'],
      message: `use either "destinations" or the older ${old.map((k) => `"${k}"`).join(' and ')}, not both: move ${old.length > 1 ? 'them' : 'it'} into the list (${old.includes('destination') ? '{ "type": "local", "path": ... }' : ''}${old.length > 1 ? ', ' : ''}${old.includes('s3') ? '{ "type": "s3", "bucket": ... }' : ''})`,
    });
  }
  const seen = new Map<string, number>();
  settings.destinations.forEach((d, i) => {
    const name = destinationName(d);
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else ctx.addIssue({ code: 'custom', path: ['destinations', i, 'name'], message: `destinations[${first}] is named "${name}" too: give each destination its own "name"` });
  });
});

export type Settings = z.infer<typeof SettingsSchema>;
export type S3Settings = z.infer<typeof S3SettingsSchema>;
export type RetentionSettings = z.infer<typeof RetentionSchema>;

/** `sources[0]`, `s3.bucket`: the JSON path of a problem, as users read it. */
export function formatJsonPath(pathParts: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of pathParts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list (JSON array)',
  object: 'an object',
};

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  // At most 40 characters of the value: enough to recognise it, never a whole secret from a mistaken file.
  const text = JSON.stringify(value) ?? String(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 30)}... (${text.length} characters)` : text}`;
}

/** One zod issue as `path: message`, in plain words. */
export function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const where = formatJsonPath(issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      let value: unknown = input;
      for (const part of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[part];
      const last = issue.path[issue.path.length - 1];
      if (value === undefined && typeof last === 'string' && last.endsWith('Env')) {
        return `${where}: missing: the NAME of the environment variable (or .env entry) that holds the secret, e.g. "${last}": "${last === 'passwordEnv' ? 'SMTP_PASSWORD' : 'SLACK_WEBHOOK_URL'}"; the secret itself never goes in settings.json`;
      }
      return `${where}: expected ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${value === undefined ? 'nothing' : describeValue(value)}`;
    }
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path, input);
      return issue.keys
        .map((key) => {
          // "password": "..." or "url": "..." in a channel: the secret goes in .env, named by passwordEnv / urlEnv.
          const guess = closest(key, known) ?? closest(`${key}Env`, known);
          const at = issue.path.length > 0 ? `${formatJsonPath(issue.path)}.${key}` : key;
          return `${at}: unknown setting${guess ? ` (did you mean "${guess}"?)` : ''}`;
        })
        .join('; ');
    }
    default:
      return `${where}: ${issue.message}`;
  }
}

function knownKeys(pathParts: ReadonlyArray<PropertyKey>, input: unknown): string[] {
  if (pathParts.length === 1 && pathParts[0] === 's3') return Object.keys(S3SettingsSchema.shape);
  if (pathParts[0] === 'notify' && typeof pathParts[1] === 'number') {
    if (pathParts[2] === 'smtp') return Object.keys(SmtpSchema.shape);
    const channels = (input as { notify?: unknown[] } | undefined)?.notify;
    const type = (channels?.[pathParts[1]] as { type?: unknown } | undefined)?.type;
    const schema = NOTIFY_CHANNEL_SCHEMAS.find((c) => c.shape.type.value === type);
    return schema ? Object.keys(schema.shape) : [];
  }
  if (pathParts.length === 1 && pathParts[0] === 'retention') return Object.keys(RetentionSchema.shape);
  if (pathParts[0] === 'destinations' && typeof pathParts[1] === 'number') {
    const list = (input as { destinations?: unknown[] } | undefined)?.destinations;
    const type = (list?.[pathParts[1]] as { type?: unknown } | undefined)?.type;
    const schema = DESTINATION_SCHEMAS.find((d) => d.shape.type.value === type);
    return schema ? Object.keys(schema.shape) : [];
  }
  return Object.keys(SettingsSchema.shape);
}

/** The known key nearest to a typo, if it is near enough. */
function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
