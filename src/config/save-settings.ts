/**
 * Writes settings.json atomically: a temporary file in the same folder,
 * synced, then renamed over the target, so a crash leaves the old file or
 * the new one, never half of either.
 */
import path from 'node:path';
import { ConfigError, describeErrno } from '../errors.js';
import { validateSettings } from './load-settings.js';
import type { Settings } from './schema.js';
import { ensureDir } from '../fs/ensure-dir.js';
import { writeFileAtomic } from '../fs/write-atomic.js';

export async function saveSettings(file: string, settings: Settings): Promise<void> {
  // Never write what we would refuse to read.
  validateSettings(JSON.parse(JSON.stringify(settings)), file);
  try {
    await ensureDir(path.dirname(file), 0o755);
    await writeFileAtomic(file, `${JSON.stringify(settings, null, 2)}\n`, 0o644);
  } catch (error) {
    throw new ConfigError(file, `cannot save the settings: ${describeErrno(error)}`, { cause: error });
  }
}
