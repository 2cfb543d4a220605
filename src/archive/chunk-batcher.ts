/**
 * Gathers the small pieces an archive writer produces (headers, small
 * files, padding) into chunks of a useful size, so the stream does not
 * carry three tiny buffers per file. Counts every byte that passes, which
 * the zip writer uses as its offset.
 */
export class ChunkBatcher {
  private pieces: Buffer[] = [];
  /** Bytes added and not taken yet. */
  pending = 0;
  /** Bytes added since the start. */
  total = 0;

  add(...pieces: Buffer[]): void {
    for (const piece of pieces) {
      this.pieces.push(piece);
      this.pending += piece.length;
      this.total += piece.length;
    }
  }

  /** Everything pending, as one buffer (no copy for a single piece). */
  take(): Buffer {
    const out = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pending);
    this.pieces = [];
    this.pending = 0;
    return out;
  }
}
