// Test tiers (docs/architecture.md §5). `unit` holds CPU-only tests (unit, property, simulation) and
// runs files in parallel; `integration` starts real processes (tsetcd, etcd, etcdctl)
// and runs one file at a time so port use and timings stay predictable on 2 cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('..', import.meta.url).pathname,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/jepsen/**', 'node_modules/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
