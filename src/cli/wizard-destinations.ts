/**
 * The wizard's destinations after the local folder: "Also send the backup
 * to another destination?", then for each one its kind, the kind's own
 * questions, a name, and a check before going on (credentials, the
 * bucket / container / folder, write permission: the store's own check()).
 * A failing check says which destination and why, and offers to change its
 * answers, check again, leave it out, or quit: a destination is never
 * dropped without asking. Secrets (an Azure key) are asked with a masked
 * prompt and kept apart from the settings (the caller writes them to .env).
 */
import { checkDestination, resolveUserPath } from '../config/check-paths.js';
import { expandHome } from '../config/expand-home.js';
import { DESTINATION_TYPES, destinationNameSchema } from '../config/destinations-schema.js';
import { AZURE_ENV_DEFAULTS, AZURE_TIERS, azureAccountSchema, azureContainerSchema, azureKeyProblem, type AzureTier } from '../config/destinations/azure-schema.js';
import { DESTINATION_SCHEMAS, STORAGE_CLASSES, endpointSchema, type DestinationSettings } from '../config/schema.js';
import type { S3Preset } from '../config/s3-presets.js';
import { CancelledError } from '../errors.js';
import { checkNotVirtualFs, checkPathText, schemaValidator, toValidator, type Choice, type Prompter } from './wizard-prompts.js';
import {
  askRcloneQuestions,
  askSftpQuestions,
  rcloneLabel,
  sftpLabel,
  type RcloneDestinationEntry,
  type SftpDestinationEntry,
} from './wizard-remote-kinds.js';

type KnownEntry = DestinationSettings | SftpDestinationEntry | RcloneDestinationEntry;
/** A destination as the wizard saves it: its settings.json `destinations[]` entry, named (paths as typed, `~` expanded). */
export type WizardDestination = KnownEntry & { name: string };
export type DestinationKind = KnownEntry['type'];
export type S3Destination = Extract<WizardDestination, { type: 's3' }>;
export type AzureDestination = Extract<WizardDestination, { type: 'azure' }>;
export type LocalDestination = Extract<WizardDestination, { type: 'local' }>;
type Unnamed<T> = T extends unknown ? Omit<T, 'name'> : never;

/** Why a destination cannot be used: the sentence to show, and the error code (S3_NO_CREDENTIALS, ...). */
export interface DestinationProblem {
  message: string;
  code?: string;
}

export interface DestinationsContext {
  cwd: string;
  home: string;
  host: string;
  /** Defaults offered for the S3 region and endpoint (from AWS_REGION, AWS_ENDPOINT_URL_S3). */
  defaultRegion?: string;
  defaultEndpoint?: string;
  /** The environment (with .env), to see which Azure credentials are already set. */
  env?: Record<string, string | undefined>;
  /**
   * Opens the destination as a run would and runs its check (the
   * secrets typed so far in the environment): what is wrong, or undefined.
   */
  checkDestination: (destination: WizardDestination, secrets: Record<string, string>) => Promise<DestinationProblem | undefined>;
  say: (line: string) => void;
}

export interface DestinationAnswers {
  /** After the local folder, in order; each passed its check. */
  extras: WizardDestination[];
  /** false: the local folder is not written (only the extras). */
  keepLocal: boolean;
  /** Secrets typed for the extras, by environment variable name (for .env; never in settings.json). */
  secrets: Record<string, string>;
}

/** What each kind is called in the "Kind of destination" list and in the summary. */
const KIND_CHOICES: Record<DestinationKind, { choice: string; short: string }> = {
  s3: { choice: 'Amazon S3 or S3-compatible (R2, B2, Wasabi, MinIO, Ceph ...)', short: 'S3' },
  azure: { choice: 'Azure Blob Storage', short: 'Azure Blob' },
  sftp: { choice: 'An SFTP server (SSH)', short: 'SFTP' },
  rclone: { choice: 'An rclone remote (Google Drive, Dropbox, OneDrive ... set up with `rclone config`)', short: 'rclone' },
  local: { choice: 'Another folder (a second disk, a mounted share)', short: 'another folder' },
};

