/**
 * A streamed S3 upload whose parts live in a fixed set of buffers, reused
 * from part to part: `partsInFlight` being sent and one being filled. The
 * incoming chunks are copied into the part being filled at once (one copy
 * per byte, as lib-storage's Buffer.concat made), so no chunk is held for a
 * whole part, and no 8 MiB part becomes garbage after it is sent: memory is
 * (partsInFlight + 1) x partSize, flat, instead of that plus the chunks
 * waiting for the next part, a concatenated copy of each part and the parts
 * already sent that V8 frees only when its external-memory threshold
 * (~64 MB) triggers a full collection (measured: issue 11, bench/rss-probe.mjs).
 *
 * Same requests and the same outcome as lib-storage's `Upload` (which this
 * replaced): an archive smaller than one part is one PutObject; otherwise
 * CreateMultipartUpload once the first part is full, UploadPart for each
 * part (the last one may be shorter), CompleteMultipartUpload with the
 * parts in order. Every request goes through the client's own retries, with
 * the same buffer. With `requestChecksumCalculation: WHEN_SUPPORTED` (AWS)
 * the upload is created with CRC32 and each part's checksum is passed on to
 * the completion, as lib-storage does.
 *
 * A failed part stops the upload: the parts still in flight are cancelled
 * and `onFailure` is called once. abort() does the same on purpose. Neither
 * removes the parts already on the server: the owner (S3Destination.abort)
 * aborts the multipart upload, whose id `uploadId` / `creating` give.
 */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { MAX_PARTS } from './part-size.js';

export interface MultipartUploadOptions {
  client: S3Client;
  bucket: string;
  key: string;
  partSize: number;
  /** Parts sent at once (each in a buffer of its own). */
  partsInFlight: number;
  contentType: string;
  metadata?: Record<string, string>;
  /** Bytes S3 has acknowledged so far (after each part, or the one PutObject). */
  onProgress?: (uploadedBytes: number) => void;
  /** Ctrl-C: the parts (and the one PutObject) in flight are cancelled with it. */
  signal?: AbortSignal;
}

/** What S3 answered for the finished object. */
export interface UploadedObject {
  VersionId?: string;
}

export class MultipartUpload {
  /** The multipart upload's id, once CreateMultipartUpload answered. */
  uploadId: string | undefined;
  /** CreateMultipartUpload, once sent (not cancelled by abort(): its id is needed to abort the upload). */
  creating: Promise<{ UploadId?: string }> | undefined;
  /** Called once, with the first error (an AbortError after abort()). */
  onFailure: ((error: unknown) => void) | undefined;

  private readonly free: Buffer[] = [];
  private current: Buffer | undefined;
  private filled = 0;
  private nextPart = 1;
  private uploadedBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly parts: CompletedPart[] = [];
  private failure: unknown;
  /** Cancels the parts in flight when the upload fails or is aborted. */
  private readonly stop = new AbortController();
  private readonly requestSignal: AbortSignal;
  private checksums: boolean | undefined;

  constructor(private readonly options: MultipartUploadOptions) {
    this.requestSignal = options.signal ? AbortSignal.any([this.stop.signal, options.signal]) : this.stop.signal;
  }

