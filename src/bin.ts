#!/usr/bin/env node
/**
 * The edge: argv, signals, the top-level catch and the only process.exit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadDotEnv } from './config/load-env.js';
import { main } from './cli/program.js';
import { humanText } from './cli/io.js';
import { ownShutdown } from './cli/shutdown.js';
import { CancelledError, ExitCode } from './errors.js';

// AWS credentials may live in ./.env (never in settings.json); real environment variables win.
const envWarning = loadDotEnv(path.join(process.cwd(), '.env'), process.env);
if (envWarning) process.stderr.write(`warning: ${envWarning}\n`);
// The AWS SDK warns on every run under Node 20 that its releases after January 2027 need
// Node 22. This build pins its SDK version, so the notice says nothing to someone running a
// backup; the README says it once, for whoever upgrades the dependencies.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Compression runs on libuv's thread pool next to file reads: size it for every core plus
// two, so reads are not starved (before anything uses the pool, which is created lazily).
process.env.UV_THREADPOOL_SIZE ??= String(Math.min(64, os.availableParallelism() + 2));

const controller = new AbortController();
/** How long the clean-up after the first Ctrl-C may take (S3 aborts included). */
const CANCEL_GRACE_MS = 60_000;
let interrupted = 0;
const onSignal = (): void => {
  interrupted += 1;
  // A command that stops children of its own (the daemon) waits longer than a run's clean-up
  // and has them killed before this process leaves without it (src/cli/shutdown.ts).
  const own = ownShutdown();
  // A second Ctrl-C means "now": leave without waiting for the clean-up.
  if (interrupted > 1) {
    own?.forceStop();
    process.exit(ExitCode.cancelled);
  }
  controller.abort(new CancelledError());
  // The first Ctrl-C always ends the run: if the clean-up is stuck in a call that cannot be
  // cancelled (a hung network file system), leave anyway after a bounded wait.
  const grace = own?.graceMs ?? CANCEL_GRACE_MS;
  setTimeout(() => {
    process.stderr.write(`Cancelled; the clean-up did not finish within ${grace / 1000} s, leaving without it.\n`);
    own?.forceStop();
    process.exit(ExitCode.cancelled);
  }, grace).unref();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// A reader that goes away (`backup verify --all | head -1`) ends the output, not the command:
// later writes are dropped (a destroyed stream ignores them) and the command finishes with its
// own exit code. An error on stdout/stderr has no better place to be reported.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

/** Waits until what was written has reached the reader (pipes are asynchronous: exit would cut them). */
async function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return;
  await new Promise<void>((resolve) => stream.write('', () => resolve()));
}

async function exit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

/**
 * BACKUP_PROGRESS_FD=N: progress as JSON lines on file descriptor N (src/cli/progress-sink.ts),
 * for a program that started this one (the web UI). Not 0-2, and only one that is open.
 */
function progressStream(value: string | undefined): NodeJS.WritableStream | undefined {
  if (value === undefined || !/^\d{1,4}$/.test(value) || Number(value) < 3) return undefined;
  const fd = Number(value);
  try {
    fs.fstatSync(fd);
  } catch {
    return undefined;
  }
  const stream = fs.createWriteStream('', { fd, autoClose: false });
  // The reader went away: progress is dropped, the command goes on.
  stream.on('error', () => undefined);
  return stream;
}
const progress = progressStream(process.env.BACKUP_PROGRESS_FD);
// Not passed on to what this process starts (rclone, compressors): the descriptor is ours.
delete process.env.BACKUP_PROGRESS_FD;

try {
  const code = await main(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
    now: () => new Date(),
    host: os.hostname(),
    home: os.homedir(),
    ...(progress ? { progress: progress as import('node:stream').Writable } : {}),
  });
  await exit(code);
} catch (error) {
  process.stderr.write(humanText(`backup: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`));
  await exit(ExitCode.failed);
}