/** The kinds settings.json accepts in this build, in the order offered (SFTP and rclone appear once their schemas are in). */
export function offeredKinds(): DestinationKind[] {
  const known = new Set<string>(DESTINATION_SCHEMAS.map((schema) => schema.shape.type.value));
  const order: DestinationKind[] = ['s3', 'azure', 'sftp', 'rclone', 'local'];
  return order.filter((kind) => known.has(kind) && (DESTINATION_TYPES as readonly string[]).includes(kind));
}

// ---------------------------------------------------------------------------
// Checks of single answers (pure), exported for the tests.

/** Amazon S3's bucket naming rules (general purpose buckets), which S3-compatible stores follow too. */
export function checkBucketName(value: string): string | undefined {
  const name = value.trim();
  if (name === '') return 'Enter the bucket name.';
  if (/[/\\\s]/.test(name)) return 'A bucket name has no slashes or spaces (folders go in the key prefix, asked next).';
  if (name.length < 3 || name.length > 63) return `A bucket name is 3 to 63 characters long (this one is ${name.length}).`;
  if (!/^[a-z0-9.-]+$/.test(name)) {
    const suggestion = name.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
    const meant = checkBucketName(suggestion) === undefined ? ` (did you mean ${suggestion}?)` : '';
    return /[A-Z]/.test(name)
      ? `A bucket name has no capital letters${meant}.`
      : `A bucket name has only lowercase letters, digits, dots and hyphens${meant}.`;
  }
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'A bucket name starts and ends with a letter or digit.';
  if (name.includes('..')) return 'A bucket name has no two dots in a row.';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'A bucket name is not an IP address.';
  for (const prefix of ['xn--', 'sthree-', 'amzn-s3-demo-']) if (name.startsWith(prefix)) return `A bucket name does not start with "${prefix}".`;
  for (const suffix of ['-s3alias', '--ol-s3', '.mrap', '--x-s3']) if (name.endsWith(suffix)) return `A bucket name does not end with "${suffix}".`;
  return undefined;
}

/** A region is empty (the AWS profile's) or a word like eu-west-1, auto, default. */
export function checkRegion(value: string): string | undefined {
  const region = value.trim();
  if (region === '' || /^[a-z0-9][a-z0-9-]*$/.test(region)) return undefined;
  return 'A region is lowercase letters, digits and dashes, e.g. eu-west-1 (empty: the one in your AWS profile).';
}

export function checkPrefix(value: string): string | undefined {
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'The prefix contains a control character.';
  if (value.split('/').some((part) => part === '..' || part === '.')) return 'The prefix has a "." or ".." part; use plain folder names, e.g. host1/.';
  return undefined;
}

/** `type`, else `type-2`, `type-3` ...: the first not in `taken`. */
export function uniqueName(type: string, taken: readonly string[]): string {
  if (!taken.includes(type)) return type;
  let n = 2;
  while (taken.includes(`${type}-${n}`)) n++;
  return `${type}-${n}`;
}

/** A destination name as typed: the settings' rule (destinationNameSchema), and not one already used. */
export function checkDestinationName(value: string, taken: readonly string[]): string | undefined {
  const parsed = destinationNameSchema.safeParse(value);
  if (!parsed.success) return `A destination name: ${parsed.error.issues[0]?.message ?? 'invalid'}.`;
  if (taken.includes(parsed.data)) return `"${parsed.data}" already names another destination (${taken.join(', ')}); choose another name.`;
  return undefined;
}

// ---------------------------------------------------------------------------
// Labels.

const S3_SERVICES: Array<Choice<S3Preset | 'other'>> = [
  { name: 'Amazon S3', value: 'aws' },
  { name: 'Cloudflare R2', value: 'r2' },
  { name: 'Backblaze B2', value: 'b2' },
  { name: 'Wasabi', value: 'wasabi' },
  { name: 'DigitalOcean Spaces', value: 'spaces' },
  { name: 'Google Cloud Storage (with HMAC keys)', value: 'gcs' },
  { name: 'Another S3-compatible store (MinIO, Ceph, Garage ...): give its endpoint URL', value: 'other' },
];

