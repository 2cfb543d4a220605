/**
 * A pass-through stream that computes the SHA-256 and length of what flows
 * through it: the archive is hashed in the same pass that writes it.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class HashStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private hex: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    callback();
  }

  /** The hex digest; only after the stream has finished. */
  digest(): string {
    if (this.hex === undefined) throw new Error('HashStream.digest() called before the stream finished');
    return this.hex;
  }
}

