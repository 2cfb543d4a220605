/**
 * One stream in, several destinations out, in a single pass. Backpressure
 * comes from the slowest destination. A destination that fails is dropped
 * and recorded, and the others go on: a failed upload must not cost the
 * local copy. The fan-out itself fails only when every destination has.
 */
import { Writable } from 'node:stream';

export interface FanOutTarget {
  name: string;
  stream: Writable;
}

export class FanOut extends Writable {
  private readonly live: FanOutTarget[];
  /** Destinations that failed, with why. */
  readonly failures = new Map<string, Error>();

  constructor(targets: FanOutTarget[]) {
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

  private allFailed(): Error {
    const first = [...this.failures.values()][0];
    return first ?? new Error('no destination to write to');
  }

  /** Resolves when `target` can take more, or has failed (then it is dropped). */
  private writeTo(target: FanOutTarget, chunk: Buffer): Promise<void> {
    const stream = target.stream;
    if (stream.destroyed) {
      this.fail(target, new Error(`${target.name} was closed`));
      return Promise.resolve();
    }
    if (stream.write(chunk)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        stream.off('error', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
      stream.on('error', done);
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.live.length === 0) return callback(this.allFailed());
    Promise.all(this.live.map((target) => this.writeTo(target, chunk))).then(
      () => callback(this.live.length === 0 ? this.allFailed() : null),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const ends = this.live.map(
      (target) =>
        new Promise<void>((resolve) => {
          const stream = target.stream;
          const finished = (): void => {
            stream.off('error', finished);
            resolve();
          };
          stream.once('finish', finished);
          stream.once('error', finished);
          stream.end();
        }),
    );
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
