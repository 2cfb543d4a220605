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
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  private readonly inFlight: Array<Promise<Buffer>> = [];
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

  private takeBlock(bytes: number): Buffer {
    const all = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pieceBytes);
    const block = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.pieces = rest.length > 0 ? [rest] : [];
    this.pieceBytes = rest.length;
    return block;
  }

  private startBlock(block: Buffer, last: boolean): void {
    this.crc = crc32(block, this.crc);
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

  /** Finished outputs, in order, until at most `keep` blocks are in flight. */
  private async collect(keep: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    while (this.inFlight.length > keep) {
      const output = await this.inFlight.shift()!;
      this.compressedSize += output.length;
      out.push(output);
    }
    return out;
  }

  /** Adds input; resolves with the compressed output ready so far (waits while too many blocks are in flight). */
  write(chunk: Buffer): Promise<Buffer[]> {
    this.pieces.push(chunk);
    this.pieceBytes += chunk.length;
    while (this.pieceBytes >= this.blockSize) this.startBlock(this.takeBlock(this.blockSize), false);
    return this.collect(this.jobs - 1);
  }

  /** Ends the stream: the rest of the output. */
  end(): Promise<Buffer[]> {
    this.startBlock(this.takeBlock(this.pieceBytes), true);
    return this.collect(0);
  }
}