/** Where the destination is, for people: the folder, s3://bucket/prefix, azure://account/container/prefix ... */
export function destinationLabel(d: WizardDestination | Unnamed<WizardDestination>, ctx: { cwd: string; home: string }): string {
  switch (d.type) {
    case 'local':
      return resolveUserPath(d.path, ctx.cwd, ctx.home);
    case 's3': {
      const service = d.preset && d.preset !== 'aws' ? S3_SERVICES.find((s) => s.value === d.preset)?.name : undefined;
      const at = d.endpoint ? ` at ${d.endpoint}` : service ? ` (${service})` : '';
      return `s3://${d.bucket}/${d.prefix ?? ''}${at}${d.storageClass && d.storageClass !== 'STANDARD' ? `, ${d.storageClass}` : ''}`;
    }
    case 'azure':
      return `azure://${d.account ?? '(account from the connection string)'}/${d.container}/${d.prefix}${d.endpoint ? ` at ${d.endpoint}` : ''}${d.tier ? `, ${d.tier}` : ''}`;
    case 'sftp':
      return sftpLabel(d);
    case 'rclone':
      return rcloneLabel(d);
  }
}

/** "S3", "Azure Blob", ... */
export function kindName(kind: DestinationKind): string {
  return kind === 'local' ? 'folder' : KIND_CHOICES[kind].short;
}

// ---------------------------------------------------------------------------
// The kinds' questions.

const STORAGE_CLASS_NOTES: Record<string, string> = {
  STANDARD: 'the default; no minimum duration or retrieval fee',
  STANDARD_IA: 'cheaper storage, retrieval fee, 30-day minimum',
  ONEZONE_IA: 'like STANDARD_IA in a single zone',
  INTELLIGENT_TIERING: 'S3 moves it between tiers by access',
  GLACIER_IR: 'archive, read back in milliseconds, 90-day minimum',
  GLACIER: 'archive; needs a restore (minutes to hours) before download',
  DEEP_ARCHIVE: 'cheapest; needs a restore (up to 48 h) before download, 180-day minimum',
};

const REGION_EXAMPLES: Partial<Record<S3Preset, string>> = {
  b2: 'Region, from the bucket\'s endpoint s3.REGION.backblazeb2.com (e.g. us-west-004):',
  wasabi: 'Region of the bucket (e.g. us-east-1, eu-central-1):',
  spaces: 'Region of the Space (e.g. nyc3, fra1):',
};

