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
import { DEFAULT_DESTINATION } from '../config/merge-settings.js';

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
  s3: boolean;
}

export interface WizardContext {
  cwd: string;
  /** For `~/` in typed paths. */
  home: string;
  now: Date;
  host: string;
  bzip2Available: boolean;
  /** Shown when the user answers yes to S3 before the S3 feature exists. */
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
  let s3 = await prompts.confirm({ message: 'Upload to Amazon S3 or an S3-compatible store?', default: false });
  if (s3) {
    ctx.say('S3 upload is not available in this version yet; the backup will be kept locally only.');
    s3 = false;
  }

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
