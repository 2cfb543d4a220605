/**
 * bzip2 on every core without lbzip2: the input is cut into 4 MiB blocks,
 * each compressed by its own `bzip2 -c` process, several at once, and the
 * outputs written in order. Concatenated bzip2 streams are a valid .bz2
 * file: `bzip2 -d`, `tar -xjf` and Python's bz2 read them as one.
 *
 * At most `jobs` blocks are in flight: memory is about jobs x 8 MiB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';
import { compressorFailure, compressorNotRun } from './compressor-errors.js';

export const BZIP2_BLOCK_SIZE = 4 * 1024 * 1024;

/** Runs `bzip2 -c` on one block: its output, and the process (to kill it on cancel). */
function compressBlock(command: string, block: Buffer): { output: Promise<Buffer>; child: ChildProcess } {
  const child = spawn(command, ['-c', '-9'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const output = new Promise<Buffer>((resolve, reject) => {
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < 4096) stderr += text;
    });
    child.stdin!.on('error', () => undefined); // a dying process: its exit status says why
    child.on('error', (error) => reject(compressorNotRun(command, error)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(compressorFailure(command, code, signal, stderr));
    });
    child.stdin!.end(block);
  });
  return { output, child };
}

/**
 * Resolves once `child` has exited (at once if it already has). On 'exit',
 * not 'close': 'close' also waits for the child's pipes to end, and a killed
 * child whose stdout we had paused (backpressure) never ends it. A paused
 * pipe keeps nothing alive either, so waiting for 'close' there emptied the
 * event loop with the cancel unfinished: a Ctrl-C'd tar.bz2 run exited 13,
 * leaving its .partial and its lock (about one cancel in fifty).
 */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

export class ParallelBzip2 extends Transform {
  private pieces: Buffer[] = [];
  private pieceBytes = 0;
  private readonly inFlight: Array<Promise<Buffer>> = [];
  /** bzip2 processes still running: killed and waited for when the stream is destroyed. */
  private readonly children = new Set<ChildProcess>();
  private started = false;

  constructor(
    private readonly command: string,
    private readonly jobs: number,
    private readonly blockSize = BZIP2_BLOCK_SIZE,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  private takeBlock(bytes: number): Buffer {
    const all = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.pieceBytes);
    const block = all.subarray(0, bytes);
    const rest = all.subarray(bytes);
    this.pieces = rest.length > 0 ? [rest] : [];
    this.pieceBytes = rest.length;
    return block;
  }

  private start(block: Buffer): void {
    this.started = true;
    const { output, child } = compressBlock(this.command, block);
    this.children.add(child);
    child.once('close', () => this.children.delete(child));
    output.catch(() => undefined); // awaited in order below
    this.inFlight.push(output);
  }

  private async drain(keep: number): Promise<void> {
    while (this.inFlight.length > keep) this.push(await this.inFlight.shift()!);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pieces.push(chunk);
    this.pieceBytes += chunk.length;
    while (this.pieceBytes >= this.blockSize) this.start(this.takeBlock(this.blockSize));
    this.drain(this.jobs - 1).then(() => callback(), callback);
  }

  /** Cancel or failure: no bzip2 of ours outlives the stream ('close' comes after they have exited). */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const running = [...this.children];
    for (const child of running) child.kill('SIGKILL');
    Promise.all(running.map(exited)).then(() => callback(error));
  }

  override _flush(callback: TransformCallback): void {
    // The rest; an empty input still gets one (empty) bzip2 stream, as `bzip2 -c </dev/null` writes.
    if (this.pieceBytes > 0 || !this.started) this.start(this.takeBlock(this.pieceBytes));
    this.drain(0).then(() => callback(), callback);
  }
}
