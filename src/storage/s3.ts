/**
 * The S3 destination (AWS and S3-compatible stores). The only module that
 * imports the AWS SDK.
 *
 * - The archive is streamed to a multipart upload (s3-multipart.ts) while
 *   it is being written; memory is (queueSize + 1) x partSize, in buffers
 *   reused from part to part.
 * - As on disk, the archive is uploaded as `NAME.EXT.partial`. HeadObject
 *   confirms its size; a server-side copy then publishes it under its final
 *   key with the SHA-256 (known only at the end) as metadata and the storage
 *   class, and the partial object is deleted. So a final key only ever holds
 *   a complete, checked archive. The sidecars are put (If-None-Match: *,
 *   never replacing) before that copy, so the archive never stands there
 *   without them; a failed publish deletes them again.
 * - A failed or cancelled upload is aborted (AbortMultipartUpload), and any
 *   upload of ours still listed for the key afterwards is aborted too: no
 *   billed orphan parts.
 * - Custom endpoints get path-style addressing and checksums only when
 *   required (most S3-compatible stores reject the SDK's default CRC32
 *   trailers); AWS keeps the SDK's default integrity checksums.
 * - A stalled connection fails after an idle timeout and is retried.
 */
import { Writable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { BackupError, DestinationError } from '../errors.js';
import type { Logger } from '../log/logger-types.js';
import { SIDECAR_SUFFIXES, type CommitInfo, type Committed, type ArchiveWrite, type SidecarFile } from './store.js';
import { describeS3Error, type S3ErrorContext } from './s3-errors.js';
import { MAX_PART_SIZE } from './part-size.js';
import { MultipartUpload, type UploadedObject } from './s3-multipart.js';

export interface S3Target {
  bucket: string;
  /** Key prefix, used as given (`host1/` for a folder-like prefix). */
  prefix: string;
  region?: string;
  endpoint?: string;
  storageClass?: string;
  /** Idle socket timeout; a stalled connection fails after this and is retried. */
  timeoutSeconds?: number;
  /** Attempts per request (first try included). */
  maxAttempts?: number;
}

export const DEFAULT_S3_TIMEOUT_SECONDS = 30;
const DEFAULT_MAX_ATTEMPTS = 5;
const GiB = 1024 * 1024 * 1024;

export function createS3Client(target: S3Target): S3Client {
  const custom = target.endpoint !== undefined;
  return new S3Client({
    // A custom store rarely cares about the region, but SigV4 needs one.
    region: target.region ?? (custom ? 'us-east-1' : undefined),
    endpoint: target.endpoint,
    forcePathStyle: custom,
    ...(custom ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    maxAttempts: target.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 10_000,
      socketTimeout: (target.timeoutSeconds ?? DEFAULT_S3_TIMEOUT_SECONDS) * 1000,
    }),
  });
}

function contentTypeFor(fileName: string): string {
  if (fileName.endsWith('.zip')) return 'application/zip';
  if (fileName.endsWith('.tar.gz')) return 'application/gzip';
  if (fileName.endsWith('.tar.bz2')) return 'application/x-bzip2';
  if (fileName.endsWith('.json')) return 'application/json';
  return 'text/plain; charset=utf-8';
}

/** `bucket/key` for CopySource, each key segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Clean-up requests: tried again after a failure only, with a short bounded
 * backoff (0.2 s, 0.4 s); the clean-up client itself gives up fast.
 */
async function withRetries<T>(request: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
}

export function s3Label(target: S3Target): string {
  return `s3://${target.bucket}/${target.prefix}`;
}

/** HeadBucket: the bucket exists, and these credentials may use it. */
export async function checkBucket(client: S3Client, target: S3Target, signal?: AbortSignal): Promise<void> {
  const ctx = { action: 's3:ListBucket', bucket: target.bucket, region: target.region, endpoint: target.endpoint, signal };
  try {
    await client.send(new HeadBucketCommand({ Bucket: target.bucket }), { abortSignal: signal });
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status !== 403 && status !== 404) throw describeS3Error(error, ctx);
    // A HEAD answer has no body: a 403 does not say whether the secret is wrong or the policy
    // says no, and a 404 may come from something that is not S3 at all. The same question as a
    // GET (same permission, s3:ListBucket) carries the error code.
    try {
      await client.send(new ListObjectsV2Command({ Bucket: target.bucket, MaxKeys: 0 }), { abortSignal: signal });
    } catch (detailed) {
      const code = (detailed as { name?: string }).name;
      if (status === 404 && code !== 'NoSuchBucket') {
        throw new BackupError(
          `${target.endpoint ?? 'The endpoint'} answered 404 without an S3 error for bucket "${target.bucket}": is it an S3 endpoint (and the bucket name right)?`,
          { code: 'S3_NOT_S3', cause: detailed },
        );
      }
      throw describeS3Error(detailed, ctx);
    }
    throw describeS3Error(error, ctx);
  }
}