/** Service, bucket, prefix, then what the service needs (region, account id or endpoint), storage class. */
export async function askS3Questions(prompts: Prompter, ctx: DestinationsContext, previous?: Unnamed<S3Destination>): Promise<Unnamed<S3Destination>> {
  const before = previous ? (previous.preset ?? (previous.endpoint ? 'other' : 'aws')) : ctx.defaultEndpoint ? 'other' : 'aws';
  const service = await prompts.select<S3Preset | 'other'>({ message: 'Which S3 service?', default: before, choices: S3_SERVICES });
  const same = previous !== undefined && before === service;
  const bucket = (await prompts.input({ message: 'S3 bucket:', default: previous?.bucket, validate: toValidator(checkBucketName) })).trim();
  const prefix = (await prompts.input({ message: 'Key prefix (folder) in the bucket:', default: previous?.prefix ?? `${ctx.host}/`, validate: toValidator(checkPrefix) }))
    .trim()
    .replace(/^\/+/, '');
  // Amazon S3 is the default: no preset written (a file as before).
  const out: Unnamed<S3Destination> = { type: 's3', bucket, ...(service === 'other' || service === 'aws' ? {} : { preset: service }), prefix };
  const region = async (message: string, required: boolean, fallback: string): Promise<void> => {
    const typed = (
      await prompts.input({
        message,
        default: (same ? previous?.region : undefined) ?? fallback,
        validate: toValidator((value) => (required && value.trim() === '' ? 'Type the region.' : checkRegion(value))),
      })
    ).trim();
    if (typed !== '') out.region = typed;
  };
  if (service === 'aws') await region('Region (empty: from your AWS profile):', false, ctx.defaultRegion ?? '');
  else if (service === 'r2') {
    out.accountId = (
      await prompts.input({
        message: 'Cloudflare account id (32 hex digits, on the R2 overview page):',
        default: same ? previous?.accountId : undefined,
        validate: toValidator((value) => (/^[0-9a-fA-F]{32}$/.test(value.trim()) ? undefined : 'An account id is 32 hex digits (R2 overview page, right column).')),
      })
    ).trim();
  } else if (service === 'b2' || service === 'wasabi' || service === 'spaces') await region(REGION_EXAMPLES[service]!, true, '');
  else if (service === 'other') {
    out.endpoint = (
      await prompts.input({
        message: 'Endpoint URL of the S3-compatible store:',
        default: (same ? previous?.endpoint : undefined) ?? ctx.defaultEndpoint,
        validate: (value) => (value.trim() === '' ? 'Type the URL, e.g. https://minio.example.lan:9000.' : schemaValidator(endpointSchema)(value)),
      })
    ).trim();
    await region('Region (empty: none, us-east-1 is used to sign):', false, ctx.defaultRegion ?? '');
  }
  // Other services have their own classes (or none): STANDARD, the default, is left to them.
  if (service === 'aws' || service === 'other') {
    out.storageClass = await prompts.select<string>({
      message: 'Storage class:',
      default: previous?.storageClass ?? 'STANDARD',
      choices: STORAGE_CLASSES.filter((c) => c !== 'REDUCED_REDUNDANCY' && c !== 'EXPRESS_ONEZONE').map((c) => ({ name: c, value: c, description: STORAGE_CLASS_NOTES[c] })),
    });
  }
  return out;
}

type AzureSignIn = 'env' | 'keep' | 'key' | 'sas' | 'connection-string' | 'default';

const AZURE_SECRETS = {
  key: { field: 'keyEnv', base: AZURE_ENV_DEFAULTS.keyEnv, what: 'account key' },
  sas: { field: 'sasEnv', base: AZURE_ENV_DEFAULTS.sasEnv, what: 'SAS token' },
  'connection-string': { field: 'connectionStringEnv', base: AZURE_ENV_DEFAULTS.connectionStringEnv, what: 'connection string' },
} as const;

/** The environment variables an Azure destination reads its credentials from. */
export function azureSecretNames(d: Pick<AzureDestination, 'keyEnv' | 'sasEnv' | 'connectionStringEnv'>): string[] {
  return [d.connectionStringEnv ?? AZURE_ENV_DEFAULTS.connectionStringEnv, d.keyEnv ?? AZURE_ENV_DEFAULTS.keyEnv, d.sasEnv ?? AZURE_ENV_DEFAULTS.sasEnv];
}

/**
 * Container, how this machine signs in (a key, SAS token or connection
 * string typed here goes to .env, never settings.json), account, endpoint,
 * prefix, tier. `secrets`: typed so far in this wizard (another Azure
 * destination's key is not overwritten: this one gets its own variable).
 */
