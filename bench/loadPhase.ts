/** MAX_OPS: hard bound on any load phase, whatever its duration. */
export const MAX_OPS = 2_000_000

/** LoadPhase is one phase's outcome: operations done, failed ones, rate and latency percentiles (ms). */
export interface LoadPhase {
  ops: number
  errors: number
  opsPerSec: number
  p50: number
  p99: number
}

/** percentile reads the p-quantile (0..1) of ascending `sorted` latencies; NaN when empty. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!
}

/**
 * runPhase runs `op` with `concurrency` workers until `maxOps` (at most {@link MAX_OPS}) or
 * `durationMs`, recording each operation's latency; a thrown operation counts as an error.
 */
export async function runPhase(op: (i: number) => Promise<void>, concurrency: number, durationMs: number, maxOps: number): Promise<LoadPhase> {
  const lat = new Float64Array(Math.min(maxOps, MAX_OPS))
  let next = 0
  let done = 0
  let errors = 0
  const start = performance.now()
  const deadline = start + durationMs
  const worker = async () => {
    while (next < lat.length && performance.now() < deadline) {
      const i = next++
      const t0 = performance.now()
      try {
        await op(i)
      } catch {
        errors++
      }
      lat[done++] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({length: concurrency}, worker))
  const elapsed = (performance.now() - start) / 1000
  const sorted = lat.slice(0, done).sort()
  return {ops: done, errors, opsPerSec: done / elapsed, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99)}
}
