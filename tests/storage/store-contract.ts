/**
 * One conformance suite for every kind of Store (restic's backend tests):
 * the local folder, S3 (Ceph), Azure (Azurite), SFTP (OpenSSH), rclone all
 * run it against a real server on 127.0.0.1. It covers the write discipline
 * (a name is reserved, bytes go under a temporary name, sidecars before the
 * final name, never replace, abort leaves nothing), the read side, a large
 * streamed round trip with bounded memory, Ctrl-C, the lifecycle commands'
 * code (catalog, verify, restore, prune) on real archives, and the fault
 * hooks a kind provides (wrong credentials, missing location, cut connection).
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import type { ArchiveWrite, CommitInfo, Store, WriteOptions } from '../../src/storage/store.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { loadCatalog } from '../../src/lifecycle/catalog.js';
import { verifyBackup } from '../../src/lifecycle/verify.js';
import { restoreBackup } from '../../src/lifecycle/restore.js';
import { pruneStores } from '../../src/lifecycle/prune.js';
import { manifestSidecar, sha256Sidecar, type Manifest } from '../../src/backup/manifest.js';
import { tempDir } from '../helpers/fixtures.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

export interface StoreHarness {
  /** A store on a fresh, empty location (a new folder / prefix). */
  create(): Promise<Store>;
  /** Another store instance on the same location as `of` (a concurrent run). */
  sibling(of: Store): Promise<Store>;
  /** Every name at the store's location as the server sees it (temporary names included), sorted. */
  rawNames(of: Store): Promise<string[]>;
  /** Writes a file at the store's location as another program would. */
  plant(of: Store, name: string, content: Buffer): Promise<void>;
  /** A store whose check() must fail: wrong credentials / key / password. */
  wrongCredentials?(): Promise<Store>;
  /** A store whose check() must fail: the bucket / container / remote does not exist. */
  missingLocation?(): Promise<Store>;
  /**
   * A store on a fresh location reached through a TCP proxy that cuts the
   * connection once `cutAfterBytes` bytes went to the server; `restore()`
   * lets traffic through again; `close()` stops the proxy.
   */
  throughCutProxy?(cutAfterBytes: number): Promise<{ store: Store; restore(): void; close(): Promise<void> }>;
  /** Bytes to stream in the bounded-memory round trip (default 96 MiB). */
  largeBytes?: number;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function writeOptions(signal = new AbortController().signal, extra: Partial<WriteOptions> = {}): WriteOptions {
  return { logger: silentLogger, signal, ...extra };
}

async function writeAll(write: ArchiveWrite, data: Buffer): Promise<void> {
  const sink = await write.open();
  // Several chunks, so the sink sees more than one write.
  const chunks = [data.subarray(0, 1000), data.subarray(1000, 70_000), data.subarray(70_000)];
  await pipeline(Readable.from(chunks), sink);
}

/** reserve + write + verify + sidecars + publish: a whole archive, as a run writes it. */
async function publishFile(store: Store, name: string, data: Buffer, manifest?: Manifest): Promise<void> {
  const write = store.beginWrite(writeOptions());
  try {
    expect(await write.reserve(name)).toBe(true);
    await writeAll(write, data);
    const info: CommitInfo = { sha256: sha256(data), bytes: data.length };
    await write.verify(info);
    await write.writeSidecars([sha256Sidecar(name, info.sha256), ...(manifest ? [manifestSidecar(manifest)] : [])]);
    await write.publish(info);
  } finally {
    await write.close();
  }
}

async function readAll(store: Store, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.openRead(name)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A deterministic pseudo-random stream of `bytes` (never held whole in memory), and its hash once read. */
function generated(bytes: number): { stream: Readable; hash: () => string } {
  const hash = createHash('sha256');
  const block = randomBytes(MiB);
  let sent = 0;
  let counter = 0;
  const stream = new Readable({
    read() {
      if (sent >= bytes) return this.push(null);
      const size = Math.min(MiB, bytes - sent);
      // Each MiB differs (a counter in its first bytes), so a store that dedups or caches cannot cheat.
      const chunk = Buffer.from(block.subarray(0, size));
      chunk.writeUInt32BE(counter++, 0);
      hash.update(chunk);
      sent += size;
      this.push(chunk);
    },
  });
  return { stream, hash: () => hash.digest('hex') };
}

/** Samples this process's RSS while `work` runs: the peak growth over the start. */
async function peakRssGrowth<T>(work: () => Promise<T>): Promise<{ value: T; growth: number }> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  try {
    const value = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, growth: peak - start };
  } finally {
    clearInterval(timer);
  }
}

