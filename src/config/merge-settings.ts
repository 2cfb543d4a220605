/**
 * Settings precedence: defaults < settings.json < environment < flags
 * (< wizard answers, which the wizard passes as flags). A flag the user did
 * not give is undefined here and never overrides the file. The environment
 * layer is the AWS CLI's own variables for the S3 region and endpoint.
 * Pure.
 */
import path from 'node:path';
import { presetTarget, type S3Preset } from './s3-presets.js';
import { DEFAULT_FORMAT, DEFAULT_NAME_TEMPLATE } from './defaults.js';
import { REGION_RULE, bucketNameProblem, bucketSchema, destinationName, endpointSchema, regionSchema, type S3Settings, type Settings } from './schema.js';
import { ConfigError, UsageError } from '../errors.js';
import type { AzureDestinationSettings } from './destinations/azure-schema.js';
import type { SftpDestinationSettings } from './destinations/sftp-schema.js';
import type { RcloneDestinationSettings } from './destinations/rclone-schema.js';
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
  /** The S3-compatible service named in settings.json (its endpoint and region filled in below). */
  preset?: S3Preset;
  accountId?: string;
  prefix: string;
  region?: string;
  endpoint?: string;
  storageClass: string;
  keepLocal: boolean;
  timeoutSeconds?: number;
}

/**
 * One destination of the run, resolved: flags and the environment applied
 * (AWS_REGION ... for S3), paths made absolute by resolvePaths.
 */
export type EffectiveDestination =
  | { name: string; type: 'local'; path: string }
  | { name: string; type: 's3'; s3: EffectiveS3 }
  | { name: string; type: 'azure'; target: Omit<AzureDestinationSettings, 'name' | 'type'> }
  | { name: string; type: 'sftp'; target: Omit<SftpDestinationSettings, 'name' | 'type'> }
  | { name: string; type: 'rclone'; target: Omit<RcloneDestinationSettings, 'name' | 'type'> };

export interface EffectiveSettings {
  sources: string[];
  /**
   * Every destination of the run, in order: settings `destinations`, or the
   * older `destination` (unless keepLocal is false) + `s3`; flags that name a
   * destination (--dest, --s3-bucket) replace the settings' list.
   */
  destinations: EffectiveDestination[];
  /** The older keys' local folder (the first local destination of the list, else the default). */
  destination: string;
  format: string;
  name: string;
  exclude: string[];
  strict: boolean;
  logFile: string;
  /** Undefined: all cores. */
  threads?: number;
  /** The older keys' S3 upload (the first S3 destination of the list); undefined: none. */
  s3?: EffectiveS3;
}

