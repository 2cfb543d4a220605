/**
 * gzip on every core, pigz-style, in a standard single-member .gz file:
 * one gzip header, the raw deflate stream of BlockDeflater (blocks
 * compressed in parallel with the previous 32 KiB as dictionary), one
 * trailer (CRC-32 of all input, length mod 2^32). Any gzip reader sees an
 * ordinary member. Backpressure comes from the consumer.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { BlockDeflater, type BlockDeflateOptions } from './block-deflate.js';

/** ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3 (Unix), as `gzip -n` writes. */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);

export type ParallelGzipOptions = BlockDeflateOptions;

export class ParallelGzip extends Transform {
  private readonly deflater: BlockDeflater;

  constructor(options: ParallelGzipOptions = {}) {
    super({ highWaterMark: 1024 * 1024 });
    this.deflater = new BlockDeflater(options);
    this.push(HEADER);
  }

  private pushAll(outputs: Buffer[]): void {
    for (const output of outputs) this.push(output);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.deflater.write(chunk).then((outputs) => {
      this.pushAll(outputs);
      callback();
    }, callback);
  }

  override _flush(callback: TransformCallback): void {
    this.deflater.end().then((outputs) => {
      this.pushAll(outputs);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.deflater.crc >>> 0, 0);
      trailer.writeUInt32LE(this.deflater.size % 2 ** 32, 4);
      callback(null, trailer);
    }, callback);
  }
}
