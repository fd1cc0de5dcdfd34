/**
 * BURST_SECONDS is how much of its rate a bucket may save up: a caller that paused (a
 * commit, a slow peer) may then send that much at once. It bounds how far any window of
 * W seconds can run over the rate: by (BURST_SECONDS + one request's worth) / W, so with
 * copy frames of 0.1 s (copyFrames.ts) a 10 s window stays within +3.5 %. A whole second
 * (the first version) let a window run up to +10 % over; a short pause longer than this
 * costs the caller the excess instead (the rate is a ceiling, never made up later).
 */
export const BURST_SECONDS = 0.25

/**
 * TokenBucket limits a byte rate: `take(n)` says how long to wait before `n` bytes may go.
 * It starts empty — a fresh bucket (a new copy, a new throttle) gives no head start, so
 * the first window of a throttled copy holds the rate too — and saves up at most
 * {@link BURST_SECONDS} of its rate. A request larger than that is still allowed: it
 * borrows, making the bucket negative, and the caller waits the debt off. The rate can
 * change live; `null` means unlimited. Time is injected (milliseconds), so the arithmetic
 * is tested without sleeping. Guarantee: over any interval of t ms the bytes released are
 * at most rate × t / 1000 + rate × BURST_SECONDS + the largest single request.
 */
export class TokenBucket {
  private tokens = 0
  private last: number

  constructor(
    private rate: number | null,
    private readonly now: () => number,
  ) {
    this.last = now()
  }

  /**
   * setRate changes the rate from now on. Saved tokens above the new burst are dropped;
   * a debt (a request already reserved) stays, and is paid off at the new rate when that
   * is faster; a slower rate keeps the time the debt had left at the old one. The caller
   * that ran up the debt is already sleeping it off at the old rate, so paying it again at
   * a cut rate would hold the next request for the old request's bytes at the new rate: a
   * copy frame of 0.1 s at 20 MiB/s, cut to 32 KiB/s, would stall the stream for a minute
   * (its reader gives the source up as dead after 30 s of silence). Leaving unlimited
   * starts empty, as a new bucket does.
   */
  setRate(rate: number | null): void {
    this.refill()
    const before = this.rate
    if (before === null) this.tokens = 0
    this.rate = rate
    if (rate === null) return
    if (this.tokens < 0 && before !== null && rate < before) this.tokens *= rate / before
    this.tokens = Math.min(this.tokens, rate * BURST_SECONDS)
  }

  /** currentRate is the configured rate (bytes/s), or null when unlimited. */
  currentRate(): number | null {
    return this.rate
  }

  /**
   * take reserves `bytes` and returns the milliseconds the caller must wait before sending
   * them (0 when they may go now). Reservations queue: concurrent callers each wait their turn.
   */
  take(bytes: number): number {
    if (this.rate === null) return 0
    this.refill()
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000)
  }

  private refill(): void {
    const t = this.now()
    if (this.rate !== null) this.tokens = Math.min(this.rate * BURST_SECONDS, this.tokens + ((t - this.last) / 1000) * this.rate)
    this.last = t
  }
}

/**
 * reserveAll reserves `bytes` on every bucket (global, source node, target node) and
 * returns the longest wait: the copy goes at the rate of the tightest limit.
 */
export function reserveAll(buckets: readonly TokenBucket[], bytes: number): number {
  return Math.max(0, ...buckets.map((b) => b.take(bytes)))
}
