import {nearestRankInPlace} from './nearestRank.js'

/** LatencyReport is a p99 over the newest client latencies, with what it rests on. */
export interface LatencyReport {
  /** p99Ms is the 99th percentile of the latencies in the window (ms). */
  p99Ms: number
  /** samples is how many latencies the p99 is taken over (few samples: a noisy p99). */
  samples: number
  /** windowMs is how far back the window reaches from its end (whole slices), to its oldest slice with a latency. */
  windowMs: number
}

/** RecentLatencyOptions tune {@link RecentLatency}. */
export interface RecentLatencyOptions {
  /** sliceMs is how long one slice lasts: the caller calls `rotate()` this often. */
  sliceMs: number
  /** minSamples: the window grows, a slice at a time, until it holds this many latencies... */
  minSamples: number
  /** maxSlices: ...or reaches this many slices, whichever comes first. */
  maxSlices: number
  /** capacity bounds the latencies kept per slice (the newest are kept). */
  capacity: number
  /** steadySlices: how many slices {@link RecentLatency.steady} reports over (at least maxSlices). */
  steadySlices: number
}

/** DEFAULT_RECENT_LATENCY: one-second slices, windows of 200 samples or 5 s; the steady window 10 s. */
export const DEFAULT_RECENT_LATENCY: RecentLatencyOptions = {sliceMs: 1000, minSamples: 200, maxSlices: 5, capacity: 4096, steadySlices: 10}

/**
 * RecentLatency keeps client latencies in slices of `sliceMs` (the caller closes each with
 * `rotate()`) and reports the p99 of the newest slices: as few as hold `minSamples`
 * latencies, at most `maxSlices`. An adaptive copy throttle needs a p99 that is both fresh
 * (one that still averages over a breach that ended keeps it cutting) and resting on enough
 * samples (the p99 of 30 latencies is the worst one): under a busy load the window is one
 * slice, under a light one it stretches. Beside it, {@link steady} reports the p99 of all the
 * last `steadySlices` slices: the figure a baseline is set from, where a one-second p99 (the
 * 3rd-slowest of 250 requests) swings 3x from one second to the next. Pure: no clock, no timers.
 */
export class RecentLatency {
  private readonly slices: Float64Array[] = []
  private current: Float64Array
  private count = 0

  constructor(private readonly opts: RecentLatencyOptions = DEFAULT_RECENT_LATENCY) {
    this.current = new Float64Array(opts.capacity)
  }

  /** record adds one latency (ms) to the open slice. */
  record(ms: number): void {
    this.current[this.count % this.opts.capacity] = ms
    this.count++
  }

  /**
   * rotate closes the open slice and returns the report over the newest closed slices
   * (null when they hold no latency at all). The closed slice is kept for the next
   * `max(maxSlices, steadySlices) - 1` reports.
   */
  rotate(): LatencyReport | null {
    this.slices.unshift(this.current.subarray(0, Math.min(this.count, this.opts.capacity)))
    if (this.slices.length > Math.max(this.opts.maxSlices, this.opts.steadySlices)) this.slices.pop()
    this.current = new Float64Array(this.opts.capacity)
    this.count = 0
    let used = 0
    let kept = 0
    while (used < Math.min(this.slices.length, this.opts.maxSlices) && kept < this.opts.minSamples) kept += this.slices[used++]?.length ?? 0
    return this.reportOver(used)
  }

  /**
   * steady returns the report over every closed slice kept, up to `steadySlices`, back to the
   * oldest of them that holds a latency (a router that started 3 s ago reports 3 s, and so
   * does one whose clients came 3 s ago after an idle spell: a baseline needs latencies that
   * span its window, not a burst padded with empty seconds); null when they hold no latency.
   * Call it after `rotate`.
   */
  steady(): LatencyReport | null {
    return this.reportOver(Math.min(this.slices.length, this.opts.steadySlices))
  }

  /**
   * reportOver is the p99 of the newest `used` closed slices (null when they are empty); its
   * window reaches back to the oldest of them with a latency, for both reports alike.
   */
  private reportOver(used: number): LatencyReport | null {
    while (used > 0 && this.slices[used - 1]?.length === 0) used--
    let kept = 0
    for (let i = 0; i < used; i++) kept += this.slices[i]?.length ?? 0
    if (kept === 0) return null
    const all = new Float64Array(kept)
    let at = 0
    for (let i = 0; i < used; i++) {
      const s = this.slices[i] ?? new Float64Array(0)
      all.set(s, at)
      at += s.length
    }
    return {p99Ms: nearestRankInPlace(all, 0.99), samples: kept, windowMs: used * this.opts.sliceMs}
  }
}
