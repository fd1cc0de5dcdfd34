import {DEFAULT_FRAME_SLABS, frameSlabsEnvProblem} from './copyFrameSlabs.js'

/** TuningEnvProblem is a refused tuning variable: the one-line message (naming it, its value and what it takes) and how to fix it. */
export interface TuningEnvProblem {
  message: string
  fix: string
}

/**
 * WHOLE_NUMBER_KNOBS are the node's tuning variables that take a whole number in a range (benchmarks
 * set them to measure both ways; their readers are module constants, loaded in worker threads too,
 * so they cannot throw where they read: a bad value used to mean the default, or NaN).
 */
const WHOLE_NUMBER_KNOBS: readonly {name: string; min: number; max: number; fix: string}[] = [
  {name: 'SHARDCTL_COPY_PAGE_SLABS', min: 0, max: 64, fix: 'unset it for the default 8, or set 0 for none'},
  {name: 'SHARDCTL_COPY_THREAD_NICE', min: 0, max: 39, fix: 'unset it for the default 10, or set 0 to leave the copy reader thread at the node priority'},
  {name: 'SHARDCTL_COPY_RECEIVE_NICE', min: 0, max: 39, fix: 'unset it for the default 0 (the receive thread at the node priority)'},
]

/** SQLite's page sizes: a power of two from 512 to 65536 (anything else is ignored by `PRAGMA page_size` without a word). */
const PAGE_SIZES = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]

/**
 * tuningEnvProblem (pure) is the first refused tuning variable of `node serve` in `env`
 * (undefined: all unset or fine): SHARDCTL_COPY_FRAME_SLABS, SHARDCTL_COPY_PAGE_SLABS,
 * SHARDCTL_COPY_THREAD_NICE, SHARDCTL_COPY_RECEIVE_NICE and SHARDCTL_SQLITE_PAGE_SIZE. Unset or
 * blank is each one's default. Until session 39 a bad value was taken silently: the slab counts
 * and the copy thread's nice meant their default, the receive thread's nice and the page size
 * were NaN (a NaN nice left the priority alone; SQLite ignored a NaN page size).
 */
export function tuningEnvProblem(env: Record<string, string | undefined>): TuningEnvProblem | undefined {
  const slabs = frameSlabsEnvProblem(env)
  if (slabs) return {message: slabs, fix: `unset it for the default ${DEFAULT_FRAME_SLABS}, or set 0 for none`}
  for (const k of WHOLE_NUMBER_KNOBS) {
    const raw = env[k.name]
    if (raw === undefined || raw.trim() === '') continue
    const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN
    if (!(n >= k.min && n <= k.max)) return {message: `${k.name}: "${raw}" is not a whole number from ${k.min} to ${k.max}`, fix: k.fix}
  }
  const page = env.SHARDCTL_SQLITE_PAGE_SIZE
  if (page !== undefined && page.trim() !== '' && !PAGE_SIZES.includes(/^\d+$/.test(page.trim()) ? Number(page.trim()) : NaN)) {
    return {message: `SHARDCTL_SQLITE_PAGE_SIZE: "${page}" is not a power of two from 512 to 65536`, fix: 'unset it for the default 16384 (it applies to a new data dir only)'}
  }
  return undefined
}
