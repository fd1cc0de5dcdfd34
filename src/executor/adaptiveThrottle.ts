/** LatencyReading is one report of the latency clients feel, as `--throttle auto` reads it. */
export interface LatencyReading {
  /** p99Ms is the clients' p99 in the window (ms). */
  p99Ms: number
  /** samples is how many latencies the p99 rests on. */
  samples: number
  /** windowMs is how far back the window reaches from `at`. */
  windowMs: number
  /** at is when the window closed (ms since the epoch); a reading with the same `at` as the last one is not new. */
  at: number
  /** steady is the p99 over a longer window ending at `at` (kv routers: their last 10 s), what a baseline is set from; absent where the signal has none. */
  steady?: {p99Ms: number; samples: number; windowMs: number}
}

/** LatencyThrottleOptions tune {@link LatencyThrottle}. */
export interface LatencyThrottleOptions {
  /** targetP99Ms is the client p99 the copy must keep the clients under. */
  targetP99Ms: number
  /** start, min and max bound the rate (bytes/s): min and max are never crossed. */
  start: number
  min: number
  max: number
  /** minSamples: a reading resting on fewer latencies is too thin to raise the rate on (it may still cut it). */
  minSamples: number
  /** settleMs: how long after a rate change the nodes copy at it; a window starting earlier still shows the old rate. */
  settleMs: number
  /** maxAgeMs: a reading whose window closed longer ago than this says nothing about now. */
  maxAgeMs: number
  /** band: the rate rises only while p99 < band × target (the set point sits just under the target, not on it). */
  band: number
  /** maxRaise is the largest factor one step raises the rate by (far under target). */
  maxRaise: number
  /** minRaise (bytes/s) is the least a raise adds, so a rate near the floor can climb. */
  minRaise: number
  /** maxCut is the smallest factor one step cuts the rate to (far over target). */
  maxCut: number
  /** flowHeadroom: the rate never rises above this × the rate the copies actually flow at (no wind-up past what the machine copies). */
  flowHeadroom: number
  /**
   * floorNotice: when `over` of the last `of` fresh readings were over target by more than a
   * cut down to `min` could answer (the floor clipped the cut), one step says so
   * ({@link ControlStep.floorBound}), at most once every `everyMs`: the target is out of the
   * throttle's reach.
   */
  floorNotice: {over: number; of: number; everyMs: number}
}

const MiB = 1024 * 1024

/**
 * defaultLatencyThrottle returns the settings `--throttle auto --max-client-p99 <target>`
 * runs with: start at 8 MiB/s, between 256 KiB/s and 1 GiB/s; readings at most 5 s old,
 * from windows starting 0.5 s after the last change; raise by up to ×1.5 while p99 is
 * under 0.8 × target (on readings of 20 latencies or more), cut by up to ×0.25 over it;
 * say so when 5 of the last 10 readings asked for a cut below the floor (at most once a minute).
 */
export function defaultLatencyThrottle(targetP99Ms: number): LatencyThrottleOptions {
  return {targetP99Ms, start: 8 * MiB, min: 256 * 1024, max: 1024 * MiB, minSamples: 20, settleMs: 500, maxAgeMs: 5000, band: 0.8, maxRaise: 1.5, minRaise: 256 * 1024, maxCut: 0.25, flowHeadroom: 2, floorNotice: {over: 5, of: 10, everyMs: 60_000}}
}

/** ControlAction is what one control step did: raised, cut, or held the rate (and why it held). */
export type ControlAction = 'raise' | 'cut' | 'hold' | 'no reading' | 'seen' | 'stale' | 'few samples' | 'settling' | 'idle'

/** ControlStep is the outcome of one observation: the rate to apply now and what led to it. */
export interface ControlStep {
  rate: number
  action: ControlAction
  /**
   * floorBound is set on a step where `floorNotice.over` of the last `floorNotice.of` fresh
   * readings asked for a cut the floor clipped (at most once every `floorNotice.everyMs`):
   * the clients' p99 is not the copy's rate to fix (the move itself, or load that is not the
   * copy's, costs them that). `over` of `of` is what was seen, `p99Ms` the last reading.
   */
  floorBound?: {over: number; of: number; p99Ms: number}
}

