/**
 * planPrune / executePrune against an in-memory store: the delete order and
 * what happens when a delete fails, which a real folder cannot be made to do
 * for one file (root deletes anything; chattr is not available everywhere).
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { executePrune, planPrune, type JobIdentity } from '../../src/lifecycle/prune.js';
import { loadCatalog } from '../../src/lifecycle/catalog.js';
import type { Store, StoredFile } from '../../src/storage/store.js';
import { silentLogger } from '../../src/log/logger-types.js';

class MemoryStore implements Store {
  readonly kind = 'local' as const;
  readonly label = 'memory';
  readonly name = 'memory';
  async check(): Promise<void> {}
  beginWrite(): never {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
  readonly files = new Map<string, string>();
  readonly deleted: string[] = [];
  constructor(private readonly undeletable: Set<string> = new Set()) {}
  async stat(name: string): Promise<StoredFile | undefined> {
    return this.files.has(name) ? { name, size: this.files.get(name)!.length, modified: new Date(0) } : undefined;
  }
  async list(): Promise<StoredFile[]> {
    return [...this.files.keys()].map((name) => ({ name, size: this.files.get(name)!.length, modified: new Date(0) }));
  }
  locationOf(name: string): string {
    return `memory/${name}`;
  }
  async openRead(name: string): Promise<Readable> {
    return Readable.from([Buffer.from(this.files.get(name) ?? '')]);
  }
  async openRanges(): Promise<never> {
    throw new Error('not used');
  }
  async readText(name: string): Promise<string | undefined> {
    return this.files.get(name);
  }
  async writeText(name: string, content: string): Promise<void> {
    this.files.set(name, content);
  }
  async remove(name: string): Promise<void> {
    if (this.undeletable.has(name)) throw new Error('Operation not permitted');
    this.files.delete(name);
    this.deleted.push(name);
  }
}

const job: JobIdentity = { sources: ['/srv/data'], nameTemplate: '{source}-{date}-{time}', host: 'h1' };

function addBackup(store: MemoryStore, name: string, created: string): void {
  store.files.set(name, 'archive bytes');
  store.files.set(`${name}.sha256`, `${'a'.repeat(64)}  ${name}\n`);
  store.files.set(`${name}.verified.json`, JSON.stringify({ verifiedAt: created, ok: true }));
  store.files.set(
    `${name}.manifest.json`,
    JSON.stringify({
      manifestVersion: 1, created, host: job.host, archive: name, nameTemplate: job.nameTemplate, sources: job.sources,
      format: 'tar.gz', files: 1, entries: 2, sourceBytes: 1, archiveBytes: 13, sha256: 'a'.repeat(64),
    }),
  );
}

describe('executePrune', () => {
  it('deletes the archive first and the manifest last', async () => {
    const store = new MemoryStore();
    addBackup(store, 'data-1.tar.gz', '2026-11-26T00:00:00Z');
    addBackup(store, 'data-0.tar.gz', '2026-11-25T00:00:00Z');
    const catalog = await loadCatalog(store);
    const plan = planPrune(catalog, job, { keepLast: 1 });
    await executePrune(store, catalog, plan, job, { dryRun: false, logger: silentLogger });
    expect(store.deleted).toEqual(['data-0.tar.gz', 'data-0.tar.gz.sha256', 'data-0.tar.gz.verified.json', 'data-0.tar.gz.manifest.json']);
  });

  it('an archive that cannot be deleted keeps all its sidecars (so it stays the job\'s and is tried again)', async () => {
    const store = new MemoryStore(new Set(['data-0.tar.gz']));
    addBackup(store, 'data-1.tar.gz', '2026-11-26T00:00:00Z');
    addBackup(store, 'data-0.tar.gz', '2026-11-25T00:00:00Z');
    addBackup(store, 'data-00.tar.gz', '2026-11-24T00:00:00Z');
    const catalog = await loadCatalog(store);
    const result = await executePrune(store, catalog, planPrune(catalog, job, { keepLast: 1 }), job, { dryRun: false, logger: silentLogger });
    expect(result.failed).toEqual([{ file: 'data-0.tar.gz', error: expect.stringContaining('not permitted') }]);
    expect([...store.files.keys()].filter((f) => f.startsWith('data-0.tar.gz')).sort()).toEqual([
      'data-0.tar.gz', 'data-0.tar.gz.manifest.json', 'data-0.tar.gz.sha256', 'data-0.tar.gz.verified.json',
    ]);
    // The next one is still pruned.
    expect([...store.files.keys()].filter((f) => f.startsWith('data-00.'))).toEqual([]);
  });

  it('a dry run deletes nothing', async () => {
    const store = new MemoryStore();
    addBackup(store, 'data-1.tar.gz', '2026-11-26T00:00:00Z');
    addBackup(store, 'data-0.tar.gz', '2026-11-25T00:00:00Z');
    const catalog = await loadCatalog(store);
    await executePrune(store, catalog, planPrune(catalog, job, { keepLast: 1 }), job, { dryRun: true, logger: silentLogger });
    expect(store.deleted).toEqual([]);
  });
});
