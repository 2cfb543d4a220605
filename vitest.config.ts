import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/large/**', 'node_modules/**'],
    setupFiles: ['tests/setup/fail-on-warnings.ts'],
    globalSetup: ['tests/setup/s3-server.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two test files at a time at least. vitest's default is one worker per core but one (cores - 1),
    // which on the 2-core CI machine is a single worker: 84 files one after the other, while most of
    // a file's time is spent waiting on servers and subprocesses (in the serial run the processes it waits
    // for used ~0.75 of a core on average; the Ceph daemons come on top).
    // Measured on the 14 slowest files (shared machine): 542 s one at a time, 451 s wall with two,
    // all passing, the timeout and memory bounds included. Every file has its own servers or fresh
    // buckets on the shared Ceph; the crontab tests use different users (root, daemon).
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    // The SDK's "releases after January 2027 need Node 22" notice, once per worker: noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
