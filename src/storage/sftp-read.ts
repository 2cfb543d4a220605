/**
 * Reading a remote file over SFTP as a stream: READ requests for the next
 * chunks are kept in flight (read-ahead) and delivered in order, so a long
 * round trip does not cap the speed; memory is chunk x readAhead. A short
 * answer (a server with a smaller read limit) re-aims the requests after it.
 * ssh2's own createReadStream is not used: when the connection drops, it
 * never finishes destroying (it waits for a CLOSE answer that cannot come).
 */
import { Readable } from 'node:stream';
import type { Session } from './sftp-session.js';

/** 64 KiB: what every SFTP server answers whole (OpenSSH since 2006 up to 256 KiB). */
export const READ_CHUNK = 64 * 1024;
export const READ_AHEAD = 16;

interface Pending {
  start: number;
  length: number;
  result: Promise<Buffer>;
}

/** One READ: the bytes at `start` (fewer at the end of the file, none past it). */
export function readAt(session: Session, handle: Buffer, start: number, length: number, signal?: AbortSignal): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  return session.request<number>(signal, (sftp, cb) => sftp.read(handle, buffer, 0, length, start, (err, bytesRead) => cb(err, bytesRead))).then((n) =>
    buffer.subarray(0, n ?? 0),
  );
}

export class SftpReadStream extends Readable {
  private next = 0;
  private readonly queue: Pending[] = [];
  private ended = false;

  constructor(
    private readonly session: Session,
    private readonly handle: Buffer,
    /** Turns a failed READ into the error the reader sees. */
    private readonly describe: (error: unknown) => Error,
    signal?: AbortSignal,
  ) {
    // Node destroys the stream with an AbortError when `signal` aborts.
    super({ highWaterMark: READ_CHUNK * 4, signal });
  }

  private fill(): void {
    while (!this.ended && this.queue.length < READ_AHEAD) {
      const start = this.next;
      const result = readAt(this.session, this.handle, start, READ_CHUNK);
      result.catch(() => undefined); // awaited in order by _read; a later one may be dropped
      this.queue.push({ start, length: READ_CHUNK, result });
      this.next += READ_CHUNK;
    }
  }

  override _read(): void {
    this.fill();
    const head = this.queue.shift();
    if (!head) return;
    head.result.then(
      (bytes) => {
        if (this.destroyed) return;
        if (bytes.length === 0) {
          this.ended = true;
          this.queue.length = 0;
          this.push(null);
          return;
        }
        if (bytes.length < head.length) {
          // A short read: the requests after it aimed at the wrong offsets (or past the end).
          this.queue.length = 0;
          this.next = head.start + bytes.length;
        }
        this.push(bytes);
      },
      (error: unknown) => this.destroy(this.describe(error)),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.ended = true;
    this.queue.length = 0;
    // Closing the handle is not waited for (a dead connection never answers; the server closes it with the channel).
    if (!this.session.dead) this.session.request<void>(undefined, (sftp, cb) => sftp.close(this.handle, cb)).catch(() => undefined);
    callback(error);
  }
}
