/** STALL_RATE is the rate (bytes/s) under which an unthrottled copy counts as making no progress. */
export const STALL_RATE = 0.1 * 1024 * 1024
/** STALL_WINDOW_MS is how long a copy must stay under its stall threshold to be flagged stalled. */
export const STALL_WINDOW_MS = 30_000
/**
 * RATE_WINDOW_MS is the default window of the rate `moves show`, `top` and the ETA show
 * (`--rate-window`): short, so the figure follows a `throttle set` within a few seconds (a
 * 30 s average still showed most of the old rate 10 s after the change), yet long enough to
 * span many frames.
 */
export const RATE_WINDOW_MS = 5_000
/**
 * MIN_RATE_WINDOW_MS is the shortest rate window: the executor polls a copy's progress every
 * 250 ms, so a shorter window would hold a handful of samples and jump with each.
 */
export const MIN_RATE_WINDOW_MS = 1_000
/** MAX_RATE_WINDOW_MS is the longest rate window: a meter keeps only the stall window's samples. */
export const MAX_RATE_WINDOW_MS = STALL_WINDOW_MS
/**
 * STALL_SHARE_FRACTION: a throttled copy is stalled under this fraction of its throttle
 * share. A healthy throttled copy runs at about its share, so a quarter leaves room for
 * chunk granularity and a slow node without calling a working move stalled.
 */
export const STALL_SHARE_FRACTION = 0.25

/** ThrottleRates are the limits one move copies under (bytes/s; null = unlimited). */
export interface ThrottleRates {
  global: number | null
  /** running is how many copies share the global rate now (at least 1 is assumed). */
  running: number
  source: number | null
  destination: number | null
}

/**
 * throttleShare is the rate one move can expect: the global rate split evenly among the
 * copies running, capped by its source's and destination's node rates (the caller gives each
 * its share of the node: the node's rate over the copies through it). Null when nothing
 * limits it.
 */
export function throttleShare(r: ThrottleRates): number | null {
  const limits = [r.global === null ? null : r.global / Math.max(1, r.running), r.source, r.destination].filter((x): x is number => x !== null)
  return limits.length === 0 ? null : Math.min(...limits)
}

/**
 * stallThreshold is the rate (bytes/s) under which a copy with throttle `share` counts as
 * stalled: {@link STALL_RATE} when unthrottled, otherwise {@link STALL_SHARE_FRACTION} of
 * the share when that is lower, so a move throttled to 64 KiB/s is not called stalled
 * for copying at 64 KiB/s.
 */
export function stallThreshold(share: number | null): number {
  return share === null ? STALL_RATE : Math.min(STALL_RATE, share * STALL_SHARE_FRACTION)
}

/**
 * CopyMeter tracks a copy's live rate (bytes over the last `rateWindowMs`, default
 * {@link RATE_WINDOW_MS}) and whether it stalled (under a threshold for a whole
 * {@link STALL_WINDOW_MS}). Time is passed in, so it is pure and tested without waiting.
 */
export class CopyMeter {
  private samples: {t: number; bytes: number}[] = []
  private readonly startedAt: number

  /** Throws RangeError for a window outside {@link MIN_RATE_WINDOW_MS}..{@link MAX_RATE_WINDOW_MS} (the flag refuses those first). */
  constructor(
    now: number,
    private readonly rateWindowMs = RATE_WINDOW_MS,
  ) {
    if (!(rateWindowMs >= MIN_RATE_WINDOW_MS && rateWindowMs <= MAX_RATE_WINDOW_MS)) throw new RangeError(`rate window ${rateWindowMs} ms is outside ${MIN_RATE_WINDOW_MS}..${MAX_RATE_WINDOW_MS} ms`)
    this.startedAt = now
    this.samples.push({t: now, bytes: 0})
  }

  /** record adds `bytes` copied at time `now`. */
  record(now: number, bytes: number): void {
    this.samples.push({t: now, bytes})
    const cutoff = now - STALL_WINDOW_MS
    while (this.samples.length > 2 && this.samples[1]!.t <= cutoff) this.samples.shift()
  }

  /** rate is bytes per second over the rate window ending at `now` (or since the start, when shorter; 0 before any time passed). */
  rate(now: number): number {
    const from = Math.max(this.samples[0]!.t, now - this.rateWindowMs)
    const bytes = this.samples.filter((s) => s.t > from).reduce((a, s) => a + s.bytes, 0)
    const secs = (now - from) / 1000
    return secs > 0 ? bytes / secs : 0
  }

  /**
   * stalled is true once the copy has run a full window and moved under `threshold`
   * bytes/s (default {@link STALL_RATE}; see {@link stallThreshold}) in it.
   */
  stalled(now: number, threshold = STALL_RATE): boolean {
    if (now - this.startedAt < STALL_WINDOW_MS) return false
    const bytes = this.samples.filter((s) => s.t > now - STALL_WINDOW_MS).reduce((a, s) => a + s.bytes, 0)
    return bytes / (STALL_WINDOW_MS / 1000) < threshold
  }
}
