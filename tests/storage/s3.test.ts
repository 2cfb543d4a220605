/**
 * The S3 destination against the suite's real S3 server: the same contract
 * as the local folder, then what only S3 has (multipart uploads, metadata,
 * storage class, the copy for objects over the CopyObject limit).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { S3Destination, createS3Client, type S3Target } from '../../src/storage/s3.js';
import { silentLogger } from '../../src/log/logger-types.js';
import { storeContract } from './store-contract.js';
import { S3Store } from '../../src/storage/s3-store.js';
import type { Store } from '../../src/storage/store.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { waitFor } from '../helpers/wait-for.js';
import { freshBucket, getObject, headObject, listKeys, listUploads, s3Env, s3Server, testClient } from '../helpers/s3.js';

const MiB = 1024 * 1024;

function target(bucket: string, extra: Partial<S3Target> = {}): S3Target {
  const server = s3Server();
  return { bucket, prefix: 'host1/', endpoint: server.endpoint, region: server.region, ...extra };
}

function destination(t: S3Target, extra: Partial<ConstructorParameters<typeof S3Destination>[0]> = {}): S3Destination {
  // Credentials from the environment, as the CLI gets them.
  Object.assign(process.env, s3Env());
  return new S3Destination({ client: createS3Client(t), target: t, logger: silentLogger, partSize: 5 * MiB, ...extra });
}

/** Parts S3 holds of the bucket's one unfinished multipart upload (0 before it exists). */
async function partsOnServer(bucket: string): Promise<number> {
  const client = testClient();
  const upload = (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.[0];
  if (!upload) return 0;
  const parts = await client.send(new ListPartsCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
  return parts.Parts?.length ?? 0;
}

const targets = new WeakMap<Store, S3Target>();

function store(t: S3Target): Store {
  Object.assign(process.env, s3Env());
  const s = new S3Store(createS3Client(t), t);
  targets.set(s, t);
  return s;
}

storeContract('S3', {
  create: async () => store(target(await freshBucket())),
  sibling: async (of) => store(targets.get(of)!),
  // Objects under the prefix plus unfinished multipart uploads: after a publish or an abort none may remain.
  async rawNames(of) {
    const t = targets.get(of)!;
    const keys = (await listKeys(t.bucket)).map((k) => k.slice(t.prefix.length));
    const uploads = (await listUploads(t.bucket)).map((u) => `(unfinished upload) ${u}`);
    return [...keys, ...uploads].sort();
  },
  async plant(of, name, content) {
    const t = targets.get(of)!;
    await testClient().send(new PutObjectCommand({ Bucket: t.bucket, Key: `${t.prefix}${name}`, Body: content }));
  },
  missingLocation: async () => store(target(`missing-${Date.now()}`)),
});

async function uploadThrough(d: S3Destination, data: Buffer): Promise<void> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += 256 * 1024) chunks.push(data.subarray(i, i + 256 * 1024));
  await pipeline(Readable.from(chunks), await d.open());
}