export async function askAzureQuestions(
  prompts: Prompter,
  ctx: DestinationsContext,
  secrets: Readonly<Record<string, string>>,
  previous?: Unnamed<AzureDestination>,
): Promise<{ settings: Unnamed<AzureDestination>; secrets: Record<string, string> }> {
  const env = ctx.env ?? {};
  const set = (name: string): boolean => Boolean(env[name]?.trim());
  const container = (await prompts.input({ message: 'Azure container:', default: previous?.container, validate: schemaValidator(azureContainerSchema) })).trim();

  const fromEnv = [AZURE_ENV_DEFAULTS.connectionStringEnv, AZURE_ENV_DEFAULTS.keyEnv, AZURE_ENV_DEFAULTS.sasEnv].find(set);
  const previousSecret = previous ? azureSecretNames(previous).find((name) => secrets[name] !== undefined) : undefined;
  const choices: Array<Choice<AzureSignIn>> = [
    ...(previousSecret ? [{ name: `The ${previousSecret} typed before`, value: 'keep' as const }] : []),
    ...(fromEnv ? [{ name: `${fromEnv}, set in the environment (or .env)`, value: 'env' as const }] : []),
    { name: 'An account key (typed here, kept in ./.env)', value: 'key' },
    { name: 'A SAS token (typed here, kept in ./.env)', value: 'sas' },
    { name: 'A connection string (typed here, kept in ./.env)', value: 'connection-string' },
    { name: '`az login`, a managed identity or AZURE_CLIENT_ID/SECRET/TENANT_ID (nothing to keep)', value: 'default' },
  ];
  const signIn = await prompts.select<AzureSignIn>({ message: 'How does this machine sign in to Azure Storage?', default: choices[0]!.value, choices });

  const out: Unnamed<AzureDestination> = { type: 'azure', container, prefix: '' };
  const typed: Record<string, string> = {};
  if (signIn === 'keep' && previous) {
    for (const field of ['keyEnv', 'sasEnv', 'connectionStringEnv'] as const) if (previous[field]) out[field] = previous[field];
    typed[previousSecret!] = secrets[previousSecret!]!;
  } else if (signIn === 'key' || signIn === 'sas' || signIn === 'connection-string') {
    const { field, base, what } = AZURE_SECRETS[signIn];
    // Another destination's secret of that kind (typed here, or in the environment, which wins over .env) keeps its variable;
    // this destination's own earlier one (asked again after a failed check) is replaced.
    const own = previous ? azureSecretNames(previous) : [];
    let name: string = base;
    for (let n = 2; (secrets[name] !== undefined && !own.includes(name)) || set(name); n++) name = `${base}_${n}`;
    if (name !== base) out[field] = name;
    ctx.say(`  The ${what} is kept in ./.env as ${name} when the settings are saved, never in settings.json.`);
    const value = await prompts.password({
      message: `${what[0]!.toUpperCase()}${what.slice(1)} (hidden):`,
      mask: '*',
      validate: (v) => {
        if (v.trim() === '') return `Paste the ${what}.`;
        if (/[\r\n]/.test(v)) return `The ${what} is one line.`;
        if (signIn === 'connection-string' && !/(AccountName|BlobEndpoint)=/i.test(v)) return 'A connection string has AccountName=... or BlobEndpoint=... (Access keys page of the storage account).';
        const keyProblem = signIn === 'key' ? azureKeyProblem(v.trim()) : undefined;
        if (keyProblem) return `Not an account key: ${keyProblem}.`;
        return true;
      },
    });
    typed[name] = signIn === 'sas' ? value.trim().replace(/^\?/, '') : value.trim();
  }

  if (signIn !== 'connection-string' && !(signIn === 'env' && fromEnv === AZURE_ENV_DEFAULTS.connectionStringEnv)) {
    const account = (
      await prompts.input({
        message: 'Storage account name:',
        default: previous?.account ?? env[AZURE_ENV_DEFAULTS.accountEnv] ?? undefined,
        validate: schemaValidator(azureAccountSchema),
      })
    ).trim();
    out.account = account;
    const endpoint = (
      await prompts.input({
        message: `Blob service URL (empty: https://${account}.blob.core.windows.net):`,
        default: previous?.endpoint ?? '',
        validate: schemaValidator(endpointSchema, true),
      })
    ).trim();
    if (endpoint !== '') out.endpoint = endpoint;
  }
  out.prefix = (
    await prompts.input({ message: 'Blob name prefix (folder) in the container:', default: previous?.prefix ?? `${ctx.host}/`, validate: toValidator(checkPrefix) })
  )
    .trim()
    .replace(/^\/+/, '');
  const tier = await prompts.select<AzureTier | 'default'>({
    message: 'Access tier:',
    default: previous?.tier ?? 'default',
    choices: [
      { name: "The account's default", value: 'default' },
      ...AZURE_TIERS.map((t) => ({
        name: t,
        value: t,
        description: { Hot: 'frequent access', Cool: '30-day minimum, cheaper storage', Cold: '90-day minimum', Archive: 'cheapest; hours to rehydrate before a restore, 180-day minimum' }[t],
      })),
    ],
  });
  if (tier !== 'default') out.tier = tier;
  return { settings: out, secrets: typed };
}

