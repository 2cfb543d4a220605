/**
 * gzip on every core, pigz-style, in a standard single-member .gz file.
 *
 * The input is cut into blocks (1 MiB); each block is deflated on libuv's
 * thread pool with the previous 32 KiB of input as its dictionary (so the
 * ratio is that of one long stream) and ends with a sync flush (a byte
 * boundary, no "last block" bit), except the last, which finishes the
 * stream. The raw deflate outputs are written in order between one gzip
 * header and one trailer (CRC-32 of all input via zlib.crc32, length mod
 * 2^32). Any gzip reader sees a single ordinary member.
 *
 * At most `jobs` blocks are in flight, so memory is about
 * jobs x (block + its output); backpressure comes from the consumer.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const deflateRaw = promisify(zlib.deflateRaw) as (buffer: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

const WINDOW = 32 * 1024;
export const GZIP_BLOCK_SIZE = 1024 * 1024;

/** ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3 (Unix), as `gzip -n` writes. */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);

export interface ParallelGzipOptions {
  /** Blocks compressed at once (default 3: two cores kept busy while the next block fills). */
  jobs?: number;
  level?: number;
  blockSize?: number;
}

export class ParallelGzip extends Transform {
  private readonly jobs: number;
  private readonly level: number;
  private readonly blockSize: number;
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  /** Compressed blocks in input order. */
  private readonly inFlight: Array<Promise<Buffer>> = [];
  private dictionary: Buffer = Buffer.alloc(0);
  private crc = 0;
  private size = 0;

  constructor(options: ParallelGzipOptions = {}) {
    super({ highWaterMark: 1024 * 1024 });
    this.jobs = Math.max(1, options.jobs ?? 3);
    this.level = options.level ?? 6;
    this.blockSize = options.blockSize ?? GZIP_BLOCK_SIZE;
    this.push(HEADER);
  }

  private takeBlock(bytes: number): Buffer {
    const all = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pieceBytes);
    const block = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.pieces = rest.length > 0 ? [rest] : [];
    this.pieceBytes = rest.length;
    return block;
  }

  private startBlock(block: Buffer, last: boolean): void {
    // Never with an empty buffer: one without backing memory reaches zlib as NULL, and
    // crc32(crc, NULL, 0) returns 0, "the initial value", instead of crc.
    if (block.length > 0) this.crc = zlib.crc32(block, this.crc);
    this.size += block.length;
    const dictionary = this.dictionary;
    this.dictionary =
      block.length >= WINDOW ? block.subarray(block.length - WINDOW) : Buffer.concat([dictionary, block]).subarray(-WINDOW);
    const job = deflateRaw(block, {
      level: this.level,
      ...(dictionary.length > 0 ? { dictionary } : {}),
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    });
    // Awaited in order later; a failure is reported then, not as an unhandled rejection now.
    job.catch(() => undefined);
    this.inFlight.push(job);
  }

  /** Pushes finished blocks in order until fewer than `keep` are in flight. */
  private async drain(keep: number): Promise<void> {
    while (this.inFlight.length > keep) {
      const output = await this.inFlight.shift()!;
      this.push(output);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pieces.push(chunk);
    this.pieceBytes += chunk.length;
    while (this.pieceBytes >= this.blockSize) this.startBlock(this.takeBlock(this.blockSize), false);
    this.drain(this.jobs - 1).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.startBlock(this.takeBlock(this.pieceBytes), true);
    this.drain(0).then(() => {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.size % 2 ** 32, 4);
      callback(null, trailer);
    }, callback);
  }
}
