/**
 * The unit projects' file sets (vitest.config.ts), here so test/support/unitProjects.test.ts
 * can check them. `unit` runs without isolation (one module graph per worker), so a file that
 * replaces a module of src with vi.mock must be listed in MOCKING_UNIT_FILES: it then runs
 * in `unit-isolated`, in a module graph of its own, and its mock reaches no other file.
 */
export const UNIT_INCLUDE = ['test/**/*.test.{ts,tsx}']
export const UNIT_EXCLUDE = ['test/integration/**', 'test/e2e/**', 'test/fuzz/live/**', '**/node_modules/**']
/** MOCKING_UNIT_FILES are the unit files that call vi.mock or vi.doMock (paths from the repository root). */
export const MOCKING_UNIT_FILES = ['test/executor/engineRetryLockLost.memoryStore.test.ts', 'test/executor/engineRetryReread.memoryStore.test.ts', 'test/executor/leaseLostSummary.memoryStore.test.ts']