async function askLocalFolder(
  prompts: Prompter,
  ctx: DestinationsContext,
  taken: readonly string[],
  sources: readonly string[],
  previous?: Unnamed<LocalDestination>,
): Promise<Unnamed<LocalDestination>> {
  const typed = await prompts.input({
    message: 'Folder (created if missing):',
    default: previous?.path,
    validate: toValidator(async (value) => {
      const problem = checkPathText(value, 'a folder');
      if (problem) return problem;
      const abs = resolveUserPath(value, ctx.cwd, ctx.home);
      if (taken.includes(abs)) return `${abs} is already a destination; choose another folder.`;
      return (await checkNotVirtualFs(abs)) ?? (await checkDestination(value, ctx.cwd, ctx.home, sources));
    }),
  });
  return { type: 'local', path: expandHome(typed.trim(), ctx.home) };
}

// ---------------------------------------------------------------------------

function explainS3Credentials(ctx: DestinationsContext): void {
  ctx.say('No AWS credentials were found, and no answer here can supply them. Give them in one of these ways:');
  // No "NAME=..." for the secret: the output's redaction would print it as "=[redacted]".
  ctx.say('  - a .env file in this folder that sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (one NAME=value line each)');
  ctx.say('  - AWS_PROFILE=name in the environment, with that profile in ~/.aws/credentials or ~/.aws/config');
  ctx.say('  - a [default] profile in ~/.aws/credentials (`aws configure` writes it; `aws sso login` for SSO)');
}

type AfterCheck = 'fix' | 'retry' | 'skip' | 'quit';

/**
 * Checks `entry` until it passes (returned), the person leaves it out
 * (undefined) or quits (CancelledError: exit 130, nothing run or saved).
 */
async function checkUntilUsable(
  prompts: Prompter,
  ctx: DestinationsContext,
  entry: WizardDestination,
  secrets: Record<string, string>,
  reask: (before: WizardDestination) => Promise<WizardDestination>,
): Promise<WizardDestination | undefined> {
  for (;;) {
    const label = destinationLabel(entry, ctx);
    ctx.say(`Checking ${entry.name} (${label}) ...`);
    const problem = await ctx.checkDestination(entry, secrets);
    if (!problem) {
      ctx.say(`OK: ${entry.name} can be ${entry.type === 'local' ? 'created and written' : 'reached and written'}.`);
      return entry;
    }
    ctx.say(`Destination "${entry.name}" (${label}) cannot be used: ${problem.message}`);
    const noCredentials = problem.code === 'S3_NO_CREDENTIALS';
    if (noCredentials) explainS3Credentials(ctx);
    const choice = await prompts.select<AfterCheck>({
      message: `What now with "${entry.name}"?`,
      default: noCredentials ? 'skip' : 'fix',
      choices: [
        { name: 'Change its answers (Enter keeps each one)', value: 'fix' },
        { name: 'Check again (after fixing it elsewhere, e.g. credentials added in another terminal)', value: 'retry' },
        { name: `Leave "${entry.name}" out (the backup goes to the other destinations)`, value: 'skip' },
        { name: 'Quit (nothing is backed up or saved)', value: 'quit' },
      ],
    });
    // Quitting is the person's choice, like Ctrl-C: exit 130, nothing was run.
    if (choice === 'quit') throw new CancelledError(`Quit: nothing was backed up. Fix destination "${entry.name}", then run \`npx backup\` again.`);
    if (choice === 'skip') {
      ctx.say(`Left out "${entry.name}".`);
      return undefined;
    }
    if (choice === 'fix') entry = await reask(entry);
  }
}

/** "S3, Azure Blob, SFTP, rclone, another folder" (the kinds offered). */
export function offeredKindsText(): string {
  return offeredKinds()
    .map((k) => KIND_CHOICES[k].short)
    .join(', ');
}