function manifestFor(archive: string, info: CommitInfo, source: string, created: Date): Manifest {
  return {
    manifestVersion: 1,
    tool: 'backup-automation',
    toolVersion: 'test',
    created: created.toISOString(),
    host: 'contract-host',
    archive,
    nameTemplate: '{source}-{date}-{time}',
    sources: [source],
    roots: [{ source, root: path.basename(source) }],
    exclude: [],
    formatRequested: 'tar.gz',
    format: 'tar.gz',
    files: 2,
    entries: 4,
    sourceBytes: 50_006,
    archiveBytes: info.bytes,
    sha256: info.sha256,
    skipped: [],
    warnings: [],
    destinations: [],
  };
}

/** A store on a fresh location, checked as a run checks it first (a local or SFTP folder is created). */
async function fresh(harness: StoreHarness): Promise<Store> {
  const store = await harness.create();
  await store.check({ dryRun: false });
  return store;
}

/** The contract's cases that every store runs (the fault hooks' cases run when the harness has the hook). */
export type ContractCase =
  | 'publish'
  | 'reserve'
  | 'sidecar-claim'
  | 'abort'
  | 'verify-size'
  | 'name-taken'
  | 'sidecar-taken'
  | 'reads'
  | 'large'
  | 'ctrl-c'
  | 'lifecycle'
  | 'close-twice';

export interface ContractOptions {
  /**
   * Only these cases: for a second configuration of a kind whose full
   * contract already runs once in the same file, where only part of the
   * code path differs. The caller says in a comment why the rest is the
   * same code.
   */
  only?: readonly ContractCase[];
}

