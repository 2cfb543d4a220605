/**
 * Settings precedence: defaults < settings.json < flags (< wizard answers,
 * which the wizard passes as flags). A flag the user did not give is
 * undefined here and never overrides the file. Pure.
 */
import path from 'node:path';
import { DEFAULT_FORMAT } from '../archive/formats.js';
import { DEFAULT_NAME_TEMPLATE } from '../archive/naming.js';
import type { Settings } from './schema.js';
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
}

export interface EffectiveSettings {
  sources: string[];
  destination: string;
  format: string;
  name: string;
  exclude: string[];
  strict: boolean;
  logFile: string;
}

export const DEFAULTS: Omit<EffectiveSettings, 'sources'> = {
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

export function mergeSettings(file: Settings | undefined, flags: SettingsOverrides): EffectiveSettings {
  return {
    sources: pick(flags.sources, file?.sources) ?? [],
    destination: pick(flags.destination, file?.destination) ?? DEFAULTS.destination,
    format: pick(flags.format, file?.format) ?? DEFAULTS.format,
    name: pick(flags.name, file?.name) ?? DEFAULTS.name,
    exclude: pick(flags.exclude, file?.exclude) ?? DEFAULTS.exclude,
    strict: pick(flags.strict, file?.strict) ?? DEFAULTS.strict,
    logFile: pick(flags.logFile, file?.logFile) ?? DEFAULTS.logFile,
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
  return out;
}
