import {type LatencyReading} from './adaptiveThrottle.js'

/**
 * LatencyTarget is what `--max-client-p99` sets for `--throttle auto`: a p99 in milliseconds,
 * or a factor of the clients' p99 measured before the run's first copy (`2x`, the default:
 * the same bound bench:move holds a move to).
 */
export type LatencyTarget = {ms: number} | {factor: number}

/**
 * parseLatencyTarget reads `2x` / `1.5x` (a factor over 1, at most 100) as a factor and
 * anything else with `parseDuration` (passed in, so this module stays free of the CLI's
 * units) as milliseconds. Throws RangeError naming the input.
 */
export function parseLatencyTarget(input: string, parseDuration: (s: string) => number): LatencyTarget {
  const m = /^\s*(\d+(?:\.\d+)?)\s*x\s*$/i.exec(input)
  if (!m) return {ms: parseDuration(input)}
  const factor = Number(m[1])
  if (!(factor > 1 && factor <= 100)) throw new RangeError(`"${input}" is not a factor over 1x (at most 100x); use e.g. 2x, or a duration such as 25ms`)
  return {factor}
}

/** BaselineOptions bound how the clients' p99 before the copies is measured (see {@link measureBaseline}). */
export interface BaselineOptions {
  /** readings: how many fresh readings to take (their median is the baseline). */
  readings: number
  /** minSamples: a reading resting on fewer latencies is too thin to set a target on. */
  minSamples: number
  /** maxMs: how long to wait for them before going on with what was read (or the fallback). */
  maxMs: number
  /** everyMs: how often to read (the routers publish a new reading every second). */
  everyMs: number
  /** floorMs: the target is never set under this (a baseline of a fraction of a millisecond is noise, not a budget). */
  floorMs: number
  /** fallbackMs: the target when no reading came in time (no client traffic to measure). */
  fallbackMs: number
  /** steadyMinMs, steadyMinSamples: a reading's steady window (see LatencyReading.steady) is the baseline when it reaches back this far over this many latencies. */
  steadyMinMs: number
  steadyMinSamples: number
}

/**
 * BASELINE_DEFAULTS: a steady window of 5 s or more over 200 latencies or more (its p99 is
 * then the 3rd-slowest or better); else three readings within 4.5 s, each of 20 latencies or
 * more; never under 5 ms; 25 ms without any.
 */
export const BASELINE_DEFAULTS: BaselineOptions = {readings: 3, minSamples: 20, maxMs: 4500, everyMs: 1000, floorMs: 5, fallbackMs: 25, steadyMinMs: 5000, steadyMinSamples: 200}

/** Baseline is the outcome of {@link measureBaseline}: the target to use and what it rests on. */
export interface Baseline {
  targetMs: number
  /** baselineMs is the steady window's p99, or the median p99 of the readings taken; null when none was (the target is then the fallback). */
  baselineMs: number | null
  /** readings: how many readings the median was taken over (1 for a steady window). */
  readings: number
  /** steady: the window the baseline was read over, when it was a steady one. */
  steady?: {windowMs: number; samples: number}
}

/**
 * baselineTarget turns the readings taken before the copies into the target: `factor` × the
 * median of their p99s (the median, so one slow second does not double the budget), at least
 * `floorMs`; `fallbackMs` without readings. Pure.
 */
export function baselineTarget(readings: readonly LatencyReading[], factor: number, opts: Pick<BaselineOptions, 'floorMs' | 'fallbackMs'>): Baseline {
  if (readings.length === 0) return {targetMs: opts.fallbackMs, baselineMs: null, readings: 0}
  const p99s = readings.map((r) => r.p99Ms).sort((a, b) => a - b)
  const mid = p99s.length >> 1
  const median = p99s.length % 2 === 1 ? p99s[mid]! : (p99s[mid - 1]! + p99s[mid]!) / 2
  return {targetMs: Math.max(opts.floorMs, factor * median), baselineMs: median, readings: readings.length}
}

/** BaselineDeps are measureBaseline's clock and wait (the executor's own, so tests run it on a manual clock). */
export interface BaselineDeps {
  now: () => number
  sleep: (ms: number, signal: AbortSignal) => Promise<void>
}

/**
 * steadyBaseline is the target `factor` × a reading's steady p99 (at least `floorMs`), or
 * null when the reading has no steady window long and full enough to rest a baseline on.
 * Pure.
 */
export function steadyBaseline(r: LatencyReading, factor: number, opts: Pick<BaselineOptions, 'floorMs' | 'steadyMinMs' | 'steadyMinSamples'>): Baseline | null {
  const w = r.steady
  if (!w || w.windowMs < opts.steadyMinMs || w.samples < opts.steadyMinSamples) return null
  return {targetMs: Math.max(opts.floorMs, factor * w.p99Ms), baselineMs: w.p99Ms, readings: 1, steady: {windowMs: w.windowMs, samples: w.samples}}
}

/**
 * measureBaseline reads the clients' p99 (`read`, the executor's latency signal) and returns
 * the target `factor` × the baseline sets. The baseline is the first reading's steady p99
 * when it has one (see {@link steadyBaseline}: the p99 of the last 10 s on kv routers,
 * thousands of latencies under a steady load); otherwise it reads until it has `readings`
 * fresh ones (a new window each, of `minSamples` latencies or more) or `maxMs` passed, and
 * takes their median (see {@link baselineTarget}). A one-second p99 rests on a few slow
 * requests: three of them gave 6 to 27 ms for the same clients in bench:move, which set a
 * target that starved the copy or let the clients past 2x. A read that fails counts as no
 * reading. Stops early when `signal` aborts.
 */
export async function measureBaseline(read: () => Promise<LatencyReading | null>, factor: number, deps: BaselineDeps, signal: AbortSignal, opts: BaselineOptions = BASELINE_DEFAULTS): Promise<Baseline> {
  const taken: LatencyReading[] = []
  const until = deps.now() + opts.maxMs
  let lastAt = -Infinity
  while (taken.length < opts.readings && !signal.aborted) {
    const r = await read().catch(() => null)
    const steady = r ? steadyBaseline(r, factor, opts) : null
    if (steady) return steady
    if (r && r.at > lastAt && r.samples >= opts.minSamples) {
      lastAt = r.at
      taken.push(r)
      if (taken.length >= opts.readings) break
    }
    if (deps.now() + opts.everyMs > until) break
    await deps.sleep(opts.everyMs, signal).catch(() => undefined)
  }
  return baselineTarget(taken, factor, opts)
}
