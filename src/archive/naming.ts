/**
 * Archive names: template rendering, sanitising and clash suffixes.
 * Pure: the clock and host name are parameters.
 */
import path from 'node:path';
import { DEFAULT_NAME_TEMPLATE } from '../config/defaults.js';
import { FORMATS } from './formats.js';

export { DEFAULT_NAME_TEMPLATE } from '../config/defaults.js';

/** Longest base name we produce, so `NAME.tar.bz2.manifest.json` and `-NNN` still fit in 255 bytes. */
const MAX_NAME_BYTES = 200;

export interface NameContext {
  /** Absolute source paths; `{source}` is the base name of the first. */
  sources: readonly string[];
  now: Date;
  host: string;
}

export interface RenderedName {
  name: string;
  warnings: string[];
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** YYYYMMDD in local time. */
export function formatDate(now: Date): string {
  return `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}`;
}

/** HHmmss in local time. */
export function formatTime(now: Date): string {
  return `${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
}

/** The base name of a source as it appears in names and inside the archive. */
export function sourceBaseName(source: string): string {
  const base = path.basename(path.resolve(source));
  return base === '' ? 'root' : base;
}

/**
 * Makes a user-supplied name safe as a single file name and S3 key part:
 * no path separators, no control characters, no characters Windows or
 * shells choke on, no leading dots (hidden files, `..`), bounded length.
 */
export function sanitizeName(raw: string): string {
  let name = raw
    .normalize('NFC')
    // control characters (C0, DEL, C1)
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
    // bidirectional overrides (names that display reversed: "exe.txt" shown as "txt.exe")
    .replace(/[\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')
    .replace(/[/\\:*?"<>|]/g, '_')
    .replace(/\s+/g, ' ')
    .replace(/^[\s._-]+/, '')
    .replace(/[\s.]+$/, '');
  // Someone typing "nightly.tar.gz" means "nightly": the extension is added later.
  for (const ext of FORMATS) {
    if (name.toLowerCase().endsWith(`.${ext}`)) name = name.slice(0, -(ext.length + 1)).replace(/[\s.]+$/, '');
  }
  while (Buffer.byteLength(name) > MAX_NAME_BYTES) name = Array.from(name).slice(0, -1).join('');
  return name;
}

const TOKEN = /\{([a-z]*)\}/g;

/**
 * Renders a name template. Unknown tokens are kept literally, with a warning;
 * a name that sanitises to nothing falls back to the default template.
 */
export function renderName(template: string | undefined, ctx: NameContext): RenderedName {
  const warnings: string[] = [];
  const first = ctx.sources[0];
  const values: Record<string, string> = {
    source: first === undefined ? 'backup' : sourceBaseName(first),
    date: formatDate(ctx.now),
    time: formatTime(ctx.now),
    host: ctx.host,
  };
  const render = (t: string): string =>
    t.replace(TOKEN, (whole, token: string) => {
      const value = values[token];
      if (value === undefined) {
        warnings.push(`Unknown token ${whole} in the name "${t}" was kept as text; known tokens: {source} {date} {time} {host}.`);
        return whole;
      }
      return value;
    });

  const requested = template?.trim() ?? '';
  if (requested !== '') {
    const rendered = render(requested);
    const name = sanitizeName(rendered);
    if (name !== '') {
      if (name !== rendered) warnings.push(`The name "${requested}" was made safe as "${name}".`);
      return { name, warnings };
    }
    warnings.push(`The name "${requested}" is empty or invalid after removing unsafe characters; using the default ${DEFAULT_NAME_TEMPLATE}.`);
  }
  const name = sanitizeName(render(DEFAULT_NAME_TEMPLATE)) || `backup-${values.date}-${values.time}`;
  return { name, warnings };
}

/** `name.ext`, `name-1.ext`, `name-2.ext`, ... (the n-th candidate for a clash). */
export function candidateFileName(name: string, ext: string, attempt: number): string {
  return attempt === 0 ? `${name}.${ext}` : `${name}-${attempt}.${ext}`;
}
