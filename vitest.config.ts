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
    // The SDK's "releases after January 2027 need Node 22" notice, once per worker: noise here.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
