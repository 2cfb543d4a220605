/**
 * Pull-based reading of a byte stream: exact reads for headers and bounded
 * pieces for entry bodies. The reader asks its source for more only when a
 * consumer needs it, so a slow consumer (a disk being written, a hash) holds
 * the whole chain back: backpressure without buffers that grow.
 */

export class TruncatedError extends Error {
  constructor(readonly offset: number, what: string) {
    super(`the archive ends early, at byte ${offset}, inside ${what} (it is truncated or damaged)`);
  }
}
TruncatedError.prototype.name = 'TruncatedError';

export class ByteReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes consumed so far: the offset of the next byte in the stream. */
  offset = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array>) {
    const inner = source[Symbol.asyncIterator]();
    this.iterator = {
      next: async () => {
        const next = await inner.next();
        return next.done ? next : { done: false, value: Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value) };
      },
      return: async () => {
        await inner.return?.();
        return { done: true, value: undefined };
      },
    };
  }

  /** More bytes into `pending`; false at the end of the stream. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.pending = this.pending.length === 0 ? next.value : Buffer.concat([this.pending, next.value]);
    return true;
  }

  /**
   * Exactly `n` bytes; undefined if the stream ends before the first of them
   * (a clean end), TruncatedError if it ends part-way.
   */
  async read(n: number, what: string): Promise<Buffer | undefined> {
    while (this.pending.length < n) {
      if (!(await this.fill())) {
        if (this.pending.length === 0) return undefined;
        throw new TruncatedError(this.offset + this.pending.length, what);
      }
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.offset += n;
    return out;
  }

  /** Exactly `n` bytes, or TruncatedError. */
  async readExactly(n: number, what: string): Promise<Buffer> {
    const out = await this.read(n, what);
    if (out === undefined && n > 0) throw new TruncatedError(this.offset, what);
    return out ?? Buffer.alloc(0);
  }

  /** The next `n` bytes in pieces as they arrive (none copied); TruncatedError if the stream ends first. */
  async *take(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.fill())) throw new TruncatedError(this.offset, what);
      const piece = this.pending.length <= left ? this.pending : this.pending.subarray(0, left);
      this.pending = this.pending.subarray(piece.length);
      this.offset += piece.length;
      left -= piece.length;
      yield piece;
    }
  }

  /** Skips `n` bytes. */
  async skip(n: number, what: string): Promise<void> {
    for await (const piece of this.take(n, what)) void piece;
  }

  /** Reads and discards everything left; returns how many bytes that was. */
  async drain(): Promise<number> {
    let count = this.pending.length;
    this.offset += this.pending.length;
    this.pending = Buffer.alloc(0);
    while (await this.fill()) {
      count += this.pending.length;
      this.offset += this.pending.length;
      this.pending = Buffer.alloc(0);
    }
    return count;
  }

  /**
   * Reads the rest of the source, which must be zeros (tar's end-of-archive
   * padding): resolves with the offset of the first byte that is not, or
   * undefined when all of it is.
   */
  async drainZeros(): Promise<number | undefined> {
    for (;;) {
      const i = this.pending.findIndex((b) => b !== 0);
      if (i >= 0) return this.offset + i;
      this.offset += this.pending.length;
      this.pending = Buffer.alloc(0);
      if (!(await this.fill())) return undefined;
    }
  }

  /** Stops reading the source (closes it). */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}
