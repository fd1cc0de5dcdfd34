/** KEY_SAMPLE_SIZE bounds one shard's sample: memory per shard is constant whatever its load. */
export const KEY_SAMPLE_SIZE = 32

/**
 * KeyLoadSampler keeps, per shard, a uniform sample of the key hashes of the requests served
 * in the current window (reservoir sampling, at most {@link KEY_SAMPLE_SIZE} hashes), and the
 * sample of the last complete window. A hash appears once per sampled request, so a key that
 * takes half the requests fills about half the sample: the sample shows where in the shard's
 * range the load sits (the planner splits where it halves) and which keys alone drive it.
 * Memory is bounded: two arrays of at most KEY_SAMPLE_SIZE numbers per shard. The random
 * source is injected so tests are deterministic.
 */
export class KeyLoadSampler {
  private readonly current = new Map<number, {seen: number; hashes: number[]}>()
  private readonly last = new Map<number, number[]>()

  constructor(private readonly random: () => number = Math.random) {}

  /** record samples one request of `shard` for the key hashing to `hash`. */
  record(shard: number, hash: number): void {
    let window = this.current.get(shard)
    if (!window) this.current.set(shard, (window = {seen: 0, hashes: []}))
    window.seen++
    if (window.hashes.length < KEY_SAMPLE_SIZE) {
      window.hashes.push(hash)
      return
    }
    // Algorithm R: the n-th request replaces a random slot with probability size/n.
    const slot = Math.floor(this.random() * window.seen)
    if (slot < KEY_SAMPLE_SIZE) window.hashes[slot] = hash
  }

  /** rotate ends the window: each shard's window sample becomes its published one (shards without requests publish none). */
  rotate(): void {
    this.last.clear()
    for (const [shard, window] of this.current) this.last.set(shard, window.hashes.sort((a, b) => a - b))
    this.current.clear()
  }

  /** sample returns `shard`'s last complete window sample, sorted ascending; undefined when it served no request then. */
  sample(shard: number): readonly number[] | undefined {
    return this.last.get(shard)
  }

  /** forget drops a shard the node no longer holds. */
  forget(shard: number): void {
    this.current.delete(shard)
    this.last.delete(shard)
  }
}

/** SAMPLED_SHARDS_PUBLISHED: a stats record carries key samples for at most this many of the node's busiest shards, so it stays small. */
export const SAMPLED_SHARDS_PUBLISHED = 16

/**
 * withKeySamples returns `rows` (per-shard load rows) with `keySample` set on the
 * {@link SAMPLED_SHARDS_PUBLISHED} busiest shards (reads + writes) that have a sample:
 * the planner only needs samples of shards hot enough to split.
 */
export function withKeySamples<T extends {shard: number; reads: number; writes: number}>(rows: T[], sampleOf: (shard: number) => readonly number[] | undefined): (T & {keySample?: number[]})[] {
  const busiest = [...rows].sort((a, b) => b.reads + b.writes - (a.reads + a.writes) || a.shard - b.shard).slice(0, SAMPLED_SHARDS_PUBLISHED)
  const chosen = new Set(busiest.map((r) => r.shard))
  return rows.map((r) => {
    const sample = chosen.has(r.shard) ? sampleOf(r.shard) : undefined
    return sample && sample.length > 0 ? {...r, keySample: [...sample]} : r
  })
}
