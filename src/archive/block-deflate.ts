/**
 * Raw deflate on every core, pigz-style: the input is cut into blocks, each
 * deflated on libuv's thread pool with the previous 32 KiB as dictionary
 * (so the ratio is that of one long stream) and a sync flush (a byte
 * boundary, no "last block" bit), the last one finishing the stream. The
 * outputs, concatenated in order, are one valid raw deflate stream. Used by
 * the gzip stream (with a gzip header and trailer around it) and by the zip
 * writer (one stream per large entry). Also keeps the CRC-32 and length.
 *
 * At most `jobs` blocks are in flight: memory is about jobs x 2 blocks.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const deflateRaw = promisify(zlib.deflateRaw) as (buffer: Buffer, options: zlib.ZlibOptions) => Promise<Buffer>;

const WINDOW = 32 * 1024;
export const DEFLATE_BLOCK_SIZE = 1024 * 1024;

export interface BlockDeflateOptions {
  jobs?: number;
  level?: number;
  blockSize?: number;
}

/** CRC-32 continued over `data`. Never called with an empty buffer: one without backing memory
 * reaches zlib as NULL, and crc32(crc, NULL, 0) returns 0 ("the initial value") instead of crc. */
export function crc32(data: Buffer, previous: number): number {
  return data.length > 0 ? zlib.crc32(data, previous) : previous;
}

export class BlockDeflater {
  private readonly jobs: number;
  private readonly level: number;
  private readonly blockSize: number;
  /** The block being filled, and how much of it is. */
  private current: Buffer | undefined;
  private filled = 0;
  /**
   * Block buffers whose compression is done, for reuse: allocating a fresh
   * 1 MiB buffer per block leaves glibc's heap fragmented and the RSS high.
   */
  private readonly spare: Buffer[] = [];
  private readonly inFlight: Array<{ input: Buffer; output: Promise<Buffer> }> = [];
  private dictionary: Buffer = Buffer.alloc(0);
  /** CRC-32 of all input so far. */
  crc = 0;
  /** Input bytes so far. */
  size = 0;
  /** Output bytes handed out so far. */
  compressedSize = 0;

  constructor(options: BlockDeflateOptions = {}) {
    this.jobs = Math.max(1, options.jobs ?? 3);
    this.level = options.level ?? 6;
    this.blockSize = options.blockSize ?? DEFLATE_BLOCK_SIZE;
  }

  private startBlock(last: boolean): void {
    const input = this.current ?? Buffer.alloc(0);
    const block = input.subarray(0, this.filled);
    this.current = undefined;
    this.filled = 0;
    this.crc = crc32(block, this.crc);
    this.size += block.length;
    const dictionary = this.dictionary;
    // A copy: the block's buffer is reused once its compression is done.
    this.dictionary = Buffer.from(
      block.length >= WINDOW ? block.subarray(block.length - WINDOW) : Buffer.concat([dictionary, block]).subarray(-WINDOW),
    );
    const output = deflateRaw(block, {
      level: this.level,
      // Room for the whole compressed block (deflate can grow data by a few bytes per 16 KiB):
      // one trip through the thread pool per block instead of one per 16 KiB of output.
      chunkSize: block.length + (block.length >> 6) + 1024,
      ...(dictionary.length > 0 ? { dictionary } : {}),
      finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    });
    // Awaited in order later; a failure is reported then, not as an unhandled rejection now.
    output.catch(() => undefined);
    this.inFlight.push({ input, output });
  }

  /** Finished outputs, in order, until at most `keep` blocks are in flight. */
  private async collect(keep: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    while (this.inFlight.length > keep) {
      const { input, output } = this.inFlight.shift()!;
      const compressed = await output;
      if (input.length === this.blockSize) this.spare.push(input);
      this.compressedSize += compressed.length;
      out.push(compressed);
    }
    return out;
  }

  /** Adds input; resolves with the compressed output ready so far (waits while too many blocks are in flight). */
  write(chunk: Buffer): Promise<Buffer[]> {
    let offset = 0;
    while (offset < chunk.length) {
      this.current ??= this.spare.pop() ?? Buffer.allocUnsafe(this.blockSize);
      const n = chunk.copy(this.current, this.filled, offset);
      this.filled += n;
      offset += n;
      if (this.filled === this.blockSize) this.startBlock(false);
    }
    return this.collect(this.jobs - 1);
  }

  /** Ends the stream: the rest of the output. */
  end(): Promise<Buffer[]> {
    this.startBlock(true);
    return this.collect(0);
  }
}
