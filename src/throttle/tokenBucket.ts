/**
 * TokenBucket limits a byte rate: `take(n)` says how long to wait before `n` bytes may go.
 * Capacity is one second's worth (so bursts stay short and the rate smooth), but a single
 * request larger than that is allowed after the bucket has refilled — it just borrows,
 * making the bucket negative. The rate can change live; `null` means unlimited.
 * Time is injected (milliseconds), so the arithmetic is tested without sleeping.
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private rate: number | null,
    private readonly now: () => number,
  ) {
    this.tokens = rate ?? 0
    this.last = now()
  }

  /** setRate changes the rate from now on; tokens above the new capacity are dropped. */
  setRate(rate: number | null): void {
    this.refill()
    this.rate = rate
    if (rate !== null) this.tokens = Math.min(this.tokens, rate)
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
    if (this.rate !== null) this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate)
    this.last = t
  }
}

/**
 * waitForAll reserves `bytes` on every bucket (global, source node, target node) and
 * returns the longest wait: the copy goes at the rate of the tightest limit.
 */
export function reserveAll(buckets: readonly TokenBucket[], bytes: number): number {
  return Math.max(0, ...buckets.map((b) => b.take(bytes)))
}
