import {nearestRankInPlace} from './nearestRank.js'

/**
 * LatencyWindow keeps the latencies of the current reporting window in a bounded buffer
 * (the most recent `capacity`) and yields their p99 when the window is closed, for the
 * router's registration (an adaptive copy throttle reads it).
 */
export class LatencyWindow {
  private readonly samples: Float64Array
  private count = 0

  constructor(private readonly capacity = 4096) {
    this.samples = new Float64Array(capacity)
  }

  /** record adds one latency in milliseconds. */
  record(ms: number): void {
    this.samples[this.count % this.capacity] = ms
    this.count++
  }

  /** takeP99 returns the window's p99 (null when empty) and starts a new window. */
  takeP99(): number | null {
    return this.take()?.p99Ms ?? null
  }

  /** take returns the window's p99 and the latencies it rests on (null when empty) and starts a new window. */
  take(): {p99Ms: number; samples: number} | null {
    const n = Math.min(this.count, this.capacity)
    this.count = 0
    if (n === 0) return null
    return {p99Ms: nearestRankInPlace(this.samples.slice(0, n), 0.99), samples: n}
  }
}
