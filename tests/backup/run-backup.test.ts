/**
 * runBackup in-process: for what a subprocess cannot time reliably (a
 * cancellation that arrives before the archive is started), and to see
 * that a run from the TypeScript sources reads and deflates on the same
 * worker threads (the built ones in dist/) as the installed program.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { runBackup, type BackupJob } from '../../src/backup/run-backup.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { CancelledError } from '../../src/errors.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { describeTree, extractWithSystemTool, listDir, makeRichTree, tempDir } from '../helpers/fixtures.js';

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
    const job: BackupJob = { sources: [src], stores: [new LocalStore(path.join(root, 'out'))], exclude: [], strict: false, dryRun };
    const run = runBackup(job, { now: new Date(), host: 'h', toolVersion: '0', cwd: root, logger: silentLogger, signal: cancelled(), onProgress });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    await expect(run).rejects.toMatchObject({ exitCode: 130 });
    expect((await listDir(path.join(root, 'out'))).filter((f) => f.endsWith('.partial') || f.endsWith('.gz'))).toEqual([]);
  });
});

describe('runBackup from the sources runs the worker threads of the built program', () => {
  const started: Worker[] = [];
  const onWorker = (worker: Worker): void => void started.push(worker);
  afterEach(() => {
    process.off('worker', onWorker);
    started.length = 0;
  });

  it.each([
    // The source reader, plus one zip deflate worker per thread.
    ['zip', 1 + 2],
    // The source reader (gzip runs on zlib's thread pool, not worker_threads).
    ['tar.gz', 1],
  ])('%s: %s worker threads started, and the archive holds the tree', async (format, workers) => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    process.on('worker', onWorker);
    const job: BackupJob = { sources: [src], stores: [new LocalStore(path.join(root, 'out'))], format, name: 'x', exclude: [], strict: false, dryRun: false, threads: 2 };
    const result = await runBackup(job, { now: new Date(), host: 'h', toolVersion: '0', cwd: root, logger: silentLogger });
    expect(result.exitCode).toBe(0);
    expect(started).toHaveLength(workers);
    const into = path.join(root, 'extracted');
    await fs.mkdir(into);
    extractWithSystemTool(path.join(root, result.archive!), into);
    expect(await describeTree(path.join(into, 'data'))).toEqual(await describeTree(src));
  });
});
