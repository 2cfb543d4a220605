/**
 * Groundwork for the Azure Blob destination (issue 11): the facts the backend
 * will rely on, checked against a real Azurite (tests/helpers/azurite.ts)
 * with @azure/storage-blob, no mocks. What each fact means for the design:
 *
 * (a) Streaming upload = stageBlock per block as the stream arrives (4 MiB
 *     blocks, at most 2 in flight: memory is bounded by the block size times
 *     (in flight + 1 filling), whatever the archive's size), hashing as it
 *     goes; then ONE commitBlockList under the FINAL name, with the SHA-256
 *     in metadata and `conditions: { ifNoneMatch: '*' }`. There is no temp
 *     name and no server-side copy: the commit is the atomic publish.
 * (b) Staged (uncommitted) blocks are invisible: the blob does not exist, is
 *     not listed and cannot be read under the final name until the commit, so
 *     a partial upload is never visible. getBlockList('uncommitted') shows
 *     them (a way to see leftovers), in the order the stages FINISHED, not
 *     the stream's order: the backend keeps its own ordered id list for the
 *     commit (the commit's list order is the blob's byte order). `list` must
 *     never pass includeUncommitedBlobs.
 * (c) The If-None-Match commit never overwrites: a second commit to an
 *     existing name fails (409 BlobAlreadyExists) and the first blob stays
 *     intact. The backend maps this to its "already exists" error.
 * (c2) Uncommitted blocks belong to the blob NAME, not to an upload: a
 *     commit discards every other uncommitted block of that name. Block ids
 *     must therefore carry a per-upload random part (two runs writing the same
 *     name must not reuse each other's blocks), and a run whose blocks were
 *     discarded by another's commit fails its own commit (InvalidBlockList)
 *     rather than publishing a mix.
 * (d) A wrong account key answers 403 (AuthorizationFailure /
 *     AuthenticationFailed): a credentials error, not retried, message
 *     without the key.
 * (e) A missing container answers 404 ContainerNotFound on both a write
 *     (stageBlock) and a read (getProperties): the wizard's "container
 *     exists" check and a clear error naming the container.
 * (f) An AbortSignal stops a stageBlock mid-body (AbortError) and leaves no
 *     block behind. Abort / Ctrl-C / a failed run = stop staging and commit
 *     nothing: uncommitted blocks are never visible and Azure drops them
 *     after 7 days (no cleanup call exists for them; committing an empty list
 *     would create an empty blob, so do not).
 * (g) listBlobsFlat({ prefix }) lists committed blobs under a prefix with
 *     size and metadata; deleteIfExists removes one (prune).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BlobServiceClient,
  StorageSharedKeyCredential,
  type BlockBlobClient,
  type ContainerClient,
} from '@azure/storage-blob';
import { startAzurite, type AzuriteServer } from '../helpers/azurite.js';

const MiB = 1024 * 1024;
const BLOCK_SIZE = 4 * MiB;
const MAX_IN_FLIGHT = 2;

/** `total` random bytes, made lazily in 256 KiB chunks (never all in memory). */
function randomStream(total: number): Readable {
  let left = total;
  return new Readable({
    highWaterMark: 256 * 1024,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, 256 * 1024);
      left -= n;
      this.push(randomBytes(n));
    },
  });
}

/** Block ids: same length for every block of a blob (Azure requires it), unique per upload. */
function blockId(upload: string, index: number): string {
  return Buffer.from(`${upload}-${String(index).padStart(6, '0')}`).toString('base64');
}

interface Staged {
  blockIds: string[];
  sha256: string;
  bytes: number;
  maxInFlight: number;
  /** Most bytes held at once: the block being filled plus the blocks in flight. */
  maxHeldBytes: number;
}

/**
 * What the backend will do: cut the stream into BLOCK_SIZE blocks, stage each
 * with at most MAX_IN_FLIGHT in flight (the stream waits), hash as it goes.
 */
async function stageStream(blob: BlockBlobClient, source: Readable, signal?: AbortSignal): Promise<Staged> {
  const upload = randomUUID().slice(0, 8);
  const hash = createHash('sha256');
  const blockIds: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let bytes = 0;
  let maxInFlight = 0;
  let maxHeldBytes = 0;
  let filling: Buffer[] = [];
  let fillingBytes = 0;

  const send = async (block: Buffer) => {
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    if (failure) throw failure;
    const id = blockId(upload, blockIds.length);
    blockIds.push(id);
    const p: Promise<void> = blob
      .stageBlock(id, block, block.length, { abortSignal: signal })
      .then(
        () => {},
        (err: unknown) => {
          failure ??= err;
        },
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    maxInFlight = Math.max(maxInFlight, inFlight.size);
  };

  for await (const chunk of source as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
    let rest = chunk;
    while (rest.length > 0) {
      const take = rest.subarray(0, BLOCK_SIZE - fillingBytes);
      filling.push(take);
      fillingBytes += take.length;
      rest = rest.subarray(take.length);
      maxHeldBytes = Math.max(maxHeldBytes, fillingBytes + inFlight.size * BLOCK_SIZE);
      if (fillingBytes === BLOCK_SIZE) {
        const block = Buffer.concat(filling);
        filling = [];
        fillingBytes = 0;
        await send(block);
      }
    }
  }
  if (fillingBytes > 0) await send(Buffer.concat(filling));
  await Promise.all(inFlight);
  if (failure) throw failure;
  return { blockIds, sha256: hash.digest('hex'), bytes, maxInFlight, maxHeldBytes };
}

async function sha256Of(stream: NodeJS.ReadableStream): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<{ statusCode?: number; code?: string; name?: string; message?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { statusCode?: number; code?: string; name?: string };
  }
  throw new Error('expected the call to fail, it succeeded');
}