  /** Copies `chunk` into the part buffers; resolves when it is all taken (waits while every buffer is busy). */
  async write(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; ) {
      this.throwIfFailed();
      // A full part goes only once more data shows it is not the last one (the last one may be a single PutObject).
      if (this.current && this.filled === this.options.partSize) await this.sendPart();
      this.current ??= this.free.pop() ?? Buffer.allocUnsafeSlow(this.options.partSize);
      const copied = chunk.copy(this.current, this.filled, at);
      this.filled += copied;
      at += copied;
    }
  }

  /** Sends what is left and completes the upload. */
  async finish(): Promise<UploadedObject> {
    this.throwIfFailed();
    if (this.nextPart === 1) {
      // Less than one part in all: one PutObject, as lib-storage does.
      const body = this.current ? this.current.subarray(0, this.filled) : Buffer.alloc(0);
      const result = await this.guard(
        this.options.client.send(
          new PutObjectCommand({
            Bucket: this.options.bucket,
            Key: this.options.key,
            Body: body,
            ContentType: this.options.contentType,
            Metadata: this.options.metadata,
          }),
          { abortSignal: this.requestSignal },
        ),
      );
      this.release();
      this.options.onProgress?.(body.length);
      return result;
    }
    if (this.filled > 0) await this.sendPart();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.throwIfFailed();
    this.release();
    const parts = [...this.parts].sort((a, b) => a.PartNumber! - b.PartNumber!);
    return this.guard(
      this.options.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.options.bucket,
          Key: this.options.key,
          UploadId: this.uploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  }

  /** Stops: no new part, the parts in flight cancelled; resolves once none is left in flight. */
  async abort(): Promise<void> {
    this.fail(Object.assign(new Error('Upload aborted.'), { name: 'AbortError' }));
    await Promise.allSettled([...this.inFlight]);
    this.release();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.stop.abort();
    this.onFailure?.(error);
  }

  /** A request's failure is the upload's. */
  private guard<T>(request: Promise<T>): Promise<T> {
    return request.catch((error: unknown) => {
      this.fail(error);
      throw error;
    });
  }

  /** The buffers go (a finished or failed upload keeps none). */
  private release(): void {
    this.free.length = 0;
    this.current = undefined;
    this.filled = 0;
  }

  private async create(): Promise<string> {
    if (this.uploadId) return this.uploadId;
    if (!this.creating) {
      // As lib-storage: AWS (checksums WHEN_SUPPORTED) gets a CRC32 per part, listed again at the completion.
      this.checksums = (await this.options.client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
      this.creating ??= this.options.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.options.bucket,
          Key: this.options.key,
          ContentType: this.options.contentType,
          Metadata: this.options.metadata,
          ...(this.checksums ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
        }),
      );
    }
    const { UploadId } = await this.guard(this.creating);
    this.throwIfFailed();
    if (!UploadId) throw new Error('CreateMultipartUpload answered without an UploadId');
    this.uploadId = UploadId;
    return UploadId;
  }

  /** Sends the current buffer as the next part once fewer than partsInFlight are in flight. */
  private async sendPart(): Promise<void> {
    while (this.inFlight.size >= this.options.partsInFlight) {
      await Promise.race(this.inFlight);
      this.throwIfFailed();
    }
    const uploadId = await this.create();
    const buffer = this.current!;
    const length = this.filled;
    const partNumber = this.nextPart++;
    this.current = undefined;
    this.filled = 0;
    if (partNumber > MAX_PARTS) {
      const error = new Error(`Exceeded ${MAX_PARTS} parts in multipart upload to Bucket: ${this.options.bucket} Key: ${this.options.key}.`);
      this.fail(error);
      throw error;
    }
    const request: Promise<void> = this.options.client
      .send(new UploadPartCommand({ Bucket: this.options.bucket, Key: this.options.key, UploadId: uploadId, PartNumber: partNumber, Body: buffer.subarray(0, length) }), {
        abortSignal: this.requestSignal,
      })
      .then(
        (result) => {
          if (!result.ETag) throw new Error(`Part ${partNumber} is missing ETag in UploadPart response. Missing Bucket CORS configuration for ETag header?`);
          this.parts.push({
            PartNumber: partNumber,
            ETag: result.ETag,
            ...(result.ChecksumCRC32 && { ChecksumCRC32: result.ChecksumCRC32 }),
            ...(result.ChecksumCRC32C && { ChecksumCRC32C: result.ChecksumCRC32C }),
            ...(result.ChecksumCRC64NVME && { ChecksumCRC64NVME: result.ChecksumCRC64NVME }),
            ...(result.ChecksumSHA1 && { ChecksumSHA1: result.ChecksumSHA1 }),
            ...(result.ChecksumSHA256 && { ChecksumSHA256: result.ChecksumSHA256 }),
          });
          this.uploadedBytes += length;
          // S3 has every byte of it: the buffer takes the next part.
          if (this.failure === undefined) this.free.push(buffer);
          this.options.onProgress?.(this.uploadedBytes);
        },
      )
      .catch((error: unknown) => this.fail(error))
      .finally(() => this.inFlight.delete(request));
    this.inFlight.add(request);
  }
}
