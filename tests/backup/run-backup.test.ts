/**
 * runBackup in-process, for what a subprocess cannot time reliably:
 * a cancellation that arrives before the archive is started.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBackup, type BackupJob } from '../../src/backup/run-backup.js';
import { CancelledError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';

function cancelled(): AbortSignal {
  const controller = new AbortController();
  controller.abort(new CancelledError());
  return controller.signal;
}

describe('runBackup and Ctrl-C before the archive starts', () => {
  it.each([
    ['a dry run', true, undefined],
    ['a run that scans first for the progress bar', false, () => undefined],
  ])('%s ends as cancelled (exit 130) and writes nothing', async (_name, dryRun, onProgress) => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const job: BackupJob = { sources: [src], destination: path.join(root, 'out'), exclude: [], strict: false, dryRun };
    const run = runBackup(job, { now: new Date(), host: 'h', toolVersion: '0', cwd: root, logger: silentLogger, signal: cancelled(), onProgress });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    await expect(run).rejects.toMatchObject({ exitCode: 130 });
    expect((await listDir(path.join(root, 'out'))).filter((f) => f.endsWith('.partial') || f.endsWith('.gz'))).toEqual([]);
  });
});
