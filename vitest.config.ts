import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration tests bind real sockets and spawn real processes; isolation per file keeps them apart.
    pool: 'forks',
  },
});