/**
 * LatencyThrottle adapts the copy rate to what clients feel, one new latency reading at a
 * time (why, in docs/moves.md "--throttle auto"):
 *
 * - a reading acts once (the same `at` again holds), and only when it is fresh and its
 *   window began `settleMs` after the last change: a window that still shows the old rate
 *   would make the controller cut again for a breach it already answered, or raise again
 *   while the last raise's breach builds. The exception is a breach right after a raise:
 *   that one is cut at once;
 * - over target, the rate is cut in proportion to the overshoot: × target/p99 (at least
 *   `maxCut`), so a small overshoot costs a little and a real overload is halved or
 *   quartered at once;
 * - under `band` × target, the rate rises by the headroom: × (1 + band − p99/target), at
 *   most `maxRaise` and at least `minRaise`, and never past `flowHeadroom` × the rate the
 *   copies flow at (so it does not wind up past what the machine copies, and a cut acts at
 *   once), and not while no copy flows (between moves); only on a reading of `minSamples`
 *   latencies or more; between the two it holds.
 *
 * The rate stays within [min, max]. Pure: time and readings are passed in.
 */
export class LatencyThrottle {
  private rate: number
  private lastAt = -Infinity
  private changedAt = -Infinity
  private lastChange: 'raise' | 'cut' | undefined
  /** clipped: for each of the last floorNotice.of fresh readings, whether it asked for a cut below the floor. */
  private clipped: boolean[] = []
  private noticedAt = -Infinity

  constructor(private readonly opts: LatencyThrottleOptions) {
    this.rate = clamp(opts.start, opts.min, opts.max)
  }

  /** current is the rate to apply now (bytes/s). */
  current(): number {
    return this.rate
  }

  /** target is the p99 (ms) the rate is adapted to. */
  target(): number {
    return this.opts.targetP99Ms
  }

  /**
   * observe folds in `reading` (null: nothing measured) at time `now` (ms since the epoch,
   * the clock readings are stamped with) given the rate the copies flow at (bytes/s; null
   * when no copy reports flowing: then the rate is not raised) and returns the step taken.
   */
  observe(reading: LatencyReading | null, now: number, flowing: number | null): ControlStep {
    const o = this.opts
    if (!reading) return this.hold('no reading')
    if (reading.at <= this.lastAt) return this.hold('seen')
    this.lastAt = reading.at
    if (now - reading.at > o.maxAgeMs) return this.hold('stale')
    const x = reading.p99Ms / o.targetP99Ms
    // A window that straddles the last change is ignored, except a breach after a raise:
    // that breach is building (or the raise did not help), so waiting a window only deepens it.
    const straddles = reading.at - reading.windowMs < this.changedAt + o.settleMs
    if (straddles && !(x > 1 && this.lastChange === 'raise')) return this.hold('settling')
    if (x > 1) return this.cutOver(x, reading.p99Ms, now)
    this.remember(false)
    if (x >= o.band) return this.hold('hold')
    if (reading.samples < o.minSamples) return this.hold('few samples')
    if (flowing === null) return this.hold('idle')
    let next = Math.max(this.rate * Math.min(o.maxRaise, 1 + o.band - x), this.rate + o.minRaise)
    next = Math.min(next, Math.max(this.rate, flowing * o.flowHeadroom))
    if (next <= this.rate) return this.hold('hold')
    return this.set(next, 'raise', now)
  }

  /** cutOver cuts for a reading `x` × target, and notes whether the floor clipped the cut (see ControlStep.floorBound). */
  private cutOver(x: number, p99Ms: number, now: number): ControlStep {
    const wanted = this.rate * Math.max(this.opts.maxCut, 1 / x)
    const step = this.set(wanted, 'cut', now)
    this.remember(wanted < this.opts.min)
    const {over, of, everyMs} = this.opts.floorNotice
    const seen = this.clipped.filter(Boolean).length
    if (seen < over || now - this.noticedAt < everyMs) return step
    this.noticedAt = now
    this.clipped = []
    return {...step, floorBound: {over: seen, of, p99Ms}}
  }

  private remember(clipped: boolean): void {
    this.clipped.push(clipped)
    if (this.clipped.length > this.opts.floorNotice.of) this.clipped.shift()
  }

  private hold(action: ControlAction): ControlStep {
    return {rate: this.rate, action}
  }

  private set(rate: number, action: 'raise' | 'cut', now: number): ControlStep {
    const next = clamp(rate, this.opts.min, this.opts.max)
    if (next === this.rate) return this.hold('hold')
    this.changedAt = now
    this.lastChange = action
    this.rate = next
    return {rate: next, action}
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v))
}
