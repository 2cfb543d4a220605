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
import { checkDestination, checkSource, resolveUserPath } from '../config/check-paths.js';
import { expandHome } from '../config/expand-home.js';
import { DEFAULT_DESTINATION } from '../config/merge-settings.js';
import { askDestinations, type DestinationAnswers, type DestinationsContext } from './wizard-destinations.js';
import { checkNotVirtualFs, checkPathText, toValidator, type Prompter } from './wizard-prompts.js';

export { checkNotVirtualFs, checkPathText, type Choice, type Prompter } from './wizard-prompts.js';
export { checkBucketName, checkPrefix, checkRegion, type DestinationProblem, type WizardDestination } from './wizard-destinations.js';

export interface WizardAnswers extends DestinationAnswers {
  /** Absolute paths. */
  sources: string[];
  /** As typed, `~` expanded (relative paths stay relative, for a portable settings file). */
  sourcesTyped: string[];
  /** The first destination, a local folder (not written when `keepLocal` is false). */
  destination: string;
  destinationTyped: string;
  format: Format;
  /** Empty: the default template. */
  name: string;
}

export interface WizardContext extends DestinationsContext {
  now: Date;
  bzip2Available: boolean;
}

// ---------------------------------------------------------------------------
// Checks of single answers (pure or read-only), exported for the tests.

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

  // 5. More destinations (S3, Azure, ...), each checked before going on.
  const destination = resolveUserPath(destinationTyped, ctx.cwd, ctx.home);
  const more = await askDestinations(prompts, ctx, { typed: destinationTyped, abs: destination, sources }, previous);

  return { sources, sourcesTyped, destination, destinationTyped, format, name, ...more };
}
