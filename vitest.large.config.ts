/**
 * The large-input suite (`npm run test:large`): multi-GiB sparse files, a
 * tree of 120,000 files, a 1.1 GiB upload to the suite's S3 server. Same
 * setup as vitest.config.ts, long timeouts, one file at a time (the files
 * compete for disk, the 2 cores and the in-memory Ceph OSD).
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/large/**/*.test.ts'],
    exclude: ['node_modules/**'],
    setupFiles: ['tests/setup/fail-on-warnings.ts'],
    globalSetup: ['tests/setup/s3-server.ts'],
    testTimeout: 20 * 60_000,
    hookTimeout: 10 * 60_000,
    teardownTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    // The SDK's "releases after January 2027 need Node 22" notice, once per worker: noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
