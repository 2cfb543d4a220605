/**
 * Writes settings.json atomically: a temporary file in the same folder,
 * synced, then renamed over the target, so a crash leaves the old file or
 * the new one, never half of either.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, describeErrno } from '../errors.js';
import { validateSettings } from './load-settings.js';
import type { Settings } from './schema.js';
import { ensureDir } from '../fs/ensure-dir.js';

export async function saveSettings(file: string, settings: Settings): Promise<void> {
  // Never write what we would refuse to read.
  validateSettings(JSON.parse(JSON.stringify(settings)), file);
  // An unpredictable name, created exclusively and never through a symlink.
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
  try {
    await ensureDir(path.dirname(file), 0o755);
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(settings, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw new ConfigError(file, `cannot save the settings: ${describeErrno(error)}`, { cause: error });
  }
}
