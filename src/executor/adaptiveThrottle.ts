/** AimdOptions tune the adaptive copy throttle. */
export interface AimdOptions {
  /** targetP99Ms is the client p99 the copy must not push the routers above. */
  targetP99Ms: number
  /** start, min and max bound the rate (bytes/s). */
  start: number
  min: number
  max: number
  /** increase is added per observation while p99 is under target (additive increase). */
  increase: number
  /** decreaseFactor multiplies the rate when p99 is over target (multiplicative decrease). */
  decreaseFactor: number
}

/** defaultAimd gives sensible AIMD settings for a p99 target: start at 8 MiB/s, +4 MiB/s per second, halve on breach. */
export function defaultAimd(targetP99Ms: number): AimdOptions {
  const MiB = 1024 * 1024
  return {targetP99Ms, start: 8 * MiB, min: 256 * 1024, max: 1024 * MiB, increase: 4 * MiB, decreaseFactor: 0.5}
}

/**
 * AimdThrottle adapts the copy rate to what clients feel: each observation of the routers'
 * worst reported p99 raises the rate additively while it stays under target and cuts it
 * multiplicatively when it rises above (TCP-style AIMD, which converges to a fair share of
 * the headroom and backs off fast). No reading (no routers, or none has data yet) holds
 * the rate. Pure: the caller feeds observations once per interval.
 */
export class AimdThrottle {
  private rate: number

  constructor(private readonly opts: AimdOptions) {
    this.rate = clamp(opts.start, opts.min, opts.max)
  }

  /** current is the rate to apply now (bytes/s). */
  current(): number {
    return this.rate
  }

  /** observe folds in the worst router p99 (ms) of the last interval and returns the new rate. */
  observe(p99Ms: number | null): number {
    if (p99Ms === null || !Number.isFinite(p99Ms)) return this.rate
    const next = p99Ms > this.opts.targetP99Ms ? this.rate * this.opts.decreaseFactor : this.rate + this.opts.increase
    this.rate = clamp(next, this.opts.min, this.opts.max)
    return this.rate
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}