/**
 * After the local folder: more destinations, as a list. Each one's
 * questions, a name (default: its kind, made unique), then its check. With
 * `previous` (after a failed run), each question offers the earlier answer.
 */
export async function askDestinations(
  prompts: Prompter,
  ctx: DestinationsContext,
  local: { typed: string; abs: string; sources: readonly string[] },
  previous?: DestinationAnswers,
): Promise<DestinationAnswers> {
  const none: DestinationAnswers = { extras: [], keepLocal: true, secrets: {} };
  const had = previous?.extras.length ?? 0;
  if (!(await prompts.confirm({ message: `Also send the backup to another destination (${offeredKindsText()})?`, default: had > 0 }))) return none;

  const kinds = offeredKinds();
  const extras: WizardDestination[] = [];
  const secrets: Record<string, string> = { ...previous?.secrets };
  for (let i = 0; ; i++) {
    const before = previous?.extras[i];
    const type = await prompts.select<DestinationKind>({
      message: extras.length === 0 ? 'Kind of destination:' : 'Kind of the next destination:',
      default: before?.type ?? 's3',
      choices: kinds.map((k) => ({ name: KIND_CHOICES[k].choice, value: k })),
    });
    const taken = ['local', ...extras.map((e) => e.name)];
    const ask = async (earlier: WizardDestination | undefined): Promise<WizardDestination> => {
      let settings: Unnamed<WizardDestination>;
      switch (type) {
        case 'local': {
          const folders = [local.abs, ...extras.filter((e) => e.type === 'local').map((e) => resolveUserPath(e.path, ctx.cwd, ctx.home))];
          settings = await askLocalFolder(prompts, ctx, folders, local.sources, earlier?.type === 'local' ? earlier : undefined);
          break;
        }
        case 's3':
          settings = await askS3Questions(prompts, ctx, earlier?.type === 's3' ? earlier : undefined);
          break;
        case 'azure': {
          const asked = await askAzureQuestions(prompts, ctx, secrets, earlier?.type === 'azure' ? earlier : undefined);
          Object.assign(secrets, asked.secrets);
          settings = asked.settings;
          break;
        }
        case 'sftp':
          settings = await askSftpQuestions(prompts, ctx, earlier?.type === 'sftp' ? earlier : undefined);
          break;
        case 'rclone':
          settings = await askRcloneQuestions(prompts, ctx, earlier?.type === 'rclone' ? earlier : undefined);
          break;
      }
      const suggested = earlier?.type === type && !taken.includes(earlier.name) ? earlier.name : uniqueName(type, taken);
      const name = (
        await prompts.input({
          message: 'Name for this destination (in messages, and for --from NAME):',
          default: suggested,
          validate: toValidator((value) => checkDestinationName(value, taken)),
        })
      ).trim();
      return { name, ...settings } as WizardDestination;
    };
    const checked = await checkUntilUsable(prompts, ctx, await ask(before?.type === type ? before : undefined), secrets, ask);
    if (checked) extras.push(checked);
    if (!(await prompts.confirm({ message: 'Add another destination?', default: had > i + 1 }))) break;
  }

  // Secrets of destinations left out (or replaced) go nowhere.
  const used = new Set(extras.flatMap((e) => (e.type === 'azure' ? azureSecretNames(e) : [])));
  const kept = Object.fromEntries(Object.entries(secrets).filter(([name]) => used.has(name)));
  if (extras.length === 0) return { ...none, secrets: kept };
  const keepLocal = await prompts.confirm({
    message: `Keep the copy in ${local.typed} too? (No: only in the other destinations)`,
    default: previous?.keepLocal ?? true,
  });
  return { extras, keepLocal, secrets: kept };
}

/** The answers' one S3 destination when they fit the older settings keys (`destination` + `s3`): none other, named "s3". */
export function legacyS3(answers: { extras: readonly WizardDestination[] }): S3Destination | undefined | false {
  if (answers.extras.length === 0) return undefined;
  const [only] = answers.extras;
  return answers.extras.length === 1 && only!.type === 's3' && only!.name === 's3' ? only : false;
}
