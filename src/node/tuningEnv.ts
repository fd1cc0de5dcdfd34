import {type EnvProblem, type WholeNumberVariable, wholeNumberEnvProblem} from '../config/wholeNumberEnv.js'
import {DEFAULT_FRAME_SLABS, frameSlabsEnvProblem} from './copyFrameSlabs.js'

/** TuningEnvProblem is a refused tuning variable: the one-line message (naming it, its value and what it takes) and how to fix it. */
export type TuningEnvProblem = EnvProblem

/**
 * WHOLE_NUMBER_KNOBS are the node's tuning variables that take a whole number in a range (benchmarks
 * set them to measure both ways; their readers are module constants, loaded in worker threads too,
 * so they cannot throw where they read: a bad value used to mean the default, or NaN).
 */
const WHOLE_NUMBER_KNOBS: readonly WholeNumberVariable[] = [
  {name: 'SHARDCTL_COPY_PAGE_SLABS', min: 0, max: 64, fix: 'unset it for the default 8, or set 0 for none'},
  {name: 'SHARDCTL_COPY_THREAD_NICE', min: 0, max: 39, fix: 'unset it for the default 10, or set 0 to leave the copy reader thread at the node priority'},
  {name: 'SHARDCTL_COPY_RECEIVE_NICE', min: 0, max: 39, fix: 'unset it for the default 0 (the receive thread at the node priority)'},
]

/**
 * COPY_RECEIVE_THREAD_VARIABLE is SHARDCTL_COPY_RECEIVE_THREAD: 0 receives copies on the main
 * thread, 1 (the default) in the copy receive thread. Until session 40 only "0" was read and
 * any other value ("off", "false", " 0") silently meant the thread.
 */
export const COPY_RECEIVE_THREAD_VARIABLE: WholeNumberVariable = {name: 'SHARDCTL_COPY_RECEIVE_THREAD', min: 0, max: 1, fix: 'unset it for the default 1 (copies received in the copy receive thread), or set 0 to receive them on the main thread'}

/** SQLite's page sizes: a power of two from 512 to 65536 (anything else is ignored by `PRAGMA page_size` without a word). */
const PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]

/**
 * tuningEnvProblem (pure) is the first refused tuning variable of `node serve` in `env`
 * (undefined: all unset or fine): SHARDCTL_COPY_FRAME_SLABS, SHARDCTL_COPY_PAGE_SLABS,
 * SHARDCTL_COPY_THREAD_NICE, SHARDCTL_COPY_RECEIVE_NICE, SHARDCTL_COPY_RECEIVE_THREAD and
 * SHARDCTL_SQLITE_PAGE_SIZE. Unset or
 * blank is each one's default. Until session 39 a bad value was taken silently: the slab counts
 * and the copy thread's nice meant their default, the receive thread's nice and the page size
 * were NaN (a NaN nice left the priority alone; SQLite ignored a NaN page size).
 */
export function tuningEnvProblem(env: Record<string, string | undefined>): TuningEnvProblem | undefined {
  const slabs = frameSlabsEnvProblem(env)
  if (slabs) return {message: slabs, fix: `unset it for the default ${DEFAULT_FRAME_SLABS}, or set 0 for none`}
  for (const k of [...WHOLE_NUMBER_KNOBS, COPY_RECEIVE_THREAD_VARIABLE]) {
    const problem = wholeNumberEnvProblem(env, k)
    if (problem) return problem
  }
  const page = env.SHARDCTL_SQLITE_PAGE_SIZE
  if (page !== undefined && page.trim() !== '' && !PAGE_SIZES.includes(/^\d+$/.test(page.trim()) ? Number(page.trim()) : NaN)) {
    return {message: `SHARDCTL_SQLITE_PAGE_SIZE: "${page}" is not a power of two from 512 to 65536`, fix: 'unset it for the default 16384 (it applies to a new data dir only)'}
  }
  return undefined
}
