import {KeyLoadSampler} from './keyLoadSampler.js'

/**
 * LoadMeter turns per-shard read and write counts into exponentially weighted ops/s.
 * `tick(now)` folds the counts since the previous tick in with weight 1 - e^(-dt/tau),
 * so the rate follows a step change with time constant `tau` whatever the tick spacing.
 *
 * A shard's series starts in the window of its first count (a replica the node just took,
 * or every shard after a restart). A plain average started at 0 would report such a replica
 * at 1 - e^(-age/tau) of its real rate (10 % after 1 s, 26 % after 3 s), so a node just
 * filled looks cold and planners keep piling load on it. Each series therefore also tracks
 * the total weight its windows have had (the same average taken of the constant 1) and
 * reports rate ÷ weight: the bias-corrected estimate (as in Adam's moment estimates), which
 * is the plain count ÷ time for a series' first window and the usual average once it is old.
 * The clock is the caller's (ticks carry `now`), so tests drive time. Requests given with
 * their key hash are also sampled by key ({@link keySample}), one window per tick.
 */
export class LoadMeter {
  private readonly counts = new Map<number, {reads: number; writes: number}>()
  private readonly rates = new Map<number, {reads: number; writes: number; weight: number}>()
  private last: number
  private readonly keys: KeyLoadSampler

  constructor(
    now: number,
    private readonly tauMs = 10_000,
    random: () => number = Math.random,
  ) {
    this.last = now
    this.keys = new KeyLoadSampler(random)
  }

  /** read counts `n` reads of `shard`; with `keyHash`, the read is also sampled by key. */
  read(shard: number, n = 1, keyHash?: number): void {
    this.entry(shard).reads += n
    if (keyHash !== undefined) this.keys.record(shard, keyHash)
  }

  /** write counts `n` written records of `shard`; each of `keyHashes` (one per record) is sampled by key. */
  write(shard: number, n = 1, keyHashes: readonly number[] = []): void {
    this.entry(shard).writes += n
    for (const h of keyHashes) this.keys.record(shard, h)
  }

  /** keySample is `shard`'s key-hash sample of the last tick's window (see {@link KeyLoadSampler}); undefined when none. */
  keySample(shard: number): readonly number[] | undefined {
    return this.keys.sample(shard)
  }

  /** tick folds the counts since the last tick into the rates. */
  tick(now: number): void {
    const dt = now - this.last
    if (dt <= 0) return
    this.last = now
    this.keys.rotate()
    const alpha = 1 - Math.exp(-dt / this.tauMs)
    const ids = new Set([...this.counts.keys(), ...this.rates.keys()])
    for (const id of ids) {
      const c = this.counts.get(id) ?? {reads: 0, writes: 0}
      const r = this.rates.get(id) ?? {reads: 0, writes: 0, weight: 0}
      r.reads += alpha * ((c.reads * 1000) / dt - r.reads)
      r.writes += alpha * ((c.writes * 1000) / dt - r.writes)
      r.weight += alpha * (1 - r.weight)
      this.rates.set(id, r)
    }
    this.counts.clear()
  }

  /** rate returns `shard`'s smoothed reads/s and writes/s (0 for a shard never counted). */
  rate(shard: number): {reads: number; writes: number} {
    const r = this.rates.get(shard)
    return r && r.weight > 0 ? {reads: round(r.reads / r.weight), writes: round(r.writes / r.weight)} : {reads: 0, writes: 0}
  }

  /** retain forgets every shard not in `held` (a replica the node gave away starts a new series if it comes back). */
  retain(held: ReadonlySet<number>): void {
    for (const id of new Set([...this.counts.keys(), ...this.rates.keys()])) if (!held.has(id)) this.forget(id)
  }

  /** forget drops a shard the node no longer holds. */
  forget(shard: number): void {
    this.counts.delete(shard)
    this.rates.delete(shard)
    this.keys.forget(shard)
  }

  private entry(shard: number): {reads: number; writes: number} {
    let e = this.counts.get(shard)
    if (!e) {
      e = {reads: 0, writes: 0}
      this.counts.set(shard, e)
    }
    return e
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}