export interface S3DestinationOptions {
  client: S3Client;
  target: S3Target;
  logger: Logger;
  partSize: number;
  queueSize?: number;
  /** Metadata stored with every object (tool version, ...). */
  metadata?: Record<string, string>;
  /** Upload progress: bytes acknowledged by S3 so far. */
  onProgress?: (uploadedBytes: number) => void;
  /** Objects above this size get their metadata by a multipart copy (S3's CopyObject limit is 5 GiB). */
  multipartCopyThreshold?: number;
  /** How long abort() waits for a CreateMultipartUpload still in flight to answer (its id is needed to abort it). */
  abortWaitMs?: number;
  /** Ctrl-C: every request is cancelled with it (clean-up requests excepted). */
  signal?: AbortSignal;
}

/**
 * Parts uploaded at once: 2, each in a buffer of its own, plus the one being
 * filled. With lib-storage (which copied each part), 3 parts of 8 MiB took a
 * 1.1 GiB upload to 189 MB of RSS (test:large), 2 to 171 MB at the same wall
 * time against Ceph (measured, 2026-11-26); against a distant AWS region
 * more parts in flight could help: `queueSize` is the knob.
 */
const PARTS_IN_FLIGHT = 2;

/** The destination owns `options.client`: close() destroys it. */
export class S3Destination implements ArchiveWrite {
  readonly kind = 's3' as const;
  readonly label: string;
  private readonly client: S3Client;
  private readonly target: S3Target;
  private fileName: string | undefined;
  /** Final key. */
  private key: string | undefined;
  /** Key the upload goes to until it is checked. */
  private partialKey: string | undefined;
  private upload: MultipartUpload | undefined;
  private startedAt = new Date();
  private bytesSent = 0;
  private finished = false;
  private published = false;
  private aborting = false;
  /** Versions of NAME.EXT.partial we created (versioned buckets), to delete exactly those. */
  private readonly partialVersions = new Set<string>();
  private cleanup: S3Client | undefined;
  /** Sidecar keys this run wrote, deleted again unless the archive is published. */
  private readonly sidecarKeys: string[] = [];

  constructor(private readonly options: S3DestinationOptions) {
    this.client = options.client;
    this.target = options.target;
    this.label = s3Label(options.target);
  }

  private ctx(action: string, key = this.key): S3ErrorContext {
    return { action, bucket: this.target.bucket, key, region: this.target.region, endpoint: this.target.endpoint, signal: this.options.signal };
  }

  private send<T = unknown>(command: object): Promise<T> {
    return this.client.send(command as never, { abortSignal: this.options.signal }) as Promise<T>;
  }

  /**
   * A separate client for removing leftovers after a failure or Ctrl-C: not
   * cancelled by the signal, and quick to give up when the network is down.
   */
  private cleanupClient(): S3Client {
    this.cleanup ??= createS3Client({ ...this.target, maxAttempts: 2, timeoutSeconds: 10 });
    return this.cleanup;
  }

  private keyFor(fileName: string): string {
    return `${this.target.prefix}${fileName}`;
  }

  /** Where the archive is (once published), as an s3:// URL. */
  private location_(fileName = this.fileName ?? ''): string {
    return `s3://${this.target.bucket}/${this.keyFor(fileName)}`;
  }

