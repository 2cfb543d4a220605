/**
 * The wizard's questions, in DESIGN.md's order. The prompt functions are
 * injected (inquirer in the terminal, scripted answers in tests); path
 * checks come from src/config. Asks, validates and returns answers; does
 * not run anything.
 */
import { FORMATS, type Format } from '../archive/formats.js';
import { renderName } from '../archive/naming.js';
import { checkDestination, checkSource, resolveUserPath } from '../config/check-paths.js';
import { expandHome } from '../config/expand-home.js';
import { DEFAULT_DESTINATION, type EffectiveS3 } from '../config/merge-settings.js';
import { STORAGE_CLASSES, bucketSchema, endpointSchema } from '../config/schema.js';

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
}

/** The subset of @inquirer/prompts the wizard uses. */
export interface Prompter {
  input(config: {
    message: string;
    default?: string;
    validate?: (value: string) => boolean | string | Promise<boolean | string>;
  }): Promise<string>;
  select<T>(config: { message: string; choices: Array<Choice<T>>; default?: T }): Promise<T>;
  confirm(config: { message: string; default?: boolean }): Promise<boolean>;
}

export interface WizardAnswers {
  /** Absolute paths. */
  sources: string[];
  /** As typed, `~` expanded (relative paths stay relative, for a portable settings file). */
  sourcesTyped: string[];
  destination: string;
  destinationTyped: string;
  format: Format;
  /** Empty: the default template. */
  name: string;
  /** Undefined: no upload. */
  s3?: S3Answers;
}

/** The S3 settings the wizard asks for (region undefined: the AWS default; endpoint undefined: AWS). */
export type S3Answers = Omit<EffectiveS3, 'timeoutSeconds'>;

export interface WizardContext {
  cwd: string;
  /** For `~/` in typed paths. */
  home: string;
  now: Date;
  host: string;
  bzip2Available: boolean;
  /** Defaults offered for the S3 region and endpoint (from AWS_REGION, AWS_ENDPOINT_URL_S3). */
  defaultRegion?: string;
  defaultEndpoint?: string;
  /** Checks the bucket can be reached with these settings: a sentence saying what is wrong, or undefined. */
  checkS3: (answers: S3Answers) => Promise<string | undefined>;
  say: (line: string) => void;
}

const toValidator =
  (check: (value: string) => Promise<string | undefined>) =>
  async (value: string): Promise<true | string> =>
    (await check(value)) ?? true;

export async function askBackupQuestions(prompts: Prompter, ctx: WizardContext): Promise<WizardAnswers> {
  // 1. What to back up: one or more paths, each checked.
  const sourcesTyped: string[] = [];
  const sources: string[] = [];
  for (;;) {
    const typed = await prompts.input({
      message: sources.length === 0 ? 'What should be backed up? (file or folder path)' : 'Another path to back up:',
      validate: toValidator(async (value) => {
        const problem = await checkSource(value, ctx.cwd, ctx.home);
        if (problem) return problem;
        return sources.includes(resolveUserPath(value, ctx.cwd, ctx.home)) ? 'That path is already in the list.' : undefined;
      }),
    });
    // `~` expanded now: neither settings.json nor a quoted command line would expand it later.
    sourcesTyped.push(expandHome(typed.trim(), ctx.home));
    sources.push(resolveUserPath(typed, ctx.cwd, ctx.home));
    if (!(await prompts.confirm({ message: 'Add another path?', default: false }))) break;
  }

  // 2. Where to keep the archive.
  const destinationTyped = expandHome(
    (
      await prompts.input({
      message: 'Destination folder (created if missing):',
      default: `./${DEFAULT_DESTINATION}`,
        validate: toValidator((value) => checkDestination(value, ctx.cwd, ctx.home, sources)),
      })
    ).trim(),
    ctx.home,
  );

  // 3. Format.
  const format = await prompts.select<Format>({
    message: 'Archive format:',
    default: 'tar.gz',
    choices: FORMATS.map((f) => ({
      name: f === 'tar.bz2' && !ctx.bzip2Available ? 'tar.bz2 (lbzip2/bzip2 not installed: zip will be written instead)' : f,
      value: f,
      description: {
        zip: 'opens everywhere (unzip, Windows, macOS)',
        'tar.gz': 'the Unix standard; keeps permissions and symlinks; fast',
        'tar.bz2': 'smaller than tar.gz for text, slower',
      }[f],
    })),
  });

  // 4. Name.
  const preview = renderName(undefined, { sources, now: ctx.now, host: ctx.host }).name;
  const name = (
    await prompts.input({
      message: `Archive name, tokens {date} {time} {host} allowed (Enter for ${preview}):`,
      default: '',
    })
  ).trim();

  // 5. S3.
  const s3 = (await prompts.confirm({ message: 'Upload to Amazon S3 or an S3-compatible store?', default: false }))
    ? await askS3Questions(prompts, ctx)
    : undefined;

  return {
    sources,
    sourcesTyped,
    destination: resolveUserPath(destinationTyped, ctx.cwd, ctx.home),
    destinationTyped,
    format,
    name,
    s3,
  };
}

