/**
 * One behavioural suite for every Destination (restic's backend test idea):
 * the local folder and S3 must both pass it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import type { Destination } from '../../src/storage/destination.js';

export interface DestinationHarness {
  /** A new destination on a fresh, empty location. */
  create(): Promise<Destination>;
  /** A second destination on the same location as `of` (a concurrent run). */
  sibling(of: Destination): Promise<Destination>;
  /** Names visible at the destination's location, sorted (partial uploads included where visible). */
  list(of: Destination): Promise<string[]>;
  read(of: Destination, name: string): Promise<Buffer>;
  /** Creates a file `name` at the destination's location, as another program would. */
  plant(of: Destination, name: string): Promise<void>;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeAll(dest: Destination, data: Buffer): Promise<void> {
  const sink = await dest.open();
  // Several chunks, so the sink sees more than one write.
  const chunks = [data.subarray(0, 1000), data.subarray(1000, 70_000), data.subarray(70_000)];
  await pipeline(Readable.from(chunks), sink);
}

export function destinationContract(name: string, harness: DestinationHarness): void {
  describe(`Destination contract: ${name}`, () => {
    it('publishes the archive and sidecars under their final names only after commit', async () => {
      const dest = await harness.create();
      const data = randomBytes(200_000);
      expect(await dest.reserve('a.tar.gz')).toBe(true);
      await writeAll(dest, data);
      expect(await harness.list(dest)).not.toContain('a.tar.gz');
      await dest.verify({ sha256: sha256(data), bytes: data.length });
      // Sidecars first, the archive's final name last.
      await dest.writeSidecars([{ name: 'a.tar.gz.sha256', content: `${sha256(data)}  a.tar.gz\n` }]);
      expect(await harness.list(dest)).not.toContain('a.tar.gz');
      expect(await harness.list(dest)).toContain('a.tar.gz.sha256');
      const committed = await dest.publish({ sha256: sha256(data), bytes: data.length });
      expect(committed.fileName).toBe('a.tar.gz');
      expect(committed.location).toBe(dest.location());
      expect(await harness.list(dest)).toEqual(['a.tar.gz', 'a.tar.gz.sha256']);
      expect(sha256(await harness.read(dest, 'a.tar.gz'))).toBe(sha256(data));
      expect((await harness.read(dest, 'a.tar.gz.sha256')).toString()).toBe(`${sha256(data)}  a.tar.gz\n`);
      await dest.abort(); // after commit: a no-op that must not remove the published archive
      expect(await harness.list(dest)).toEqual(['a.tar.gz', 'a.tar.gz.sha256']);
    });

    it('refuses a name that exists, and a name another run has reserved', async () => {
      const first = await harness.create();
      expect(await first.reserve('b.zip')).toBe(true);
      const second = await harness.sibling(first);
      expect(await second.reserve('b.zip')).toBe(false);
      const data = randomBytes(10);
      await writeAll(first, data);
      await first.verify({ sha256: sha256(data), bytes: data.length });
      await first.publish({ sha256: sha256(data), bytes: data.length });
      const third = await harness.sibling(first);
      expect(await third.reserve('b.zip')).toBe(false);
      expect(await third.reserve('b-1.zip')).toBe(true);
      await third.abort();
    });

    it('abort before commit leaves nothing behind', async () => {
      const dest = await harness.create();
      expect(await dest.reserve('c.tar.bz2')).toBe(true);
      const sink = await dest.open();
      sink.write(randomBytes(100_000));
      await dest.abort();
      sink.destroy();
      expect(await harness.list(dest)).toEqual([]);
    });

    it('a commit whose stored size does not match what was written publishes nothing', async () => {
      const dest = await harness.create();
      expect(await dest.reserve('d.zip')).toBe(true);
      const data = randomBytes(5000);
      await writeAll(dest, data);
      await expect(dest.verify({ sha256: sha256(data), bytes: data.length + 1 })).rejects.toThrow(/Verification failed/);
      await dest.abort();
      expect(await harness.list(dest)).toEqual([]);
    });

    it('a name whose sidecar exists (left by another run) is not reserved', async () => {
      const first = await harness.create();
      expect(await first.reserve('e.zip')).toBe(true);
      const data = randomBytes(10);
      await writeAll(first, data);
      await first.verify({ sha256: sha256(data), bytes: data.length });
      await first.writeSidecars([{ name: 'e.zip.manifest.json', content: '{}\n' }]);
      const second = await harness.sibling(first);
      expect(await second.reserve('e.zip')).toBe(false);
      await first.abort();
      await second.close();
      expect(await harness.list(first)).toEqual([]);
    });

    it('sidecars written, then the publish fails: abort removes the sidecars and the partial', async () => {
      const dest = await harness.create();
      expect(await dest.reserve('f.tar.gz')).toBe(true);
      const data = randomBytes(3000);
      await writeAll(dest, data);
      await dest.verify({ sha256: sha256(data), bytes: data.length });
      await dest.writeSidecars([
        { name: 'f.tar.gz.sha256', content: `${sha256(data)}  f.tar.gz\n` },
        { name: 'f.tar.gz.manifest.json', content: '{}\n' },
      ]);
      // Someone else takes the final name meanwhile: never overwritten.
      await harness.plant(dest, 'f.tar.gz');
      await expect(dest.publish({ sha256: sha256(data), bytes: data.length })).rejects.toThrow(/not overwritten/);
      await dest.abort();
      const left = await harness.list(dest);
      expect(left.filter((n) => n.startsWith('f.tar.gz.') && !n.endsWith('.partial'))).toEqual([]);
      await dest.close();
    });
  });
}