  private async exists(key: string, client?: S3Client): Promise<boolean> {
    try {
      if (client) await client.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: key }));
      else await this.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw describeS3Error(error, this.ctx('s3:GetObject (HeadObject)', key));
    }
  }

  private storageClass(): StorageClass | undefined {
    const wanted = this.target.storageClass;
    return wanted && wanted !== 'STANDARD' ? (wanted as StorageClass) : undefined;
  }

  /**
   * Claims the name: the final key must not exist, and an empty
   * `NAME.EXT.partial` is created with If-None-Match: * (S3 and Ceph refuse
   * it with 412 when another run holds the name; a store that ignores the
   * header falls back to the HeadObject check). The marker carries the
   * storage class, so a class the store does not have fails here, before
   * anything is uploaded.
   */
  async reserve(fileName: string): Promise<boolean> {
    const key = this.keyFor(fileName);
    const partialKey = `${key}.partial`;
    for (const taken of [key, partialKey, ...SIDECAR_SUFFIXES.map((suffix) => key + suffix)]) {
      if (await this.exists(taken)) return false;
    }
    try {
      const put = await this.send<{ VersionId?: string }>(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: partialKey,
          Body: '',
          ContentLength: 0,
          IfNoneMatch: '*',
          ContentType: contentTypeFor(fileName),
          StorageClass: this.storageClass(),
          Metadata: this.options.metadata,
        }),
      );
      if (put.VersionId) this.partialVersions.add(put.VersionId);
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) return false;
      if (this.storageClass() && (e.name === 'InvalidStorageClass' || e.name === 'InvalidArgument')) {
        throw new BackupError(
          `The storage class ${this.target.storageClass} is not available in bucket "${this.target.bucket}"${this.target.endpoint ? ` at ${this.target.endpoint}` : ''} (${e.name}); use STANDARD or a class this store has.`,
          { code: 'S3_BAD_STORAGE_CLASS', cause: error },
        );
      }
      throw describeS3Error(error, this.ctx('s3:PutObject', partialKey));
    }
    this.fileName = fileName;
    this.key = key;
    this.partialKey = partialKey;
    return true;
  }

  location(): string {
    if (!this.fileName) throw new Error('S3Destination.location() before reserve()');
    return this.location_();
  }

  async open(): Promise<Writable> {
    const key = this.partialKey;
    const fileName = this.fileName;
    if (!key || !fileName) throw new Error('S3Destination.open() before reserve()');
    this.startedAt = new Date();
    const upload = new MultipartUpload({
      client: this.client,
      bucket: this.target.bucket,
      key,
      partSize: this.options.partSize,
      partsInFlight: this.options.queueSize ?? PARTS_IN_FLIGHT,
      contentType: contentTypeFor(fileName),
      metadata: this.options.metadata,
      onProgress: this.options.onProgress,
      signal: this.options.signal,
    });
    this.upload = upload;

    const destination = this;
    let ending = false;
    const sink = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        destination.bytesSent += chunk.length;
        // A failed upload has already destroyed the sink (onFailure below).
        upload.write(chunk).then(
          () => callback(),
          (error: unknown) => callback(sink.destroyed ? undefined : (error as Error)),
        );
      },
      final(callback) {
        ending = true;
        destination.settleUpload(upload.finish()).then(
          () => callback(),
          (error: unknown) => callback(error as Error),
        );
      },
      destroy(error, callback) {
        // The archive will not be complete: no more parts (abort() removes those on the server).
        if (!destination.finished) void upload.abort();
        callback(error);
      },
    });
    // A failed upload stops taking data: fail the sink at once instead of waiting for the next
    // write. Once ending, final() decides (the completion answer may only have been lost).
    upload.onFailure = (error: unknown) => {
      if (ending || sink.destroyed) return;
      // Cancelled on purpose (abort()): close quietly; else fail the sink with the reason.
      sink.destroy(this.aborting ? undefined : describeS3Error(error, this.ctx('s3:PutObject (UploadPart)', key)));
    };
    return sink;
  }

  /**
   * Waits for the upload. If it failed, the completion answer may just have
   * been lost: when the object is there with every byte we sent, it is done.
   */
  private async settleUpload(done: Promise<UploadedObject>): Promise<void> {
    try {
      const result = await done;
      if (result?.VersionId) this.partialVersions.add(result.VersionId);
    } catch (error) {
      const head = await this.head(this.partialKey!).catch(() => undefined);
      if (!head || head.ContentLength !== this.bytesSent || (head.LastModified && head.LastModified.getTime() < this.startedAt.getTime() - 300_000)) {
        throw describeS3Error(error, this.ctx('s3:PutObject (CompleteMultipartUpload)', this.partialKey));
      }
      this.options.logger.warn(`S3 reported ${String((error as Error).name)} on completing ${this.partialKey}, but the object is there with all ${this.bytesSent} bytes: treating the upload as complete.`);
    }
    this.finished = true;
  }

  private head(key: string): Promise<{ ContentLength?: number; LastModified?: Date; Metadata?: Record<string, string>; VersionId?: string }> {
    return this.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: key }));
  }

  /** The upload finished and the partial object has every byte that was sent. */
  async verify(info: CommitInfo): Promise<void> {
    const { partialKey } = this;
    if (!partialKey || !this.finished) throw new Error('S3Destination.verify() before the upload finished');
    let head: { ContentLength?: number; VersionId?: string };
    try {
      head = await this.head(partialKey);
    } catch (error) {
      throw describeS3Error(error, this.ctx('s3:GetObject (HeadObject)', partialKey));
    }
    if (head.VersionId) this.partialVersions.add(head.VersionId);
    if (head.ContentLength !== info.bytes) {
      throw new DestinationError(
        `Verification failed: s3://${this.target.bucket}/${partialKey} has ${head.ContentLength} bytes, ${info.bytes} were sent; nothing was published.`,
        { code: 'VERIFY_FAILED' },
      );
    }
  }

  async publish(info: CommitInfo): Promise<Committed> {
    const { key, fileName } = this;
    if (!key || !fileName || !this.finished) throw new Error('S3Destination.publish() before the upload finished');
    if (await this.exists(key)) {
      throw new DestinationError(`${this.location_()} was created by someone else during the backup; it was not overwritten.`, {
        code: 'NAME_TAKEN',
      });
    }
    try {
      await this.publishCopy(info);
    } catch (error) {
      throw describeS3Error(error, this.ctx('s3:PutObject (CopyObject)'));
    }
    // The final key now holds a copy of the checked partial: it stays, whatever follows.
    this.published = true;
    try {
      const published = await this.head(key);
      if (published.ContentLength !== info.bytes) {
        this.options.logger.error(`${this.location_()} has ${published.ContentLength} bytes after the copy, ${info.bytes} expected.`);
      } else if (published.Metadata?.sha256 !== info.sha256) {
        this.options.logger.warn(`${this.location_()}: this store did not keep the sha256 metadata; the .sha256 sidecar has it.`);
      }
    } catch (error) {
      this.options.logger.warn(`Could not re-check ${this.location_()} after publishing: ${describeS3Error(error, this.ctx('s3:GetObject (HeadObject)')).message}`);
    }
    await this.deletePartial(this.client);
    return { fileName, location: this.location_() };
  }

  /** Server-side copy of the checked partial to the final key, with the SHA-256 as metadata and the storage class. */
  private async publishCopy(info: CommitInfo): Promise<void> {
    const key = this.key!;
    const storageClass = this.storageClass();
    const common = {
      Bucket: this.target.bucket,
      Key: key,
      ContentType: contentTypeFor(this.fileName!),
      Metadata: { ...this.options.metadata, sha256: info.sha256 },
      StorageClass: storageClass,
    };
    const source = copySource(this.target.bucket, this.partialKey!);
    if (info.bytes <= (this.options.multipartCopyThreshold ?? 5 * GiB)) {
      await this.send(new CopyObjectCommand({ ...common, CopySource: source, MetadataDirective: 'REPLACE' }));
      return;
    }
    // CopyObject stops at 5 GiB: copy in ranges.
    const { UploadId } = await this.send<{ UploadId?: string }>(new CreateMultipartUploadCommand(common));
    try {
      const partSize = Math.min(MAX_PART_SIZE, Math.max(this.options.multipartCopyThreshold ?? GiB, Math.ceil(info.bytes / 9_000)));
      const parts: Array<{ ETag?: string; PartNumber: number }> = [];
      for (let start = 0, n = 1; start < info.bytes; start += partSize, n++) {
        const end = Math.min(start + partSize, info.bytes) - 1;
        const result = await this.send<{ CopyPartResult?: { ETag?: string } }>(
          new UploadPartCopyCommand({ Bucket: this.target.bucket, Key: key, UploadId, PartNumber: n, CopySource: source, CopySourceRange: `bytes=${start}-${end}` }),
        );
        parts.push({ ETag: result.CopyPartResult?.ETag, PartNumber: n });
      }
      await this.send(new CompleteMultipartUploadCommand({ Bucket: this.target.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      await this.cleanupClient().send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: key, UploadId })).catch(() => undefined);
      throw error;
    }
  }

  /** Puts the sidecars before the archive is published; If-None-Match: * so an existing object is never replaced. */
  async writeSidecars(files: readonly SidecarFile[]): Promise<void> {
    for (const file of files) {
      const key = this.keyFor(file.name);
      try {
        // Sidecars stay in STANDARD: small, and readable without a restore even when the archive is in Glacier.
        await this.send(
          new PutObjectCommand({
            Bucket: this.target.bucket,
            Key: key,
            Body: file.content,
            IfNoneMatch: '*',
            ContentType: contentTypeFor(file.name),
            Metadata: this.options.metadata,
          }),
        );
        this.sidecarKeys.push(key);
      } catch (error) {
        const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) {
          throw new DestinationError(`s3://${this.target.bucket}/${key} appeared during the backup; it was not replaced, and the archive was not published.`, {
            code: 'NAME_TAKEN',
            cause: error,
          });
        }
        throw describeS3Error(error, this.ctx('s3:PutObject', key));
      }
    }
  }

  /**
   * Removes NAME.EXT.partial. On a versioned bucket a plain delete only adds
   * a delete marker and keeps the upload as a billed old version, so the
   * versions we created are deleted one by one (s3:DeleteObjectVersion);
   * without that permission, a plain delete and a warning.
   */
  private async deletePartial(client: S3Client): Promise<void> {
    const Key = this.partialKey!;
    const Bucket = this.target.bucket;
    try {
      if (this.partialVersions.size === 0) {
        await client.send(new DeleteObjectCommand({ Bucket, Key }));
        return;
      }
      for (const VersionId of this.partialVersions) await client.send(new DeleteObjectCommand({ Bucket, Key, VersionId }));
    } catch (error) {
      const described = describeS3Error(error, this.ctx('s3:DeleteObjectVersion', Key));
      if (this.partialVersions.size > 0 && described.code === 'S3_ACCESS_DENIED') {
        await client.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => undefined);
        this.options.logger.warn(`${described.message} Old versions of s3://${Bucket}/${Key} stay until a lifecycle rule expires them.`);
        return;
      }
      this.options.logger.error(`Could not delete s3://${Bucket}/${Key}: ${described.message}`);
    }
  }

  async abort(): Promise<void> {
    if (this.published || !this.partialKey) return;
    const cleanup = this.cleanupClient();
    for (const Key of this.sidecarKeys.splice(0)) {
      await withRetries(() => cleanup.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key }))).catch((error: unknown) =>
        this.options.logger.error(`Could not delete s3://${this.target.bucket}/${Key}: ${describeS3Error(error, this.ctx('s3:DeleteObject', Key)).message}`),
      );
    }
    if (!this.upload) {
      // Only the name was claimed: remove the empty marker.
      await this.deletePartial(cleanup);
      this.key = this.partialKey = this.fileName = undefined;
      return;
    }
    if (this.finished) {
      // Uploaded but not published: the partial object goes.
      await this.deletePartial(cleanup);
      return;
    }
    // Stop the upload now: no new parts, the parts in flight cancelled (a part the server was
    // already storing and that lands after the abort below is refused: NoSuchUpload).
    this.aborting = true;
    await this.upload.abort();
    // A CreateMultipartUpload in flight answers with the id to abort: wait for that answer
    // (bounded), instead of sleeping a fixed time and hoping it came.
    const uploadId = await this.pendingUploadId();
    if (uploadId) {
      await withRetries(() => cleanup.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: this.partialKey, UploadId: uploadId }))).catch(
        () => undefined, // the listing below reports what is left
      );
    }
    await this.abortLeftoverUploads(cleanup);
    // The empty marker, or an upload that completed just as it was cancelled.
    if (await this.exists(this.partialKey, cleanup).catch(() => false)) await this.deletePartial(cleanup);
  }

  /** The multipart upload's id once its CreateMultipartUpload has answered (waits at most abortWaitMs). */
  private async pendingUploadId(): Promise<string | undefined> {
    const upload = this.upload!;
    if (upload.uploadId) return upload.uploadId;
    const creating = upload.creating;
    if (!creating) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.options.abortWaitMs ?? 15_000);
    });
    try {
      return await Promise.race([creating.then((r) => r.UploadId, () => undefined), gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    // Whatever was not published goes first (abort is a no-op after publish).
    await this.abort().catch((error: unknown) => this.options.logger.error(`could not clean up ${this.label}: ${String(error)}`));
    this.client.destroy();
    this.cleanup?.destroy();
    this.cleanup = undefined;
  }

  /** Aborts every multipart upload of ours still open for this key (the safety net: no billed orphan parts). */
  private async abortLeftoverUploads(client: S3Client): Promise<void> {
    const key = this.partialKey!;
    try {
      const listed = await withRetries(() => client.send(new ListMultipartUploadsCommand({ Bucket: this.target.bucket, Prefix: key })));
      for (const upload of listed.Uploads ?? []) {
        const ours = upload.UploadId === this.upload?.uploadId || (upload.Initiated && upload.Initiated.getTime() >= this.startedAt.getTime() - 300_000);
        if (upload.Key !== key || !upload.UploadId || !ours) continue;
        await withRetries(() => client.send(new AbortMultipartUploadCommand({ Bucket: this.target.bucket, Key: key, UploadId: upload.UploadId })));
        this.options.logger.info(`aborted multipart upload ${upload.UploadId} of s3://${this.target.bucket}/${key}`);
      }
    } catch (error) {
      this.options.logger.error(
        `Could not check for unfinished multipart uploads of ${this.location_()}: ${describeS3Error(error, this.ctx('s3:ListBucketMultipartUploads')).message} A bucket lifecycle rule (README) removes them.`,
      );
    }
  }
}
