/**
 * The wizard's questions, in DESIGN.md's order. The prompt functions are
 * injected (inquirer in the terminal, scripted answers in tests); path
 * checks come from src/config. Asks, validates and returns answers; does
 * not run anything. Every answer is checked at its own prompt: nothing the
 * wizard accepts is refused later for a reason it could have seen.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { FORMATS, type Format } from '../archive/formats.js';
import { archiveRoots } from '../archive/archive-roots.js';
import { DEFAULT_NAME_TEMPLATE, renderName, sanitizeName, sourceBaseName } from '../archive/naming.js';
import { checkDestination, checkSource, pathTextProblem, resolveUserPath } from '../config/check-paths.js';
import { expandHome } from '../config/expand-home.js';
import { DEFAULT_DESTINATION, type EffectiveS3 } from '../config/merge-settings.js';
import { STORAGE_CLASSES, endpointSchema } from '../config/schema.js';
import { CancelledError } from '../errors.js';
import { pseudoFileSystem } from '../fs/ensure-dir.js';

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
  /** A secret (webhook URL, SMTP password): shown masked while typed, never echoed. */
  password(config: { message: string; mask?: string; validate?: (value: string) => boolean | string | Promise<boolean | string> }): Promise<string>;
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

/** Why the bucket cannot be used: the sentence to show, and the error code (S3_NO_CREDENTIALS, ...). */
export interface S3Problem {
  message: string;
  code?: string;
}

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
  /** Checks the bucket can be reached with these settings: what is wrong, or undefined. */
  checkS3: (answers: S3Answers) => Promise<S3Problem | undefined>;
  say: (line: string) => void;
}

const toValidator =
  (check: (value: string) => string | undefined | Promise<string | undefined>) =>
  async (value: string): Promise<true | string> =>
    (await check(value)) ?? true;

// ---------------------------------------------------------------------------
// Checks of single answers (pure or read-only), exported for the tests.

/**
 * A typed path must have text in it: the flags' rule (config's
 * `pathTextProblem`: empty, whitespace only or a NUL byte is refused), worded
 * for a prompt; a line break or other control character is refused too, as
 * no one types one on purpose.
 */
export function checkPathText(value: string, what: string): string | undefined {
  if (value.trim() === '') return `Enter ${what}.`;
  const problem = pathTextProblem(value);
  if (problem !== undefined) return `The ${what.replace(/^(a|an|the) /, '')}: ${problem}.`;
  if (/[\u0000-\u001f\u007f]/.test(value)) return `The ${what.replace(/^(a|an|the) /, '')} contains a control character (a line break or tab?); type the path again.`;
  return undefined;
}

/** Paths that are kernel file systems on every Linux, refused before looking at the disk. */
const VIRTUAL_ROOTS = ['/proc', '/sys'];

export async function checkNotVirtualFs(abs: string): Promise<string | undefined> {
  const under = (root: string, p: string): boolean => p === root || p.startsWith(`${root}/`);
  for (const root of VIRTUAL_ROOTS) {
    if (under(root, abs)) return `${abs} is under ${root}, a kernel filesystem that cannot hold files; choose a folder on a disk.`;
  }
  let probe = abs;
  for (;;) {
    const real = await fs.realpath(probe).catch(() => undefined);
    if (real !== undefined) {
      const leadsTo = path.join(real, path.relative(probe, abs));
      for (const root of VIRTUAL_ROOTS) {
        if (under(root, real)) return `${abs} leads to ${leadsTo}, under ${root}, a kernel filesystem that cannot hold files; choose a folder on a disk.`;
      }
      const type = await pseudoFileSystem(real);
      if (type !== undefined) return `${abs} is on a ${type} filesystem (${real}), which cannot hold files; choose a folder on a disk.`;
      return undefined;
    }
    const parent = path.dirname(probe);
    if (parent === probe) return undefined;
    probe = parent;
  }
}

export const NAME_TOKENS = ['{source}', '{date}', '{time}', '{host}'] as const;

/** The extension written for a format (tar.bz2 becomes zip when no bzip2 is installed). */
function writtenExtension(format: Format, bzip2Available: boolean): string {
  return format === 'tar.bz2' && !bzip2Available ? 'zip' : format;
}

/**
 * A name template as typed at the prompt: either the file name it gives
 * today, or why it cannot be used (and what to type instead). Only the
 * text the person typed is judged; what a token fills in (a source named
 * "a:b") is made safe at each run, as documented.
 */