export const DEFAULTS: Omit<EffectiveSettings, 'sources' | 's3' | 'threads' | 'destinations'> = {
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

function mergeS3(fileS3: S3Settings | undefined, flags: SettingsOverrides, env: SettingsEnv): EffectiveS3 | undefined {
  const bucket = pick(nonEmpty(flags.s3Bucket), fileS3?.bucket);
  if (bucket === undefined) return undefined;
  const region = pick(nonEmpty(flags.s3Region), nonEmpty(env.AWS_REGION), nonEmpty(env.AWS_DEFAULT_REGION), nonEmpty(fileS3?.region));
  const endpoint = pick(nonEmpty(flags.s3Endpoint), nonEmpty(env.AWS_ENDPOINT_URL_S3), nonEmpty(env.AWS_ENDPOINT_URL), nonEmpty(fileS3?.endpoint));
  // A preset fills in what was not given; a preset missing what it needs is refused by checkS3Target.
  const preset = fileS3?.preset;
  const filled = preset ? presetTarget(preset, { region, endpoint, accountId: fileS3?.accountId }) : {};
  const fromPreset = 'problem' in filled ? {} : filled;
  return {
    bucket,
    ...(preset ? { preset } : {}),
    ...(fileS3?.accountId ? { accountId: fileS3.accountId } : {}),
    prefix: (pick(flags.s3Prefix, fileS3?.prefix) ?? '').replace(/^\/+/, ''),
    region: region ?? fromPreset.region,
    endpoint: endpoint ?? fromPreset.endpoint,
    storageClass: (pick(flags.s3StorageClass, fileS3?.storageClass) ?? 'STANDARD').trim().toUpperCase(),
    keepLocal: pick(flags.keepLocal, fileS3?.keepLocal) ?? true,
    timeoutSeconds: fileS3?.timeoutSeconds,
  };
}

/**
 * The run's destinations. The settings' `destinations` list, unless a flag
 * names a destination (--dest, --s3-bucket): then, as with the older keys,
 * the flags' local folder and/or bucket (a settings `destination` / `s3`
 * still fills in what the flags leave out). --no-local drops local folders.
 */
function mergeDestinations(file: Settings | undefined, flags: SettingsOverrides, env: SettingsEnv): EffectiveDestination[] {
  const flagsName = flags.destination !== undefined || nonEmpty(flags.s3Bucket) !== undefined;
  if (file?.destinations && !flagsName) {
    const list: EffectiveDestination[] = [];
    for (const d of file.destinations) {
      const name = destinationName(d);
      if (d.type === 'local') {
        if (flags.keepLocal !== false) list.push({ name, type: 'local', path: d.path });
      } else if (d.type === 's3') {
        const { name: _name, type: _type, ...options } = d;
        // In a list, each entry is its own store: its endpoint / preset / region win over the
        // environment's (AWS_ENDPOINT_URL_S3 for one store must not send another's backups there).
        const own: SettingsEnv = {
          ...(options.endpoint || options.preset ? {} : { AWS_ENDPOINT_URL_S3: env.AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL: env.AWS_ENDPOINT_URL }),
          ...(options.region ? {} : { AWS_REGION: env.AWS_REGION, AWS_DEFAULT_REGION: env.AWS_DEFAULT_REGION }),
        };
        list.push({ name, type: 's3', s3: { ...mergeS3(options, { ...flags, s3Bucket: undefined }, own)!, keepLocal: flags.keepLocal !== false } });
      } else {
        const { name: _name, type, ...target } = d;
        list.push({ name, type, target } as EffectiveDestination);
      }
    }
    return list;
  }
  const s3 = mergeS3(file?.s3 ?? undefined, flags, env);
  const list: EffectiveDestination[] = [];
  if (!s3 || s3.keepLocal) list.push({ name: 'local', type: 'local', path: pick(flags.destination, file?.destination) ?? DEFAULTS.destination });
  if (s3) list.push({ name: 's3', type: 's3', s3 });
  return list;
}

export function mergeSettings(file: Settings | undefined, flags: SettingsOverrides, env: SettingsEnv = {}): EffectiveSettings {
  const destinations = mergeDestinations(file, flags, env);
  const firstLocal = destinations.find((d) => d.type === 'local');
  const firstS3 = destinations.find((d) => d.type === 's3');
  return {
    sources: pick(flags.sources, file?.sources) ?? [],
    destinations,
    destination: firstLocal?.path ?? pick(flags.destination, file?.destination) ?? DEFAULTS.destination,
    format: pick(flags.format, file?.format) ?? DEFAULTS.format,
    name: pick(flags.name, file?.name) ?? DEFAULTS.name,
    exclude: pick(flags.exclude, file?.exclude) ?? DEFAULTS.exclude,
    strict: pick(flags.strict, file?.strict) ?? DEFAULTS.strict,
    logFile: pick(flags.logFile, file?.logFile) ?? DEFAULTS.logFile,
    threads: pick(flags.threads, file?.threads),
    s3: firstS3 ? { ...firstS3.s3, keepLocal: firstLocal !== undefined } : undefined,
  };
}

/** Resolves relative paths against the working folder and a leading `~/` against `home`, as a shell would. */
export function resolvePaths(settings: EffectiveSettings, cwd: string, home: string): EffectiveSettings {
  const resolve = (p: string): string => path.resolve(cwd, expandHome(p, home));
  return {
    ...settings,
    sources: settings.sources.map(resolve),
    destination: resolve(settings.destination),
    destinations: settings.destinations.map((d) => (d.type === 'local' ? { ...d, path: resolve(d.path) } : d)),
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
    const { bucket, preset, accountId, prefix, region, endpoint, storageClass, keepLocal, timeoutSeconds } = settings.s3;
    out.s3 = { bucket, ...(preset ? { preset } : {}), ...(accountId ? { accountId } : {}), prefix, region: region ?? null, endpoint: endpoint ?? null, storageClass, keepLocal };
    if (timeoutSeconds !== undefined) out.s3.timeoutSeconds = timeoutSeconds;
  }
  return out;
}

/** Where each S3 value came from, for messages: the flag when one was given, else the settings file. */
export interface S3Origin {
  /** The flag or URL that named the bucket (`--s3-bucket`, `s3://b/k`), if any. */
  flag?: string;
  /** Whether --s3-region / --s3-endpoint were given. */
  regionFlag?: boolean;
  endpointFlag?: boolean;
  /** The settings file, if any. */
  file?: string;
}

/**
 * The merged S3 target against what a store accepts, once flags, the
 * environment and the file are merged (the endpoint decides how strict the
 * bucket rules are). A broken rule is a usage / configuration error (exit 2)
 * naming it, instead of "host name not found" or "Invalid URL" at the first
 * request. For a custom endpoint, a bucket name AWS would refuse is only a
 * warning (returned): Ceph and MinIO can allow capitals and underscores.
 */
export function checkS3Target(s3: EffectiveS3 | undefined, origin: S3Origin, env: SettingsEnv = {}): string | undefined {
  if (!s3) return undefined;
  const refuse = (message: string, fromFlag: boolean): never => {
    if (!fromFlag && origin.file !== undefined) throw new ConfigError(origin.file, message);
    throw new UsageError(message, { code: 'USAGE' });
  };
  if (s3.preset) {
    const filled = presetTarget(s3.preset, { region: s3.region, endpoint: s3.endpoint, accountId: s3.accountId });
    if ('problem' in filled) refuse(`s3.preset: ${filled.problem}`, false);
  }
  /** The flag, the environment variable, or the setting that gave a value. */
  const label = (fromFlag: boolean | undefined, flag: string, vars: Array<keyof SettingsEnv>, setting: string): string =>
    fromFlag ? flag : (vars.find((name) => env[name]) ?? setting);
  if (s3.endpoint !== undefined && !endpointSchema.safeParse(s3.endpoint).success) {
    const where = label(origin.endpointFlag, '--s3-endpoint', ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'], 's3.endpoint');
    refuse(`${where} ${JSON.stringify(s3.endpoint)}: expected an http:// or https:// URL`, origin.endpointFlag === true);
  }
  if (s3.region !== undefined && !regionSchema.safeParse(s3.region).success) {
    const where = label(origin.regionFlag, '--s3-region', ['AWS_REGION', 'AWS_DEFAULT_REGION'], 's3.region');
    refuse(`${where} ${JSON.stringify(s3.region)}: ${REGION_RULE}`, origin.regionFlag === true);
  }
  const basic = bucketSchema.safeParse(s3.bucket);
  const problem = basic.success ? bucketNameProblem(s3.bucket) : basic.error.issues[0]!.message;
  if (problem === undefined) return undefined;
  const text = `bucket name ${JSON.stringify(s3.bucket)}: ${problem}`;
  if (s3.endpoint === undefined || !basic.success) {
    if (origin.flag === undefined && origin.file !== undefined) throw new ConfigError(origin.file, `s3.bucket: ${text}`);
    throw new UsageError(`${origin.flag ?? 's3.bucket'}: ${text}`, { code: 'USAGE' });
  }
  return `${text}; ${s3.endpoint} may accept it, but AWS S3 would not`;
}
