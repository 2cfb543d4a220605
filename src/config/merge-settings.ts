/**
 * Settings precedence: defaults < settings.json < environment < flags
 * (< wizard answers, which the wizard passes as flags). A flag the user did
 * not give is undefined here and never overrides the file. The environment
 * layer is the AWS CLI's own variables for the S3 region and endpoint.
 * Pure.
 */
import path from 'node:path';
import { DEFAULT_FORMAT } from '../archive/formats.js';
import { DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import { bucketNameProblem, bucketSchema, type Settings } from './schema.js';
import { ConfigError, UsageError } from '../errors.js';
import { expandHome } from './expand-home.js';

export const DEFAULT_DESTINATION = 'backups';
export const DEFAULT_LOG_FILE = path.join('logs', 'backup.log');

/** What can come from the command line (or the wizard); undefined = not given. */
export interface SettingsOverrides {
  sources?: string[];
  destination?: string;
  format?: string;
  name?: string;
  exclude?: string[];
  strict?: boolean;
  logFile?: string;
  threads?: number;
  s3Bucket?: string;
  s3Prefix?: string;
  s3Region?: string;
  s3Endpoint?: string;
  s3StorageClass?: string;
  /** false for --no-local. */
  keepLocal?: boolean;
}

export interface EffectiveS3 {
  bucket: string;
  prefix: string;
  region?: string;
  endpoint?: string;
  storageClass: string;
  keepLocal: boolean;
  timeoutSeconds?: number;
}

export interface EffectiveSettings {
  sources: string[];
  destination: string;
  format: string;
  name: string;
  exclude: string[];
  strict: boolean;
  logFile: string;
  /** Undefined: all cores. */
  threads?: number;
  /** Undefined: no upload. */
  s3?: EffectiveS3;
}

export const DEFAULTS: Omit<EffectiveSettings, 'sources' | 's3' | 'threads'> = {
  destination: DEFAULT_DESTINATION,
  format: DEFAULT_FORMAT,
  name: DEFAULT_NAME_TEMPLATE,
  exclude: [],
  strict: false,
  logFile: DEFAULT_LOG_FILE,
};

/** The first value that is defined, left to right. */
function pick<T>(...values: Array<T | undefined>): T | undefined {
  return values.find((v) => v !== undefined);
}

/** The environment variables that take part (AWS CLI names). */
export interface SettingsEnv {
  AWS_REGION?: string;
  AWS_DEFAULT_REGION?: string;
  AWS_ENDPOINT_URL_S3?: string;
  AWS_ENDPOINT_URL?: string;
}

const nonEmpty = (value: string | null | undefined): string | undefined => (value ? value : undefined);

function mergeS3(file: Settings | undefined, flags: SettingsOverrides, env: SettingsEnv): EffectiveS3 | undefined {
  const fileS3 = file?.s3 ?? undefined;
  const bucket = pick(nonEmpty(flags.s3Bucket), fileS3?.bucket);
  if (bucket === undefined) return undefined;
  return {
    bucket,
    prefix: (pick(flags.s3Prefix, fileS3?.prefix) ?? '').replace(/^\/+/, ''),
    region: pick(nonEmpty(flags.s3Region), nonEmpty(env.AWS_REGION), nonEmpty(env.AWS_DEFAULT_REGION), nonEmpty(fileS3?.region)),
    endpoint: pick(nonEmpty(flags.s3Endpoint), nonEmpty(env.AWS_ENDPOINT_URL_S3), nonEmpty(env.AWS_ENDPOINT_URL), nonEmpty(fileS3?.endpoint)),
    storageClass: (pick(flags.s3StorageClass, fileS3?.storageClass) ?? 'STANDARD').trim().toUpperCase(),
    keepLocal: pick(flags.keepLocal, fileS3?.keepLocal) ?? true,
    timeoutSeconds: fileS3?.timeoutSeconds,
  };
}

export function mergeSettings(file: Settings | undefined, flags: SettingsOverrides, env: SettingsEnv = {}): EffectiveSettings {
  return {
    sources: pick(flags.sources, file?.sources) ?? [],
    destination: pick(flags.destination, file?.destination) ?? DEFAULTS.destination,
    format: pick(flags.format, file?.format) ?? DEFAULTS.format,
    name: pick(flags.name, file?.name) ?? DEFAULTS.name,
    exclude: pick(flags.exclude, file?.exclude) ?? DEFAULTS.exclude,
    strict: pick(flags.strict, file?.strict) ?? DEFAULTS.strict,
    logFile: pick(flags.logFile, file?.logFile) ?? DEFAULTS.logFile,
    threads: pick(flags.threads, file?.threads),
    s3: mergeS3(file, flags, env),
  };
}

/** Resolves relative paths against the working folder and a leading `~/` against `home`, as a shell would. */
export function resolvePaths(settings: EffectiveSettings, cwd: string, home: string): EffectiveSettings {
  const resolve = (p: string): string => path.resolve(cwd, expandHome(p, home));
  return {
    ...settings,
    sources: settings.sources.map(resolve),
    destination: resolve(settings.destination),
    logFile: resolve(settings.logFile),
  };
}

/** The settings.json content that reproduces `settings` (defaults left out). */
export function toSettingsFile(settings: EffectiveSettings): Settings {
  const out: Settings = { sources: settings.sources, destination: settings.destination, format: settings.format };
  if (settings.name !== DEFAULTS.name) out.name = settings.name;
  if (settings.exclude.length > 0) out.exclude = settings.exclude;
  if (settings.strict) out.strict = true;
  if (settings.logFile !== DEFAULTS.logFile) out.logFile = settings.logFile;
  if (settings.threads !== undefined) out.threads = settings.threads;
  if (settings.s3) {
    const { bucket, prefix, region, endpoint, storageClass, keepLocal, timeoutSeconds } = settings.s3;
    out.s3 = { bucket, prefix, region: region ?? null, endpoint: endpoint ?? null, storageClass, keepLocal };
    if (timeoutSeconds !== undefined) out.s3.timeoutSeconds = timeoutSeconds;
  }
  return out;
}

/**
 * The bucket name against S3's naming rules, once the endpoint is known.
 * AWS (no endpoint): a broken rule is a usage / configuration error (exit 2)
 * naming the rule, instead of "host name not found" at the first request. A
 * custom endpoint may accept more (Ceph and MinIO can allow capitals and
 * underscores): the returned warning says what AWS would refuse.
 * `origin` says where the name came from, for the message.
 */
export function checkBucketName(s3: EffectiveS3 | undefined, origin: { flag?: string; file?: string }): string | undefined {
  if (!s3) return undefined;
  const basic = bucketSchema.safeParse(s3.bucket);
  const problem = basic.success ? bucketNameProblem(s3.bucket) : basic.error.issues[0]!.message;
  if (problem === undefined) return undefined;
  if (s3.endpoint === undefined || !basic.success) {
    const text = `bucket name ${JSON.stringify(s3.bucket)}: ${problem}`;
    if (origin.flag === undefined && origin.file !== undefined) throw new ConfigError(origin.file, `s3.bucket: ${text}`);
    throw new UsageError(`${origin.flag ?? 's3.bucket'}: ${text}`, { code: 'USAGE' });
  }
  return `bucket name ${JSON.stringify(s3.bucket)}: ${problem}; ${s3.endpoint} may accept it, but AWS S3 would not`;
}
