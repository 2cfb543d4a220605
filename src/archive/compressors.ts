/**
 * Compressors for the tar formats: gzip in-process (zlib), bzip2 through a
 * spawned `lbzip2` (parallel) or `bzip2` (there is no usable bzip2 encoder
 * on npm). Both are plain Duplex streams for `pipeline`.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ParallelGzip } from './parallel-gzip.js';
import { compressorFailure, compressorNotRun } from './compressor-errors.js';
import { ParallelBzip2, exited } from './parallel-bzip2.js';

/** First executable called `name` on PATH, like `command -v`. */
export function findExecutable(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface Bzip2Program {
  /** lbzip2 is parallel itself; bzip2 runs once per block, several at a time. */
  kind: 'lbzip2' | 'bzip2';
  command: string;
  args: string[];
}

/** lbzip2 (uses every core) if installed, else bzip2, else undefined. */
export function findBzip2(envPath?: string, threads?: number): Bzip2Program | undefined {
  const lbzip2 = findExecutable('lbzip2', envPath);
  if (lbzip2) return { kind: 'lbzip2', command: lbzip2, args: threads ? [`-n${cores(threads)}`, '-c'] : ['-c'] };
  const bzip2 = findExecutable('bzip2', envPath);
  if (bzip2) return { kind: 'bzip2', command: bzip2, args: ['-c'] };
  return undefined;
}

/** Never more compression workers than cores, whatever was asked: more only costs memory. */
function cores(threads: number): number {
  return Math.max(1, Math.min(threads, os.availableParallelism()));
}

/** A bzip2 compressor stream on `threads` cores. */
export function createBzip2(program: Bzip2Program, threads: number): Duplex {
  return program.kind === 'lbzip2' ? spawnFilter(program) : new ParallelBzip2(program.command, cores(threads) + 1);
}

/** gzip -6 on `threads` cores (one block more in flight than threads, so none waits for input). */
export function createGzip(threads: number): Duplex {
  return new ParallelGzip({ jobs: cores(threads) + 1, level: 6 });
}

/**
 * A child process as a Duplex: writes go to its stdin, its stdout is read.
 * The readable side ends only when the process exits 0; a non-zero exit or
 * a signal destroys the stream with the process's stderr in the message.
 * Destroying the stream kills the process and waits for it to exit.
 */
export function spawnFilter(program: Bzip2Program): Duplex {
  const child = spawn(program.command, program.args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let finished = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });

  const duplex = new Duplex({
    write(chunk: Buffer, _encoding, callback) {
      if (child.stdin.write(chunk)) callback();
      else child.stdin.once('drain', () => callback());
    },
    final(callback) {
      // A program that stopped early (bad input) has closed its stdin: ending it then fails with
      // "Cannot call end after a stream was destroyed". Its exit status says what went wrong.
      if (child.stdin.destroyed) callback();
      else child.stdin.end(() => callback());
    },
    read() {
      child.stdout.resume();
    },
    destroy(error, callback) {
      // The process is killed and waited for: 'close' on this stream means it is gone.
      // Its pipes are let go too (a paused stdout would never end on its own).
      if (!finished) child.kill('SIGKILL');
      exited(child).then(() => {
        child.stdout.destroy();
        child.stdin.destroy();
        callback(error);
      });
    },
  });

  child.stdout.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) child.stdout.pause();
  });
  // EPIPE on stdin means the process died; its exit status says why.
  child.stdin.on('error', () => undefined);
  child.on('error', (error) => {
    finished = true;
    duplex.destroy(compressorNotRun(program.command, error));
  });
  child.on('close', (code, signal) => {
    finished = true;
    if (duplex.destroyed) return;
    if (code === 0) duplex.push(null);
    else {
      duplex.destroy(compressorFailure(program.command, code, signal, stderr));
    }
  });
  return duplex;
}
