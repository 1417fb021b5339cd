import { defineConfig } from 'vitest/config';

// PKCS#11 tests share one library initialisation per process and run serially:
// one fork, files one after another.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
