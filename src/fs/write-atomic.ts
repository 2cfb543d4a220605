/**
 * The one way this tool replaces a small file it owns (settings.json, .env,
 * the alert state, the compacted run history): a temporary file with an
 * unpredictable name in the same folder, created exclusively and never
 * through a symbolic link, given its mode, written and synced, then renamed
 * over the target. A crash leaves the old file or the new one, never half
 * of either; a failure removes the temporary file and is thrown as is.
 */
import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(file: string, content: string, mode: number): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
  try {
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
    try {
      // open()'s mode is cut by the umask: a file of secrets must be exactly 0600.
      await handle.chmod(mode);
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}