describe('S3 destination', () => {
  it('uploads in several parts, stores the SHA-256 as metadata and applies the storage class', async () => {
    const bucket = await freshBucket();
    const t = target(bucket, { storageClass: 'STANDARD_IA' });
    const d = destination(t);
    const data = randomBytes(13 * MiB); // three 5 MiB parts
    const sha = createHash('sha256').update(data).digest('hex');
    expect(await d.reserve('big.tar.gz')).toBe(true);
    await uploadThrough(d, data);
    await d.verify({ sha256: sha, bytes: data.length });
    await d.publish({ sha256: sha, bytes: data.length });
    const head = await headObject(bucket, 'host1/big.tar.gz');
    expect(head.ContentLength).toBe(data.length);
    expect(head.Metadata?.sha256).toBe(sha);
    expect(head.StorageClass).toBe('STANDARD_IA');
    expect(head.ContentType).toBe('application/gzip');
    // A multipart object's ETag says how many parts it had: "<md5>-3".
    expect(head.ETag).toMatch(/-3"$/);
    expect(createHash('sha256').update(await getObject(bucket, 'host1/big.tar.gz')).digest('hex')).toBe(sha);
    expect(await listKeys(bucket)).toEqual(['host1/big.tar.gz']);
    expect(await listUploads(bucket)).toEqual([]);
  });

  it('parts reuse their buffers: many parts written in odd-sized chunks come back byte for byte, with the progress of each part', async () => {
    const bucket = await freshBucket();
    const progress: number[] = [];
    // Two parts in flight and one filling: three buffers, each used for several of the 9 parts.
    const d = destination(target(bucket), { queueSize: 2, onProgress: (bytes) => progress.push(bytes) });
    const data = randomBytes(43 * MiB + 12_345);
    const sha = createHash('sha256').update(data).digest('hex');
    expect(await d.reserve('odd.tar.gz')).toBe(true);
    const chunks: Buffer[] = [];
    for (let at = 0, i = 0; at < data.length; i++) {
      const size = [1, 777_777, 3 * MiB + 5, 64 * 1024, 5 * MiB][i % 5]!;
      chunks.push(data.subarray(at, at + size));
      at += size;
    }
    await pipeline(Readable.from(chunks), await d.open());
    await d.verify({ sha256: sha, bytes: data.length });
    await d.publish({ sha256: sha, bytes: data.length });
    expect(createHash('sha256').update(await getObject(bucket, 'host1/odd.tar.gz')).digest('hex')).toBe(sha);
    expect((await headObject(bucket, 'host1/odd.tar.gz')).ETag).toMatch(/-9"$/);
    // One report per part, in bytes acknowledged: 8 full parts and the rest.
    expect(progress).toHaveLength(9);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(progress.at(-1)).toBe(data.length);
    expect(await listUploads(bucket)).toEqual([]);
  });

  it('an archive of at most one part is one PutObject (exactly one part, and an empty one)', async () => {
    const bucket = await freshBucket();
    for (const [name, size] of [
      ['one.tar.gz', 5 * MiB],
      ['empty.tar.gz', 0],
    ] as const) {
      const d = destination(target(bucket));
      const data = randomBytes(size);
      const sha = createHash('sha256').update(data).digest('hex');
      expect(await d.reserve(name)).toBe(true);
      await uploadThrough(d, data);
      await d.verify({ sha256: sha, bytes: size });
      await d.publish({ sha256: sha, bytes: size });
      const head = await headObject(bucket, `host1/${name}`);
      expect(head.ContentLength).toBe(size);
      // A single PUT's ETag is the MD5 of the bytes, with no part count.
      expect(head.ETag).toBe(`"${createHash('md5').update(data).digest('hex')}"`);
    }
    expect(await listUploads(bucket)).toEqual([]);
  });

  it("with the SDK's default checksums (as on AWS) the upload is created with CRC32 and each part carries one", async () => {
    const bucket = await freshBucket();
    const t = target(bucket);
    const server = s3Server();
    const client = new S3Client({
      endpoint: t.endpoint,
      region: t.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      forcePathStyle: true,
    });
    const sent: Array<{ command: string; algorithm?: string; crc32?: string; parts?: Array<{ ChecksumCRC32?: string }> }> = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ChecksumAlgorithm?: string; MultipartUpload?: { Parts?: Array<{ ChecksumCRC32?: string }> } };
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        sent.push({ command: context.commandName!, algorithm: input.ChecksumAlgorithm, crc32: headers['x-amz-checksum-crc32'], parts: input.MultipartUpload?.Parts });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordChecksums' },
    );
    const d = destination(t, { client });
    const data = randomBytes(11 * MiB);
    const sha = createHash('sha256').update(data).digest('hex');
    expect(await d.reserve('crc.tar.gz')).toBe(true);
    await uploadThrough(d, data);
    await d.verify({ sha256: sha, bytes: data.length });
    await d.publish({ sha256: sha, bytes: data.length });
    expect(createHash('sha256').update(await getObject(bucket, 'host1/crc.tar.gz')).digest('hex')).toBe(sha);
    expect(sent.find((r) => r.command === 'CreateMultipartUploadCommand')?.algorithm).toBe('CRC32');
    const parts = sent.filter((r) => r.command === 'UploadPartCommand');
    expect(parts).toHaveLength(3);
    for (const part of parts) expect(part.crc32).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    // (The completion repeats each part's checksum as the server answered it; this Ceph does not answer with one.)
    expect(sent.find((r) => r.command === 'CompleteMultipartUploadCommand')?.parts).toHaveLength(3);
  });

  it('publishes objects over the copy limit with a multipart copy', async () => {
    const bucket = await freshBucket();
    const d = destination(target(bucket), { multipartCopyThreshold: 5 * MiB });
    const data = randomBytes(12 * MiB);
    const sha = createHash('sha256').update(data).digest('hex');
    expect(await d.reserve('x.zip')).toBe(true);
    await uploadThrough(d, data);
    await d.verify({ sha256: sha, bytes: data.length });
    await d.publish({ sha256: sha, bytes: data.length });
    const head = await headObject(bucket, 'host1/x.zip');
    expect(head.Metadata?.sha256).toBe(sha);
    expect(head.ETag).toMatch(/-3"$/); // copied in three ranges
    expect(createHash('sha256').update(await getObject(bucket, 'host1/x.zip')).digest('hex')).toBe(sha);
    expect(await listKeys(bucket)).toEqual(['host1/x.zip']);
    expect(await listUploads(bucket)).toEqual([]);
  });

  it('check(): write permission probed by a multipart upload begun and aborted (nothing left); a dry run writes nothing', async () => {
    const bucket = await freshBucket();
    Object.assign(process.env, s3Env());
    const server = new URL(s3Server().endpoint);
    const proxy = await startFaultProxy({ host: server.hostname, port: Number(server.port) });
    const store = new S3Store(createS3Client({ ...target(bucket), endpoint: proxy.url, timeoutSeconds: 2 }), { ...target(bucket), endpoint: proxy.url }, 'cloud');
    try {
      await store.check({ dryRun: false });
      expect(await listUploads(bucket)).toEqual([]);
      expect(await listKeys(bucket)).toEqual([]);
      // Every attempt to begin an upload is cut: a store that takes no writes fails the check...
      proxy.setRules([{ match: (req) => req.method === 'POST' && req.query.has('uploads'), action: 'reset', times: Infinity }]);
      await expect(store.check({ dryRun: false })).rejects.toThrow(/CreateMultipartUpload|s3:PutObject/);
      // ...and a dry run, which writes nothing, never asks.
      const before = proxy.hits();
      await store.check({ dryRun: true });
      expect(proxy.hits()).toBe(before);
      expect(await listUploads(bucket)).toEqual([]);
    } finally {
      await store.close();
      await proxy.close();
    }
  });

  it('abort in the middle of a multipart upload leaves no parts and no object', async () => {
    const bucket = await freshBucket();
    const d = destination(target(bucket));
    expect(await d.reserve('c.tar.gz')).toBe(true);
    const sink = await d.open();
    // 12 MiB: two 5 MiB parts are sent; the last 2 MiB wait for the end, which never comes.
    for (let i = 0; i < 12; i++) {
      if (!sink.write(randomBytes(MiB))) await new Promise((resolve) => sink.once('drain', resolve));
    }
    // The abort comes once S3 holds both parts: in the middle of the upload.
    await waitFor('S3 to hold two parts of the upload', async () => ((await partsOnServer(bucket)) >= 2 ? true : undefined));
    await d.abort();
    sink.destroy();
    expect(await listUploads(bucket)).toEqual([]);
    expect(await listKeys(bucket)).toEqual([]);
  });

  it('abort while CreateMultipartUpload gets no answer: waits for it only so long, then finds the upload by listing and aborts it', async () => {
    const bucket = await freshBucket();
    const server = new URL(s3Server().endpoint);
    const proxy = await startFaultProxy({ host: server.hostname, port: Number(server.port) });
    try {
      // The server gets the request (and creates the upload); its answer never comes back.
      proxy.setRules([{ match: (req) => req.method === 'POST' && req.query.has('uploads'), action: 'stall', times: 1 }]);
      const d = destination(target(bucket, { endpoint: proxy.url }), { abortWaitMs: 200 });
      expect(await d.reserve('s.tar.gz')).toBe(true);
      const sink = await d.open();
      sink.on('error', () => undefined);
      for (let i = 0; i < 12; i++) sink.write(randomBytes(MiB));
      while (proxy.hits() === 0) await new Promise((resolve) => setImmediate(resolve));
      // The upload exists on the server, and we never learnt its id.
      while ((await listUploads(bucket)).length === 0) await new Promise((resolve) => setImmediate(resolve));
      await d.abort();
      sink.destroy();
      await d.close();
      expect(await listUploads(bucket)).toEqual([]);
      expect(await listKeys(bucket)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