async function listNames(container: ContainerClient, prefix?: string, includeUncommitedBlobs = false): Promise<string[]> {
  const names: string[] = [];
  for await (const item of container.listBlobsFlat({ prefix, includeUncommitedBlobs })) names.push(item.name);
  return names;
}

describe('Azure Blob facts (Azurite)', () => {
  let azurite: AzuriteServer;
  let service: BlobServiceClient;
  let container: ContainerClient;

  beforeAll(async () => {
    azurite = await startAzurite();
    service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    container = service.getContainerClient(`backups-${randomUUID().slice(0, 8)}`);
    await container.create();
  });

  afterAll(async () => {
    await azurite?.stop();
  });

  it('(a) streams 24 MiB as staged 4 MiB blocks (2 in flight) and commits it under the final name with its SHA-256', async () => {
    const blob = container.getBlockBlobClient('host1/backup-a.tar.gz');
    const staged = await stageStream(blob, randomStream(24 * MiB));

    expect(staged.bytes).toBe(24 * MiB);
    expect(staged.blockIds).toHaveLength(6);
    expect(staged.maxInFlight).toBeLessThanOrEqual(MAX_IN_FLIGHT);
    expect(staged.maxHeldBytes).toBeLessThanOrEqual((MAX_IN_FLIGHT + 1) * BLOCK_SIZE);

    await blob.commitBlockList(staged.blockIds, {
      conditions: { ifNoneMatch: '*' },
      metadata: { sha256: staged.sha256 },
      blobHTTPHeaders: { blobContentType: 'application/gzip' },
    });

    const props = await blob.getProperties();
    expect(props.contentLength).toBe(24 * MiB);
    expect(props.metadata).toEqual({ sha256: staged.sha256 });
    expect(props.contentType).toBe('application/gzip');
    const download = await blob.download();
    expect(await sha256Of(download.readableStreamBody!)).toEqual({ sha256: staged.sha256, bytes: 24 * MiB });
  });

  it('(b) staged blocks are invisible under the final name until the commit', async () => {
    const name = 'host1/backup-b.tar.gz';
    const blob = container.getBlockBlobClient(name);
    const staged = await stageStream(blob, randomStream(10 * MiB));
    expect(staged.blockIds).toHaveLength(3);

    expect(await blob.exists()).toBe(false);
    expect(await listNames(container, 'host1/')).not.toContain(name);
    // ...except to a list that asks for uncommitted blobs.
    expect(await listNames(container, 'host1/', true)).toContain(name);
    expect((await rejection(blob.download())).statusCode).toBe(404);
    const uncommitted = await blob.getBlockList('uncommitted');
    // In the order the stages finished (2 in flight), not the stream's order.
    const byName = new Map(uncommitted.uncommittedBlocks?.map((b) => [b.name, b.size]));
    expect([...byName.keys()].sort()).toEqual(staged.blockIds);
    expect(staged.blockIds.map((id) => byName.get(id))).toEqual([BLOCK_SIZE, BLOCK_SIZE, 2 * MiB]);
    expect(uncommitted.committedBlocks ?? []).toEqual([]);

    await blob.commitBlockList(staged.blockIds, { conditions: { ifNoneMatch: '*' }, metadata: { sha256: staged.sha256 } });
    expect(await blob.exists()).toBe(true);
    expect(await listNames(container, 'host1/')).toContain(name);
    const after = await blob.getBlockList('all');
    expect(after.uncommittedBlocks ?? []).toEqual([]);
    expect(after.committedBlocks?.map((b) => b.name)).toEqual(staged.blockIds);
  });

  it('(c) a second commit with If-None-Match * to an existing name fails and never overwrites', async () => {
    const blob = container.getBlockBlobClient('host1/backup-c.tar.gz');
    const first = await stageStream(blob, randomStream(1 * MiB));
    await blob.commitBlockList(first.blockIds, { conditions: { ifNoneMatch: '*' }, metadata: { sha256: first.sha256 } });

    const second = await stageStream(blob, randomStream(1 * MiB));
    const err = await rejection(
      blob.commitBlockList(second.blockIds, { conditions: { ifNoneMatch: '*' }, metadata: { sha256: second.sha256 } }),
    );
    expect(err.name).toBe('RestError');
    expect([409, 412]).toContain(err.statusCode);
    expect(err.code).toBe(err.statusCode === 409 ? 'BlobAlreadyExists' : 'ConditionNotMet');

    const props = await blob.getProperties();
    expect(props.metadata).toEqual({ sha256: first.sha256 });
    expect(await sha256Of((await blob.download()).readableStreamBody!)).toEqual({ sha256: first.sha256, bytes: 1 * MiB });
  });

  it('(c2) a commit discards the name\'s other uncommitted blocks: a parallel upload to the same name cannot publish', async () => {
    const blob = container.getBlockBlobClient('host1/backup-c2.tar.gz');
    const runA = await stageStream(blob, randomStream(1 * MiB));
    const runB = await stageStream(blob, randomStream(1 * MiB));
    expect((await blob.getBlockList('uncommitted')).uncommittedBlocks).toHaveLength(2);

    await blob.commitBlockList(runA.blockIds, { conditions: { ifNoneMatch: '*' }, metadata: { sha256: runA.sha256 } });
    expect((await blob.getBlockList('uncommitted')).uncommittedBlocks ?? []).toEqual([]);

    // Without the condition too: B's blocks are gone, so B cannot publish at all.
    const err = await rejection(blob.commitBlockList(runB.blockIds, { metadata: { sha256: runB.sha256 } }));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('InvalidBlockList');
    expect((await blob.getProperties()).metadata).toEqual({ sha256: runA.sha256 });
  });

  it('(d) a wrong account key answers 403 (an authentication error)', async () => {
    const wrongKey = randomBytes(64).toString('base64');
    const bad = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(azurite.accountName, wrongKey));
    const err = await rejection(bad.getContainerClient(container.containerName).getProperties());
    expect(err.statusCode).toBe(403);
    // Azurite says AuthorizationFailure; Azure itself says AuthenticationFailed.
    expect(err.code).toMatch(/^(AuthorizationFailure|AuthenticationFailed)$/);
    const write = await rejection(
      bad.getContainerClient(container.containerName).getBlockBlobClient('x').stageBlock(blockId('abcdefgh', 0), 'x', 1),
    );
    expect(write.statusCode).toBe(403);
    expect(write.code).toMatch(/^(AuthorizationFailure|AuthenticationFailed)$/);
    expect(write.message).not.toContain(wrongKey);
  });

  it('(e) a missing container answers 404 ContainerNotFound on a write and on a read', async () => {
    const missing = service.getContainerClient(`missing-${randomUUID().slice(0, 8)}`);
    const write = await rejection(missing.getBlockBlobClient('x').stageBlock(blockId('abcdefgh', 0), 'x', 1));
    expect(write.statusCode).toBe(404);
    expect(write.code).toBe('ContainerNotFound');
    const read = await rejection(missing.getProperties());
    expect(read.statusCode).toBe(404);
    expect(read.code).toBe('ContainerNotFound');
    expect(await missing.exists()).toBe(false);
  });

  it('(f) an AbortSignal stops a stageBlock mid-body and leaves no block', async () => {
    const blob = container.getBlockBlobClient('host1/backup-f.tar.gz');
    const controller = new AbortController();
    let sent = 0;
    // 1 MiB, then nothing more until the abort: the request is mid-body when aborted.
    const body = new Readable({
      read() {
        if (sent === 0) {
          sent = MiB;
          this.push(randomBytes(MiB));
        } else {
          controller.abort();
        }
      },
    });
    const err = await rejection(
      blob.stageBlock(blockId('abcdefgh', 0), () => body, BLOCK_SIZE, { abortSignal: controller.signal }),
    );
    expect(err.name).toBe('AbortError');
    body.destroy();
    expect(await blob.exists()).toBe(false);
    // No blob record at all (404), or one with nothing staged.
    const blocks = await blob.getBlockList('all').then(
      (list) => [...(list.uncommittedBlocks ?? []), ...(list.committedBlocks ?? [])].map((b) => b.name),
      (e: { statusCode?: number }) => e.statusCode,
    );
    expect([404, []]).toContainEqual(blocks);
  });

  it('(g) lists by prefix (with size and metadata) and deletes a blob', async () => {
    const names = ['host2/one.zip', 'host2/two.zip', 'other/three.zip'];
    for (const name of names) {
      await container.getBlockBlobClient(name).upload(name, name.length, {
        conditions: { ifNoneMatch: '*' },
        metadata: { sha256: createHash('sha256').update(name).digest('hex') },
      });
    }
    const items = [];
    for await (const item of container.listBlobsFlat({ prefix: 'host2/', includeMetadata: true })) items.push(item);
    expect(items.map((i) => i.name)).toEqual(['host2/one.zip', 'host2/two.zip']);
    expect(items[0]!.properties.contentLength).toBe('host2/one.zip'.length);
    expect(items[0]!.metadata?.sha256).toBe(createHash('sha256').update('host2/one.zip').digest('hex'));

    expect((await container.getBlockBlobClient('host2/one.zip').deleteIfExists()).succeeded).toBe(true);
    expect(await listNames(container, 'host2/')).toEqual(['host2/two.zip']);
    expect((await container.getBlockBlobClient('host2/one.zip').deleteIfExists()).succeeded).toBe(false);
  });
});
