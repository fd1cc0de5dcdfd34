import {defineConfig} from 'vitest/config'

/**
 * The chaos suite (`npm run test:chaos`): test/chaos/*.chaos.ts, one file, scenarios in
 * sequence in one forked worker (each brings up its own 3-member etcd, 5 nodes and 2
 * routers). `CHAOS_SHORT=1` runs the short subset (what `.ci/run` runs); `CHAOS_ONLY=text`
 * picks scenarios by name. Not part of `npm test`.
 */
export default defineConfig({
  test: {
    name: 'chaos',
    include: ['test/chaos/**/*.chaos.ts'],
    disableConsoleIntercept: true,
    pool: 'forks',
    maxWorkers: 1,
    // Each scenario's `it` passes test/chaos/deadline.ts's CHAOS_TEST_TIMEOUT_MS (this value), from which its deadline is derived.
    testTimeout: 420_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
})