export function checkNameTemplate(
  typed: string,
  ctx: { sources: readonly string[]; now: Date; host: string; format: Format; bzip2Available: boolean },
): { fileName: string } | { problem: string } {
  const ext = writtenExtension(ctx.format, ctx.bzip2Available);
  const fileNameFor = (template: string | undefined): string =>
    `${renderName(template, { sources: ctx.sources, now: ctx.now, host: ctx.host }).name}.${ext}`;
  const template = typed.trim();
  if (template === '') return { fileName: fileNameFor(undefined) };

  const unknown = [...template.matchAll(/\{[^{}]*\}/g)].map((m) => m[0]).filter((t) => !(NAME_TOKENS as readonly string[]).includes(t));
  if (unknown.length > 0) {
    return { problem: `${[...new Set(unknown)].join(' ')} is not a token; the tokens are ${NAME_TOKENS.join(' ')}.` };
  }
  const literal = template.replace(/\{(source|date|time|host)\}/g, 'x');
  if (/[{}]/.test(literal)) return { problem: `A { or } outside a token; the tokens are ${NAME_TOKENS.join(' ')}.` };

  if (sanitizeName(literal) === literal) return { fileName: fileNameFor(template) };

  const reasons: string[] = [];
  const separator = /[/\\]/.exec(literal)?.[0];
  if (separator) reasons.push(`has a ${separator} (one file name, not a path)`);
  if (/[:*?"<>|]/.test(literal)) reasons.push('has one of : * ? " < > |');
  if (/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(literal)) reasons.push('has control characters');
  if (/^[\s._-]/.test(literal)) reasons.push(`starts with "${literal[0]}"`);
  if (/[\s.]$/.test(literal)) reasons.push('ends with a dot');
  if (/\s\s|[^\S ]/.test(literal)) reasons.push('has tabs or double spaces');
  const extension = FORMATS.find((f) => literal.toLowerCase().endsWith(`.${f}`));
  if (extension) reasons.push(`ends with .${extension} (the extension is added for you)`);
  if (Buffer.byteLength(literal) > 200) reasons.push('is over 200 bytes long');
  if (reasons.length === 0) reasons.push('has characters that are not safe in a file name');

  const suggestion = sanitizeName(template);
  const suggestionLiteral = suggestion.replace(/\{(source|date|time|host)\}/g, 'x');
  const suggested = suggestion !== '' && sanitizeName(suggestionLiteral) === suggestionLiteral ? fileNameFor(suggestion) : undefined;
  return {
    problem: `Not usable as a file name: it ${reasons.join(', and ')}.${suggested ? ` Type ${suggestion} for ${suggested}.` : ''}`,
  };
}

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

/** How each source is stored in the archive: the run's own rule (archive-roots.ts), one entry per source. */
export function storedFolderNames(sources: readonly string[]): string[] {
  const { roots } = archiveRoots(sources);
  return sources.map((source) => roots.find((r) => r.source === path.resolve(source))?.root ?? sourceBaseName(source));
}

// ---------------------------------------------------------------------------

/**
 * The questions. With `previous` (after a failed run: "change the
 * answers"), every question offers the previous answer as its default, so
 * Enter keeps it.
 */
export async function askBackupQuestions(prompts: Prompter, ctx: WizardContext, previous?: WizardAnswers): Promise<WizardAnswers> {
  // 1. What to back up: one or more paths, each checked.
  const sourcesTyped: string[] = [];
  const sources: string[] = [];
  const realSources: string[] = [];
  for (;;) {
    const index = sources.length;
    const typed = await prompts.input({
      message: index === 0 ? 'What should be backed up? (file or folder path)' : 'Another path to back up:',
      default: previous?.sourcesTyped[index],
      validate: toValidator(async (value) => {
        const problem = checkPathText(value, 'the path of a file or folder to back up') ?? (await checkSource(value, ctx.cwd, ctx.home));
        if (problem) return problem;
        const abs = resolveUserPath(value, ctx.cwd, ctx.home);
        if (sources.includes(abs)) return `${abs} is already in the list.`;
        // The same file or folder by another name (a symbolic link to it, or to a folder above it).
        const real = await fs.realpath(abs).catch(() => abs);
        const index = realSources.indexOf(real);
        if (index >= 0) return `${abs} is the same as ${sources[index]} (${real}), already in the list.`;
        // One inside another would store its files twice: the run refuses it, so refuse it here.
        try {
          archiveRoots([...sources, abs]);
        } catch (error) {
          return error instanceof Error ? error.message : String(error);
        }
        return undefined;
      }),
    });
    // `~` expanded now: neither settings.json nor a quoted command line would expand it later.
    sourcesTyped.push(expandHome(typed.trim(), ctx.home));
    sources.push(resolveUserPath(typed, ctx.cwd, ctx.home));
    realSources.push(await fs.realpath(sources.at(-1)!).catch(() => sources.at(-1)!));
    // Same base name: allowed; say how each is stored so the archive holds no surprise.
    const stored = storedFolderNames(sources);
    const last = sources.length - 1;
    const sameName = sources.map((_, i) => i).filter((i) => i !== last && sourceBaseName(sources[i]!) === sourceBaseName(sources[last]!));
    if (sameName.length > 0) {
      ctx.say(
        `  Same name as ${sameName.map((i) => sourcesTyped[i]).join(', ')}: in the archive they are stored as ${[...sameName, last]
          .map((i) => `${stored[i]}/`)
          .join(' and ')}.`,
      );
    }
    const more = previous !== undefined && previous.sourcesTyped.length > sources.length;
    if (!(await prompts.confirm({ message: 'Add another path?', default: more }))) break;
  }

  // 2. Where to keep the archive.
  const destinationTyped = expandHome(
    (
      await prompts.input({
        message: 'Destination folder (created if missing):',
        default: previous?.destinationTyped ?? `./${DEFAULT_DESTINATION}`,
        validate: toValidator(async (value) => {
          const problem = checkPathText(value, 'a destination folder');
          if (problem) return problem;
          return (
            (await checkNotVirtualFs(resolveUserPath(value, ctx.cwd, ctx.home))) ?? (await checkDestination(value, ctx.cwd, ctx.home, sources))
          );
        }),
      })
    ).trim(),
    ctx.home,
  );

  // 3. Format.
  const format = await prompts.select<Format>({
    message: 'Archive format:',
    default: previous?.format ?? 'tar.gz',
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

  // 4. Name: checked as typed, and the file name it gives today shown before going on.
  const nameContext = { sources, now: ctx.now, host: ctx.host, format, bzip2Available: ctx.bzip2Available };
  const preview = renderName(undefined, nameContext).name;
  ctx.say(`  Name tokens: ${NAME_TOKENS.join(' ')}. The default is ${DEFAULT_NAME_TEMPLATE}.`);
  const name = (
    await prompts.input({
      message: `Archive name (Enter for ${preview}):`,
      default: previous?.name ?? '',
      validate: toValidator((value) => {
        const checked = checkNameTemplate(value, nameContext);
        return 'problem' in checked ? checked.problem : undefined;
      }),
    })
  ).trim();
  const named = checkNameTemplate(name, nameContext);
  if ('fileName' in named) {
    const varies = name === '' || /\{(date|time)\}/.test(name);
    ctx.say(`  Archive file: ${named.fileName}${varies ? ' (today; each run fills in its own date and time)' : ' (the same each run: later runs add -1, -2, ...)'}`);
  }

  // 5. S3.
  const s3 = (await prompts.confirm({ message: 'Upload to Amazon S3 or an S3-compatible store?', default: previous?.s3 !== undefined }))
    ? await askS3Questions(prompts, ctx, previous?.s3)
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

/** What to do when no credentials were found: no answer to these questions can supply them. */
type NoCredentialsChoice = 'retry' | 'without-s3' | 'quit';

function explainCredentials(ctx: WizardContext): void {
  ctx.say('No AWS credentials were found, and no answer here can supply them. Give them in one of these ways:');
  ctx.say(`  - a .env file in this folder with AWS_ACCESS_KEY_ID=... and AWS_SECRET_ACCESS_KEY=...`);
  ctx.say('  - AWS_PROFILE=name in the environment, with that profile in ~/.aws/credentials or ~/.aws/config');
  ctx.say('  - a [default] profile in ~/.aws/credentials (`aws configure` writes it; `aws sso login` for SSO)');
}

/** Bucket, prefix, region, endpoint, storage class, local copy; then a reachability check, asked again on failure. */
async function askS3Questions(prompts: Prompter, ctx: WizardContext, before?: S3Answers): Promise<S3Answers | undefined> {
  let previous = before;
  for (;;) {
    const bucket = (await prompts.input({ message: 'S3 bucket:', default: previous?.bucket, validate: toValidator(checkBucketName) })).trim();
    const prefix = (
      await prompts.input({ message: 'Key prefix (folder) in the bucket:', default: previous?.prefix ?? `${ctx.host}/`, validate: toValidator(checkPrefix) })
    )
      .trim()
      .replace(/^\/+/, '');
    const region = (
      await prompts.input({
        message: 'Region (empty: from your AWS profile):',
        default: previous?.region ?? ctx.defaultRegion ?? '',
        validate: toValidator(checkRegion),
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

    for (;;) {
      ctx.say(`Checking access to s3://${bucket}/ ...`);
      const problem = await ctx.checkS3(answers);
      if (!problem) {
        ctx.say(`OK: s3://${bucket}/${prefix} is reachable.`);
        return answers;
      }
      if (problem.code !== 'S3_NO_CREDENTIALS') {
        ctx.say(problem.message);
        break;
      }
      explainCredentials(ctx);
      const choice = await prompts.select<NoCredentialsChoice>({
        message: 'Without credentials nothing can be uploaded. What now?',
        default: 'without-s3',
        choices: [
          { name: 'Back up without S3 (local copy only)', value: 'without-s3' },
          { name: 'Check again (after adding ~/.aws/credentials in another terminal)', value: 'retry' },
          { name: 'Quit (add the credentials, then run `npx backup` again)', value: 'quit' },
        ],
      });
      // Quitting is the person's choice, like Ctrl-C: exit 130, nothing was run.
      if (choice === 'quit') throw new CancelledError('Quit: nothing was backed up. Add the AWS credentials, then run `npx backup` again.');
      if (choice === 'without-s3') return undefined;
    }
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
