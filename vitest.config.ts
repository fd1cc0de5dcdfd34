import {defineConfig} from 'vitest/config'

/**
 * Two projects:
 * - `unit`: pure tests, no etcd, no child processes beyond the test itself; fast.
 * - `integration`: real etcd (one shared server started by test/support/globalEtcd.ts,
 *   plus private servers for tests that restart it or need TLS/auth) and real processes.
 *   Each file uses its own cluster name (see test/support/testStore.ts), so files may run
 *   in parallel; two workers keep a 2-core machine responsive while etcd fsyncs. Runs
 *   after the unit group finishes.
 * Timeouts are generous because etcd on a loaded CI machine can take seconds to commit;
 * no test asserts wall-clock times.
 */
export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.{ts,tsx}'],
          exclude: ['test/integration/**', 'test/e2e/**', 'test/fuzz/live/**', '**/node_modules/**'],
          maxWorkers: 2,
          // Unit tests that write SQLite files or run property checks take seconds on a loaded
          // 2-core runner; the 5 s default failed them there while they pass idle in under 1 s.
          testTimeout: 20_000,
          sequence: {groupOrder: 0},
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.{ts,tsx}', 'test/e2e/**/*.test.{ts,tsx}', 'test/fuzz/live/**/*.test.ts'],
          globalSetup: ['test/support/globalEtcd.ts'],
          // Fails a file that compacted the shared etcd (see the file).
          setupFiles: ['test/support/sharedEtcdGuard.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          maxWorkers: 2,
          pool: 'forks',
          // Fast unit tests first, then this group (projects with different pools/limits must be ordered).
          sequence: {groupOrder: 1},
        },
      },
    ],
  },
})
