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
  },
});