const schemaValidator =
  (schema: { safeParse(value: unknown): { success: boolean; error?: { issues: Array<{ message: string }> } } }, optional = false) =>
  (value: string): true | string => {
    if (optional && value.trim() === '') return true;
    const parsed = schema.safeParse(value.trim());
    return parsed.success ? true : (parsed.error?.issues[0]?.message ?? 'invalid');
  };

/** Bucket, prefix, region, endpoint, storage class, local copy; then a reachability check, asked again on failure. */
async function askS3Questions(prompts: Prompter, ctx: WizardContext): Promise<S3Answers | undefined> {
  let previous: S3Answers | undefined;
  for (;;) {
    const bucket = (await prompts.input({ message: 'S3 bucket:', default: previous?.bucket, validate: schemaValidator(bucketSchema) })).trim();
    const prefix = (await prompts.input({ message: 'Key prefix (folder) in the bucket:', default: previous?.prefix ?? `${ctx.host}/` })).trim().replace(/^\/+/, '');
    const region = (
      await prompts.input({
        message: 'Region (empty: from your AWS profile):',
        default: previous?.region ?? ctx.defaultRegion ?? '',
      })
    ).trim();
    const endpoint = (
      await prompts.input({
        message: 'Endpoint URL for an S3-compatible store (empty for AWS):',
        default: previous?.endpoint ?? ctx.defaultEndpoint ?? '',
        validate: schemaValidator(endpointSchema, true),
      })
    ).trim();
    const storageClass = await prompts.select<string>({
      message: 'Storage class:',
      default: previous?.storageClass ?? 'STANDARD',
      choices: STORAGE_CLASSES.filter((c) => c !== 'REDUCED_REDUNDANCY' && c !== 'EXPRESS_ONEZONE').map((c) => ({
        name: c,
        value: c,
        description: STORAGE_CLASS_NOTES[c],
      })),
    });
    const keepLocal = await prompts.confirm({ message: 'Keep a local copy too?', default: previous?.keepLocal ?? true });
    const answers: S3Answers = { bucket, prefix, region: region || undefined, endpoint: endpoint || undefined, storageClass, keepLocal };

    ctx.say(`Checking access to s3://${bucket}/ ...`);
    const problem = await ctx.checkS3(answers);
    if (!problem) {
      ctx.say(`OK: s3://${bucket}/${prefix} is reachable.`);
      return answers;
    }
    ctx.say(problem);
    if (!(await prompts.confirm({ message: 'Change the S3 settings? (No: back up without S3)', default: true }))) return undefined;
    previous = answers;
  }
}

const STORAGE_CLASS_NOTES: Record<string, string> = {
  STANDARD: 'the default; no minimum duration or retrieval fee',
  STANDARD_IA: 'cheaper storage, retrieval fee, 30-day minimum',
  ONEZONE_IA: 'like STANDARD_IA in a single zone',
  INTELLIGENT_TIERING: 'S3 moves it between tiers by access',
  GLACIER_IR: 'archive, read back in milliseconds, 90-day minimum',
  GLACIER: 'archive; needs a restore (minutes to hours) before download',
  DEEP_ARCHIVE: 'cheapest; needs a restore (up to 48 h) before download, 180-day minimum',
};