export function storeContract(name: string, harness: StoreHarness, options: ContractOptions = {}): void {
  const test = (key: ContractCase, title: string, fn: () => Promise<void>): void => {
    if (!options.only || options.only.includes(key)) it(title, fn);
  };
  describe(`Store contract: ${name}`, () => {
    test('publish', 'publishes the archive and its sidecars under their final names only after publish', async () => {
      const store = await fresh(harness);
      try {
        const write = store.beginWrite(writeOptions());
        const data = randomBytes(200_000);
        expect(await write.reserve('a.tar.gz')).toBe(true);
        await writeAll(write, data);
        const visible = async (): Promise<string[]> => (await store.list()).map((f) => f.name).sort();
        expect(await visible()).not.toContain('a.tar.gz');
        expect(await store.stat('a.tar.gz')).toBeUndefined();
        await write.verify({ sha256: sha256(data), bytes: data.length });
        await write.writeSidecars([{ name: 'a.tar.gz.sha256', content: `${sha256(data)}  a.tar.gz\n` }]);
        expect(await visible()).not.toContain('a.tar.gz');
        expect(await visible()).toContain('a.tar.gz.sha256');
        const committed = await write.publish({ sha256: sha256(data), bytes: data.length });
        expect(committed.fileName).toBe('a.tar.gz');
        expect(committed.location).toBe(write.location());
        expect(committed.location).toBe(store.locationOf('a.tar.gz'));
        expect(await visible()).toEqual(['a.tar.gz', 'a.tar.gz.sha256']);
        expect(await harness.rawNames(store)).toEqual(['a.tar.gz', 'a.tar.gz.sha256']);
        expect(sha256(await readAll(store, 'a.tar.gz'))).toBe(sha256(data));
        expect(await store.readText('a.tar.gz.sha256', 1000)).toBe(`${sha256(data)}  a.tar.gz\n`);
        const stat = await store.stat('a.tar.gz');
        expect(stat?.size).toBe(data.length);
        expect(stat?.modified.getTime()).toBeGreaterThan(Date.now() - 3_600_000);
        await write.abort(); // after publish: must not remove the published archive
        await write.close();
        expect(await harness.rawNames(store)).toEqual(['a.tar.gz', 'a.tar.gz.sha256']);
      } finally {
        await store.close();
      }
    });

    test('reserve', 'refuses a name that exists or that another write has reserved, and takes the next one', async () => {
      const store = await fresh(harness);
      const other = await harness.sibling(store);
      try {
        const first = store.beginWrite(writeOptions());
        expect(await first.reserve('b.zip')).toBe(true);
        const second = other.beginWrite(writeOptions());
        expect(await second.reserve('b.zip')).toBe(false);
        await second.close();
        const data = randomBytes(10);
        await writeAll(first, data);
        await first.verify({ sha256: sha256(data), bytes: data.length });
        await first.publish({ sha256: sha256(data), bytes: data.length });
        await first.close();
        const third = other.beginWrite(writeOptions());
        expect(await third.reserve('b.zip')).toBe(false);
        expect(await third.reserve('b-1.zip')).toBe(true);
        await third.abort();
        await third.close();
        expect(await harness.rawNames(store)).toEqual(['b.zip']);
      } finally {
        await store.close();
        await other.close();
      }
    });

    test('sidecar-claim', 'a name taken by a sidecar alone is not reserved; a write can reserve again after abort', async () => {
      const store = await fresh(harness);
      try {
        await harness.plant(store, 'e.zip.manifest.json', Buffer.from('{}\n'));
        const write = store.beginWrite(writeOptions());
        expect(await write.reserve('e.zip')).toBe(false);
        expect(await write.reserve('g.zip')).toBe(true);
        await write.abort();
        expect(await write.reserve('h.zip')).toBe(true);
        const data = randomBytes(100);
        await writeAll(write, data);
        await write.verify({ sha256: sha256(data), bytes: data.length });
        await write.publish({ sha256: sha256(data), bytes: data.length });
        await write.close();
        expect(await harness.rawNames(store)).toEqual(['e.zip.manifest.json', 'h.zip']);
      } finally {
        await store.close();
      }
    });

    test('abort', 'abort before publish leaves nothing behind', async () => {
      const store = await fresh(harness);
      try {
        const write = store.beginWrite(writeOptions());
        expect(await write.reserve('c.tar.bz2')).toBe(true);
        const data = randomBytes(3 * MiB);
        await writeAll(write, data);
        await write.writeSidecars([{ name: 'c.tar.bz2.sha256', content: `${sha256(data)}  c.tar.bz2\n` }]);
        await write.abort();
        await write.abort(); // twice is fine
        await write.close();
        expect(await harness.rawNames(store)).toEqual([]);
      } finally {
        await store.close();
      }
    });

    test('verify-size', 'a stored size that does not match what was written fails verify and publishes nothing', async () => {
      const store = await fresh(harness);
      try {
        const write = store.beginWrite(writeOptions());
        expect(await write.reserve('d.zip')).toBe(true);
        const data = randomBytes(5000);
        await writeAll(write, data);
        const error = await write.verify({ sha256: sha256(data), bytes: data.length + 1 }).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(BackupError);
        expect((error as BackupError).code).toBe('VERIFY_FAILED');
        await write.close();
        expect(await harness.rawNames(store)).toEqual([]);
      } finally {
        await store.close();
      }
    });

    test('name-taken', 'never replaces a final name taken during the write: NAME_TAKEN, the other file intact, our sidecars gone', async () => {
      const store = await fresh(harness);
      try {
        const write = store.beginWrite(writeOptions());
        expect(await write.reserve('f.tar.gz')).toBe(true);
        const data = randomBytes(3000);
        await writeAll(write, data);
        await write.verify({ sha256: sha256(data), bytes: data.length });
        await write.writeSidecars([
          { name: 'f.tar.gz.sha256', content: `${sha256(data)}  f.tar.gz\n` },
          { name: 'f.tar.gz.manifest.json', content: '{}\n' },
        ]);
        const theirs = Buffer.from('somebody else wrote this\n');
        await harness.plant(store, 'f.tar.gz', theirs);
        const error = await write.publish({ sha256: sha256(data), bytes: data.length }).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(BackupError);
        expect((error as BackupError).code).toBe('NAME_TAKEN');
        await write.abort();
        await write.close();
        expect(await readAll(store, 'f.tar.gz')).toEqual(theirs);
        // Only theirs is left (a local folder keeps the complete partial for the user: nothing lost).
        const left = (await harness.rawNames(store)).filter((n) => !(store.kind === 'local' && n === 'f.tar.gz.partial'));
        expect(left).toEqual(['f.tar.gz']);
      } finally {
        await store.close();
      }
    });

    test('sidecar-taken', 'never replaces a sidecar that appeared during the write', async () => {
      const store = await fresh(harness);
      try {
        const write = store.beginWrite(writeOptions());
        expect(await write.reserve('s.zip')).toBe(true);
        const data = randomBytes(100);
        await writeAll(write, data);
        await write.verify({ sha256: sha256(data), bytes: data.length });
        await harness.plant(store, 's.zip.sha256', Buffer.from('theirs\n'));
        const error = await write.writeSidecars([{ name: 's.zip.sha256', content: 'ours\n' }]).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(BackupError);
        await write.abort();
        await write.close();
        expect(await store.readText('s.zip.sha256', 100)).toBe('theirs\n');
        expect(await harness.rawNames(store)).toEqual(['s.zip.sha256']);
      } finally {
        await store.close();
      }
    });

    test('reads', 'reads: stat, ranges, small texts with a size limit, replacing writeText, remove', async () => {
      const store = await fresh(harness);
      try {
        const data = randomBytes(300_000);
        await publishFile(store, 'r.zip', data);
        expect(await store.stat('missing.zip')).toBeUndefined();
        expect(await store.readText('missing.zip.sha256', 100)).toBeUndefined();
        const ranges = await store.openRanges('r.zip');
        expect(ranges.size).toBe(data.length);
        expect(await ranges.read(0, 10)).toEqual(data.subarray(0, 10));
        expect(await ranges.read(123_456, 65_536)).toEqual(data.subarray(123_456, 123_456 + 65_536));
        expect(await ranges.read(data.length - 22, 22)).toEqual(data.subarray(data.length - 22));
        expect((await ranges.read(5, 0)).length).toBe(0);
        await ranges.close();
        await expect(store.openRead('missing.zip')).rejects.toBeInstanceOf(BackupError);
        await expect(store.readText('r.zip', 1000)).rejects.toBeInstanceOf(BackupError); // 300 kB > 1000
        await store.writeText('r.zip.verified.json', '{"ok":false}\n');
        await store.writeText('r.zip.verified.json', '{"ok":true}\n');
        expect(await store.readText('r.zip.verified.json', 1000)).toBe('{"ok":true}\n');
        await store.remove('r.zip.verified.json');
        await store.remove('r.zip.verified.json'); // already gone: fine
        expect(await harness.rawNames(store)).toEqual(['r.zip', 'r.zip.sha256']);
        const listed = await store.list();
        expect(listed.map((f) => [f.name, f.size]).sort()).toEqual([
          ['r.zip', data.length],
          ['r.zip.sha256', `${sha256(data)}  r.zip\n`.length],
        ]);
      } finally {
        await store.close();
      }
    });

    test('large', 'streams a large archive in and out with bounded memory', async () => {
      const bytes = harness.largeBytes ?? 96 * MiB;
      const store = await fresh(harness);
      try {
        const source = generated(bytes);
        const write = store.beginWrite(writeOptions(undefined, { expectedBytes: bytes }));
        expect(await write.reserve('big.tar.gz')).toBe(true);
        const { growth } = await peakRssGrowth(async () => {
          await pipeline(source.stream, await write.open());
        });
        const digest = source.hash();
        await write.verify({ sha256: digest, bytes });
        await write.writeSidecars([sha256Sidecar('big.tar.gz', digest)]);
        await write.publish({ sha256: digest, bytes });
        await write.close();
        // Far less than the archive: the bytes streamed, they were not collected.
        expect(growth).toBeLessThan(Math.min(bytes * 0.75, 80 * MiB));
        const back = createHash('sha256');
        let read = 0;
        const readGrowth = await peakRssGrowth(async () => {
          for await (const chunk of await store.openRead('big.tar.gz')) {
            back.update(chunk as Buffer);
            read += (chunk as Buffer).length;
          }
        });
        expect(read).toBe(bytes);
        expect(back.digest('hex')).toBe(digest);
        expect(readGrowth.growth).toBeLessThan(Math.min(bytes * 0.75, 80 * MiB));
      } finally {
        await store.close();
      }
    });

    test('ctrl-c', 'Ctrl-C mid-write (the write signal aborted) fails the stream and leaves nothing behind', async () => {
      const store = await fresh(harness);
      try {
        const controller = new AbortController();
        const write = store.beginWrite(writeOptions(controller.signal, { expectedBytes: 64 * MiB }));
        expect(await write.reserve('x.tar.gz')).toBe(true);
        const source = generated(64 * MiB);
        let sent = 0;
        source.stream.on('data', (chunk: Buffer) => {
          sent += chunk.length;
          if (sent >= 6 * MiB && !controller.signal.aborted) controller.abort(new Error('cancelled by the test'));
        });
        const sink: Writable = await write.open(controller.signal);
        await expect(pipeline(source.stream, sink, { signal: controller.signal })).rejects.toThrow();
        await write.abort();
        await write.close();
        expect(await harness.rawNames(store)).toEqual([]);
      } finally {
        await store.close();
      }
    });

    test('lifecycle', 'the lifecycle code works on it: catalog, verify (recorded), restore, prune', async () => {
      const store = await fresh(harness);
      const work = await tempDir('contract-life-');
      try {
        const source = path.join(work, 'data');
        await fs.mkdir(path.join(source, 'docs'), { recursive: true });
        await fs.writeFile(path.join(source, 'docs', 'a.txt'), 'alpha\n');
        await fs.writeFile(path.join(source, 'b.bin'), randomBytes(50_000));
        const created = [new Date('2026-11-01T02:00:00Z'), new Date('2026-11-02T02:00:00Z')];
        const names = ['data-20261101-020000.tar.gz', 'data-20261102-020000.tar.gz'];
        for (const [i, archive] of names.entries()) {
          const file = path.join(work, archive);
          await run('tar', ['-czf', file, '-C', work, 'data']);
          const data = await fs.readFile(file);
          const info = { sha256: sha256(data), bytes: data.length };
          await publishFile(store, archive, data, manifestFor(archive, info, source, created[i]!));
        }
        const catalog = await loadCatalog(store);
        expect(catalog.backups.map((b) => b.archive).sort()).toEqual(names);
        expect(catalog.backups.every((b) => b.manifest)).toBe(true);

        const verified = await verifyBackup(store, names[1]!, { now: new Date(), toolVersion: 'test', record: true });
        expect(verified.problems).toEqual([]);
        expect(verified.ok).toBe(true);
        expect(verified.files).toBe(2);
        expect(await store.readText(`${names[1]}.verified.json`, 100_000)).toContain('"ok": true');

        const to = path.join(work, 'restored');
        const restored = await restoreBackup(store, names[1]!, { to, overwrite: false, include: ['data/docs'], logger: silentLogger });
        expect(restored.files).toBe(1);
        expect(await fs.readFile(path.join(to, 'data', 'docs', 'a.txt'), 'utf8')).toBe('alpha\n');
        await expect(fs.stat(path.join(to, 'data', 'b.bin'))).rejects.toThrow();

        const [pruned] = await pruneStores([store], { nameTemplate: '{source}-{date}-{time}', sources: [source], host: 'contract-host' }, { keepLast: 1 }, { dryRun: false, logger: silentLogger });
        expect(pruned!.failed).toEqual([]);
        expect(pruned!.removed.sort()).toEqual([names[0], `${names[0]}.manifest.json`, `${names[0]}.sha256`].sort());
        expect(await harness.rawNames(store)).toEqual([names[1], `${names[1]}.manifest.json`, `${names[1]}.sha256`, `${names[1]}.verified.json`].sort());
      } finally {
        await store.close();
        await fs.rm(work, { recursive: true, force: true });
      }
    });

    test('close-twice', 'close() twice is fine', async () => {
      const store = await fresh(harness);
      await store.list();
      await store.close();
      await store.close();
    });

    if (harness.wrongCredentials) {
      it('wrong credentials: check() fails with a clear BackupError, not a hang', async () => {
        const store = await harness.wrongCredentials!();
        try {
          const error = await store.check({ dryRun: false }).then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(BackupError);
          expect((error as BackupError).message.length).toBeGreaterThan(20);
        } finally {
          await store.close();
        }
      });
    }

    if (harness.missingLocation) {
      it('a missing bucket / container / remote: check() fails with a clear BackupError', async () => {
        const store = await harness.missingLocation!();
        try {
          const error = await store.check({ dryRun: false }).then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(BackupError);
        } finally {
          await store.close();
        }
      });
    }

    if (harness.throughCutProxy) {
      it('a connection cut mid-upload fails the write with a BackupError and publishes nothing', async () => {
        const proxied = await harness.throughCutProxy!(4 * MiB);
        const { store } = proxied;
        try {
          const write = store.beginWrite(writeOptions(undefined, { expectedBytes: 32 * MiB }));
          expect(await write.reserve('cut.tar.gz')).toBe(true);
          const source = generated(32 * MiB);
          const outcome = await (async () => {
            await pipeline(source.stream, await write.open());
            const info = { sha256: source.hash(), bytes: 32 * MiB };
            await write.verify(info);
            await write.publish(info);
          })().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(outcome).toBeInstanceOf(BackupError);
          proxied.restore();
          await write.abort();
          await write.close();
          const names = await harness.rawNames(store);
          expect(names).not.toContain('cut.tar.gz');
        } finally {
          await store.close();
          await proxied.close();
        }
      });
    }
  });
}
