/**
 * A run leaves nothing running behind it, in-process (the wizard, the
 * daemon and the web UI run backups without exiting): no S3 connections
 * (clients destroyed), no source count still walking. Nor do list, verify,
 * restore and prune, whether they succeed or fail.
 */
import path from 'node:path';
import { PassThrough } from 'node:stream';
import fs from 'node:fs/promises';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runBackup, type BackupJob } from '../../src/backup/run-backup.js';
import { LocalStore } from '../../src/storage/local-store.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { createS3Client } from '../../src/storage/s3.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { makeRichTree, tempDir } from '../helpers/fixtures.js';
import { freshBucket, listKeys, s3Env, s3Server, testClient } from '../helpers/s3.js';
import { main } from '../../src/cli/program.js';
import type { CliIO } from '../../src/cli/io.js';

/** This process's established TCP connections to `port` (from /proc, as `ss -tnp` reads them). */
function connectionsTo(port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    const link = (() => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
  }
  let count = 0;
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      const remotePort = parseInt(cols[2]!.split(':')[1]!, 16);
      if (remotePort === port && cols[3] === '01' && inodes.has(cols[9]!)) count += 1;
    }
  }
  return count;
}

/** Connections still open to the S3 server once closing ones have had their turns of the event loop. */
async function openToS3(): Promise<number> {
  const port = Number(new URL(s3Server().endpoint).port);
  for (let turn = 0; turn < 100 && connectionsTo(port) > 0; turn++) await new Promise((resolve) => setImmediate(resolve));
  return connectionsTo(port);
}

describe('nothing left running after a run', () => {
  it.each([
    ['a run to S3 and a local folder', false],
    ['a dry run against S3', true],
  ])('%s: no S3 connection is left open', async (_name, dryRun) => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const client = testClient();
    const bucket = await freshBucket(client);
    client.destroy();
    Object.assign(process.env, s3Env());
    expect(await openToS3()).toBe(0);
    const target = { bucket, prefix: 'p/', endpoint: s3Server().endpoint, region: s3Server().region };
    const stores = [new LocalStore(path.join(root, 'out')), new S3Store(createS3Client(target), target)];
    const job: BackupJob = { sources: [src], stores, exclude: [], strict: false, dryRun };
    const result = await runBackup(job, { now: new Date(), host: 'h', toolVersion: '0', cwd: root, logger: silentLogger, onProgress: () => undefined });
    expect(result.exitCode).toBe(0);
    for (const store of stores) await store.close();
    expect(await openToS3()).toBe(0);
  });

  it('a run that fails early does not leave the source count walking', async () => {
    const root = await tempDir();
    // A tree big enough that counting it outlasts the failed run.
    const src = path.join(root, 'data');
    for (let d = 0; d < 40; d++) {
      await fs.mkdir(path.join(src, `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 250 }, (_, f) => fs.writeFile(path.join(src, `d${d}`, `f${f}`), '')));
    }
    const job: BackupJob = { sources: [src], stores: [new LocalStore(path.join(root, 'out'))], name: 'x', exclude: [], strict: false, dryRun: false };
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length;
    // The progress callback fails on the first update: the run fails while the count is under way.
    const onProgress = (): void => {
      throw new Error('progress display broke');
    };
    await expect(runBackup(job, { now: new Date(), host: 'h', toolVersion: '0', cwd: root, logger: silentLogger, onProgress })).rejects.toThrow(/progress display broke/);
    // The count pauses with setImmediate between slices: none of its pauses is pending any more.
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Immediate').length).toBe(before);
  });
});

/** Runs one command in-process (as the wizard does); its exit code. */
async function command(argv: string[], cwd: string): Promise<number> {
  const io: CliIO = {
    stdin: new PassThrough(),
    stdout: new PassThrough().resume(),
    stderr: new PassThrough().resume(),
    env: { ...process.env },
    cwd,
    signal: new AbortController().signal,
    now: () => new Date(),
    host: 'h',
    home: cwd,
  };
  return main(argv, io);
}

describe('nothing left open after list / verify / restore / prune', () => {
  it('each command destroys the S3 clients it made, success or failure', async () => {
    const root = await tempDir();
    const src = await makeRichTree(root);
    const client = testClient();
    const bucket = await freshBucket(client);
    Object.assign(process.env, s3Env());
    const s3 = { bucket, prefix: 'p/', endpoint: s3Server().endpoint, region: s3Server().region };
    const s3Store = new S3Store(createS3Client(s3), s3);
    const job: BackupJob = { sources: [src], stores: [s3Store], exclude: [], strict: false, dryRun: false };
    const made = await runBackup(job, { now: new Date(), host: 'h', toolVersion: '0', cwd: root, logger: silentLogger, onProgress: () => undefined });
    expect(made.exitCode).toBe(0);
    await s3Store.close();
    const archive = (await listKeys(bucket, client)).find((k) => /\.(zip|tar\.gz|tar\.bz2)$/.test(k))!;
    client.destroy();
    expect(archive).toBeDefined();
    expect(await openToS3()).toBe(0);
    const where = ['--s3-bucket', bucket, '--s3-prefix', 'p/', '--log-file', path.join(root, 'log.txt')];
    const cases: Array<[string[], number]> = [
      [['list', ...where], 0],
      [['verify', '--all', ...where], 0],
      [['verify', path.basename(archive), ...where], 0],
      [['verify', 'missing.zip', ...where], 2],
      [['verify', `s3://${bucket}/${archive}`, '--log-file', path.join(root, 'log.txt')], 0],
      [['restore', `s3://${bucket}/${archive}`, '--to', path.join(root, 'restored'), '--log-file', path.join(root, 'log.txt')], 0],
      [['restore', `s3://${bucket}/p/missing.zip`, '--to', path.join(root, 'restored2'), '--log-file', path.join(root, 'log.txt')], 2],
      [['prune', '--keep-last', '1', '--dry-run', '-s', src, ...where], 0],
    ];
    for (const [argv, exitCode] of cases) {
      expect({ argv, code: await command(argv, root) }).toEqual({ argv, code: exitCode });
      expect({ argv, open: await openToS3() }).toEqual({ argv, open: 0 });
    }
  });
});
