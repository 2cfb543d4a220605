/**
 * The read side of an S3 prefix (see backup-store.ts): list, stream an
 * object (one GET, straight into the reader: no temporary file), ranged
 * reads pinned to one version by ETag, small sidecar writes, deletes.
 * With s3.ts, the only module that imports the AWS SDK.
 */
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BackupError } from '../errors.js';
import type { ArchiveWrite, CheckOptions, RangeReader, Store, StoredFile, WriteOptions } from './store.js';
import { partSizeFor } from './part-size.js';
import { describeS3Error } from './s3-errors.js';
import { S3Destination, checkBucket, createS3Client, type S3Target } from './s3.js';

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export class S3Store implements Store {
  readonly kind = 's3' as const;
  readonly label: string;

  constructor(
    private readonly client: S3Client,
    private readonly target: S3Target,
    readonly name = 's3',
  ) {
    this.label = `s3://${target.bucket}/${target.prefix}`;
  }

  /** The bucket exists and these credentials can reach it (s3.ts checkBucket) and, unless dryRun, write to it. */
  async check(options: CheckOptions): Promise<void> {
    await checkBucket(this.client, this.target, options.signal);
    if (options.dryRun) return;
    // Write permission, with nothing to see or pay for: a multipart upload begun and aborted on a
    // probe key needs s3:PutObject and s3:AbortMultipartUpload, as a backup does, and stores no bytes.
    // The key is ours alone, so every upload listed under it afterwards is one of ours (a retried
    // CreateMultipartUpload whose first answer was lost makes two) and is aborted.
    const Key = this.key(`.backup-probe-${randomBytes(6).toString('hex')}`);
    const Bucket = this.target.bucket;
    let failure: BackupError | undefined;
    let UploadId: string | undefined;
    try {
      ({ UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key }), { abortSignal: options.signal }));
    } catch (error) {
      failure = this.fail(error, options.signal, 's3:PutObject (CreateMultipartUpload)');
    }
    // Not cancelled by Ctrl-C: no probe upload may be left behind (the client's timeouts bound it).
    if (UploadId) {
      try {
        await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
      } catch (error) {
        failure = this.fail(error, undefined, 's3:AbortMultipartUpload');
      }
    }
    // Any other upload under the probe key is a retried create's whose answer was lost: abort it too.
    // A store that cannot list uploads does not fail the check for that (a lifecycle rule removes them).
    try {
      const listed = await this.client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: Key }));
      for (const upload of listed.Uploads ?? []) {
        if (upload.Key === Key && upload.UploadId && upload.UploadId !== UploadId) {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: upload.UploadId }));
        }
      }
    } catch {
      // Best effort, see above.
    }
    if (failure) throw failure;
  }

  /** A write has its own client (it destroys it when done) and a cleanup client that Ctrl-C does not cancel. */
  beginWrite(options: WriteOptions): ArchiveWrite {
    return new S3Destination({
      client: createS3Client(this.target),
      target: this.target,
      logger: options.logger,
      partSize: partSizeFor(options.expectedBytes),
      metadata: options.metadata,
      onProgress: options.onProgress,
      signal: options.signal,
    });
  }

  private key(name: string): string {
    return `${this.target.prefix}${name}`;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  locationOf(name: string): string {
    return `s3://${this.target.bucket}/${this.key(name)}`;
  }

  /** `signal`: the command's own, so that only its abort reads as a cancellation. */
  private fail(error: unknown, signal: AbortSignal | undefined, action: string, name?: string): BackupError {
    return describeS3Error(error, {
      action,
      signal,
      bucket: this.target.bucket,
      key: name === undefined ? undefined : this.key(name),
      region: this.target.region,
      endpoint: this.target.endpoint,
    });
  }

  async stat(name: string, signal?: AbortSignal): Promise<StoredFile | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: this.key(name) }), { abortSignal: signal });
      return { name, size: head.ContentLength ?? 0, modified: head.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.fail(error, signal, 's3:GetObject', name);
    }
  }

  async list(signal?: AbortSignal): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.target.bucket, Prefix: this.target.prefix, Delimiter: '/', ContinuationToken: token }),
          { abortSignal: signal },
        );
      } catch (error) {
        throw this.fail(error, signal, 's3:ListBucket');
      }
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.length <= this.target.prefix.length) continue;
        files.push({ name: object.Key.slice(this.target.prefix.length), size: object.Size ?? 0, modified: object.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return files;
  }

  async openRead(name: string, signal?: AbortSignal, version?: string): Promise<Readable> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.target.bucket, Key: this.key(name), IfMatch: version }), {
        abortSignal: signal,
      });
      if (!(answer.Body instanceof Readable)) throw new BackupError(`GET ${this.locationOf(name)} returned no stream`, { code: 'S3_NO_BODY' });
      return answer.Body;
    } catch (error) {
      if (isNotFound(error)) throw new BackupError(`${this.locationOf(name)} does not exist.`, { code: 'NOT_FOUND', cause: error });
      throw this.fail(error, signal, 's3:GetObject', name);
    }
  }

  async openRanges(name: string, signal?: AbortSignal): Promise<RangeReader> {
    let head;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: this.target.bucket, Key: this.key(name) }), { abortSignal: signal });
    } catch (error) {
      if (isNotFound(error)) throw new BackupError(`${this.locationOf(name)} does not exist.`, { code: 'NOT_FOUND', cause: error });
      throw this.fail(error, signal, 's3:GetObject', name);
    }
    const etag = head.ETag;
    return {
      size: head.ContentLength ?? 0,
      version: etag,
      read: async (start, length) => {
        if (length === 0) return Buffer.alloc(0);
        try {
          const answer = await this.client.send(
            new GetObjectCommand({ Bucket: this.target.bucket, Key: this.key(name), Range: `bytes=${start}-${start + length - 1}`, IfMatch: etag }),
            { abortSignal: signal },
          );
          return Buffer.from(await answer.Body!.transformToByteArray());
        } catch (error) {
          throw this.fail(error, signal, 's3:GetObject', name);
        }
      },
      close: async () => undefined,
    };
  }

  async readText(name: string, maxBytes: number, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.target.bucket, Key: this.key(name) }), { abortSignal: signal });
      if ((answer.ContentLength ?? 0) > maxBytes) {
        (answer.Body as Readable | undefined)?.destroy();
        throw new BackupError(`${this.locationOf(name)} is ${answer.ContentLength} bytes, more than a sidecar file can be (${maxBytes}).`, {
          code: 'SIDECAR_TOO_LARGE',
        });
      }
      return await answer.Body!.transformToString('utf8');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      if (error instanceof BackupError) throw error;
      throw this.fail(error, signal, 's3:GetObject', name);
    }
  }

  async writeText(name: string, content: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.target.bucket,
          Key: this.key(name),
          Body: content,
          ContentType: name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8',
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw this.fail(error, signal, 's3:PutObject', name);
    }
  }

  async remove(name: string, signal?: AbortSignal): Promise<void> {
    try {
      // On a versioned bucket this adds a delete marker; older versions stay until a lifecycle rule expires them (README).
      await this.client.send(new DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.key(name) }), { abortSignal: signal });
    } catch (error) {
      if (isNotFound(error)) return;
      throw this.fail(error, signal, 's3:DeleteObject', name);
    }
  }
}
