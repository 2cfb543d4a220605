#!/usr/bin/env node
/**
 * The edge: argv, signals, the top-level catch and the only process.exit.
 */
import os from 'node:os';
import path from 'node:path';
import dotenv from 'dotenv';
import { main } from './cli/program.js';
import { CancelledError, ExitCode } from './errors.js';

// AWS credentials may live in ./.env (never in settings.json); real environment variables win.
dotenv.config({ path: path.join(process.cwd(), '.env'), quiet: true });
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
  // A second Ctrl-C means "now": leave without waiting for the clean-up.
  if (interrupted > 1) process.exit(ExitCode.cancelled);
  controller.abort(new CancelledError());
  // The first Ctrl-C always ends the run: if the clean-up is stuck in a call that cannot be
  // cancelled (a hung network file system), leave anyway after a bounded wait.
  setTimeout(() => {
    process.stderr.write(`Cancelled; the clean-up did not finish within ${CANCEL_GRACE_MS / 1000} s, leaving without it.\n`);
    process.exit(ExitCode.cancelled);
  }, CANCEL_GRACE_MS).unref();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

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
  });
  process.exit(code);
} catch (error) {
  process.stderr.write(`backup: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(ExitCode.failed);
}
