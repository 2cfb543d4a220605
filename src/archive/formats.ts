/**
 * The archive formats this tool writes, and the ZIP fallback for anything else.
 */

import { DEFAULT_FORMAT as DEFAULT } from '../config/defaults.js';

export const FORMATS = ['zip', 'tar.gz', 'tar.bz2'] as const;
export type Format = (typeof FORMATS)[number];

export const DEFAULT_FORMAT: Format = DEFAULT;

export function isFormat(value: string): value is Format {
  return (FORMATS as readonly string[]).includes(value);
}

export interface ResolvedFormat {
  /** The format that will be written. */
  format: Format;
  /** What the user asked for (flag, settings or wizard), verbatim. */
  requested: string;
  /** Set when `format` differs from `requested`. */
  warning?: string;
}

/** Common spellings people type for the supported formats. */
const ALIASES: Record<string, Format> = {
  tgz: 'tar.gz',
  'tar.gzip': 'tar.gz',
  tbz2: 'tar.bz2',
  tbz: 'tar.bz2',
  'tar.bzip2': 'tar.bz2',
};

/**
 * Maps a requested format to a supported one. Case and a leading dot are
 * forgiven and common aliases accepted; anything else falls back to zip with
 * a warning (the ZIP fallback), never an error.
 */
export function resolveFormat(requested: string | undefined): ResolvedFormat {
  if (requested === undefined || requested.trim() === '') return { format: DEFAULT_FORMAT, requested: DEFAULT_FORMAT };
  const normal = requested.trim().toLowerCase().replace(/^\./, '');
  if (isFormat(normal)) return { format: normal, requested };
  const alias = ALIASES[normal];
  if (alias) return { format: alias, requested };
  return {
    format: 'zip',
    requested,
    warning: `Unsupported format "${requested}"; writing zip instead (supported: ${FORMATS.join(', ')}).`,
  };
}
