import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests drive real git, Docker, Chromium and servers: keep files apart.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
