// The Jepsen tier (docs/architecture.md §5): checker self-tests (CPU only) and fault runs against real
// 3-member clusters in network namespaces. One file at a time, so a run owns the cores.
// `npm run test:jepsen` = vitest run --config test/jepsen/vitest.config.ts
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/jepsen/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
