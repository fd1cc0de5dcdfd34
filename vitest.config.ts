import {defineConfig} from 'vitest/config'
import {MOCKING_UNIT_FILES, UNIT_EXCLUDE, UNIT_INCLUDE} from './test/support/unitProjects.js'

/**
 * Three projects:
 * - `unit`: pure tests, no etcd, no child processes beyond the test itself; fast. Not
 *   isolated: a worker runs its files one after another on one module graph, so the sources
 *   are transformed and imported once per worker, not once per file (about 45 % less CPU for
 *   these files on the 2-core runner: most of a small unit file's time was that import).
 *   Their files leave no global state behind (timers, env and mocks restored in the file);
 *   a file that replaces a module with vi.mock goes to `unit-isolated` instead (the lists are
 *   in test/support/unitProjects.ts, checked by its test).
 * - `unit-isolated`: the unit files that vi.mock a module of src, each in a fresh module
 *   graph, so the mock reaches no other file.
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
          include: UNIT_INCLUDE,
          exclude: [...UNIT_EXCLUDE, ...MOCKING_UNIT_FILES],
          isolate: false,
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
          name: 'unit-isolated',
          include: MOCKING_UNIT_FILES,
          maxWorkers: 2,
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
