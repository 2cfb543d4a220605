/**
 * One stream in, several destinations out, in a single pass: the archive is
 * made and hashed once, whatever the number of destinations.
 *
 * Pace: the destinations share the pace of the slowest one that is still
 * moving (backpressure; with several, each may be up to QUEUE_BYTES behind
 * the fastest), rather than a fast one
 * running ahead with the archive buffered for the slow one (unbounded
 * memory) or a slow one being dropped for being slow (a copy lost to a
 * congested link, and the archive cannot be replayed to it later). A
 * destination that makes no progress at all for `stallMs` (a hung server,
 * a dead connection that never errors) is dropped with that reason, so it
 * cannot hold the others up for longer than that.
 *
 * A destination that fails is dropped and recorded, and the others go on: a
 * failed upload must not cost the local copy. The fan-out itself fails only
 * when every destination has.
 */
import { Writable } from 'node:stream';
import { DestinationError } from '../errors.js';

export interface FanOutTarget {
  name: string;
  stream: Writable;
}

/**
 * With several destinations, each may fall this far behind the fastest before
 * the fastest waits for it: a store that is busy for a moment (a part being
 * sent, a block list committed) does not stop the others at each chunk. The
 * chunks are the same buffers for every destination, so this costs at most
 * this much memory in all, not per destination.
 */
export const QUEUE_BYTES = 8 * 1024 * 1024;

/** Five minutes without taking a byte: longer than any retry backoff of the SDKs we use. */
export const DEFAULT_STALL_MS = 5 * 60_000;

export class FanOut extends Writable {
  private readonly live: FanOutTarget[];
  /** Destinations that failed, with why. */
  readonly failures = new Map<string, Error>();

  constructor(
    targets: FanOutTarget[],
    private readonly stallMs = DEFAULT_STALL_MS,
    private readonly queueBytes = QUEUE_BYTES,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.live = [...targets];
    for (const target of targets) {
      target.stream.on('error', (error: Error) => this.fail(target, error));
    }
  }

  private fail(target: FanOutTarget, error: Error): void {
    if (!this.failures.has(target.name)) this.failures.set(target.name, error);
    const index = this.live.indexOf(target);
    if (index >= 0) this.live.splice(index, 1);
  }

  private stalled(target: FanOutTarget, what: string): void {
    const time = this.stallMs >= 1000 ? `${Math.round(this.stallMs / 1000)} s` : `${this.stallMs} ms`;
    this.fail(
      target,
      new DestinationError(`${target.name} ${what} for ${time} (a hung server or a dead connection); it was dropped so the other destinations could go on. Nothing was published there.`, {
        code: 'DESTINATION_STALLED',
      }),
    );
    target.stream.destroy();
  }

  private allFailed(): Error {
    const first = [...this.failures.values()][0];
    return first ?? new Error('no destination to write to');
  }

  /**
   * Resolves once `stream` emits one of `events` (or has failed), or once it
   * has made no progress for `stallMs` (its queue did not shrink), with
   * `onStall` called: a destination never holds the others up for longer
   * than that, and a slow one that keeps taking data is never dropped.
   */
  private settle(target: FanOutTarget, events: string[], onStall: () => void): Promise<void> {
    const stream = target.stream;
    return new Promise((resolve) => {
      let queued = stream.writableLength;
      let lastProgress = Date.now();
      const done = (): void => {
        clearInterval(watch);
        for (const event of [...events, 'close', 'error']) stream.off(event, done);
        resolve();
      };
      const watch = setInterval(
        () => {
          const now = Date.now();
          if (stream.writableLength < queued) lastProgress = now;
          queued = stream.writableLength;
          if (now - lastProgress >= this.stallMs) {
            onStall();
            done();
          }
        },
        Math.max(10, Math.min(1000, this.stallMs / 10)),
      );
      for (const event of [...events, 'close', 'error']) stream.on(event, done);
    });
  }

  /** Resolves when `target` can take more, or has failed or stalled (then it is dropped). */
  private writeTo(target: FanOutTarget, chunk: Buffer): Promise<void> {
    const stream = target.stream;
    if (stream.destroyed) {
      this.fail(target, new Error(`${target.name} was closed`));
      return Promise.resolve();
    }
    if (stream.write(chunk)) return Promise.resolve();
    if (this.live.length > 1 && stream.writableLength < this.queueBytes) return Promise.resolve();
    return this.settle(target, ['drain'], () => this.stalled(target, 'took no data'));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.live.length === 0) return callback(this.allFailed());
    Promise.all(this.live.map((target) => this.writeTo(target, chunk))).then(
      () => callback(this.live.length === 0 ? this.allFailed() : null),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const ends = this.live.map((target) => {
      const ended = this.settle(target, ['finish'], () => this.stalled(target, 'did not finish its upload'));
      target.stream.end();
      return ended;
    });
    Promise.all(ends).then(() => callback(this.live.length === 0 ? this.allFailed() : null), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const target of this.live) target.stream.destroy();
    callback(error);
  }

  /** Names of the destinations that received everything. */
  succeeded(): string[] {
    return this.live.map((t) => t.name);
  }
}
