/** STALL_RATE is the rate (bytes/s) under which a copy counts as making no progress. */
export const STALL_RATE = 0.1 * 1024 * 1024
/** STALL_WINDOW_MS is how long a copy must stay under STALL_RATE to be flagged stalled. */
export const STALL_WINDOW_MS = 30_000

/**
 * CopyMeter tracks a copy's rate (bytes over a sliding window) and whether it stalled
 * (under {@link STALL_RATE} for a whole {@link STALL_WINDOW_MS}). Time is passed in, so it
 * is pure and tested without waiting.
 */
export class CopyMeter {
  private samples: {t: number; bytes: number}[] = []
  private readonly startedAt: number

  constructor(now: number) {
    this.startedAt = now
    this.samples.push({t: now, bytes: 0})
  }

  /** record adds `bytes` copied at time `now`. */
  record(now: number, bytes: number): void {
    this.samples.push({t: now, bytes})
    const cutoff = now - STALL_WINDOW_MS
    while (this.samples.length > 2 && this.samples[1]!.t <= cutoff) this.samples.shift()
  }

  /** rate is bytes per second over the window ending at `now` (0 before any time passed). */
  rate(now: number): number {
    const from = Math.max(this.samples[0]!.t, now - STALL_WINDOW_MS)
    const bytes = this.samples.filter((s) => s.t > from).reduce((a, s) => a + s.bytes, 0)
    const secs = (now - from) / 1000
    return secs > 0 ? bytes / secs : 0
  }

  /** stalled is true once the copy has run a full window and moved under STALL_RATE in it. */
  stalled(now: number): boolean {
    if (now - this.startedAt < STALL_WINDOW_MS) return false
    const bytes = this.samples.filter((s) => s.t > now - STALL_WINDOW_MS).reduce((a, s) => a + s.bytes, 0)
    return bytes / (STALL_WINDOW_MS / 1000) < STALL_RATE
  }
}
