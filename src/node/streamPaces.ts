import {TokenBucket} from '../throttle/tokenBucket.js'

/** StreamPace is a copy stream's own rate, named by the move it serves (null: unlimited). */
export interface StreamPace {
  move: string
  rate: number | null
}

/**
 * StreamPaces are the per-stream token buckets of the copy streams a source node serves.
 *
 * A destination paces a copy at the move's rate, but that alone lets the source run ahead
 * by everything between the two (socket buffers, which loopback autotunes to MiBs, and the
 * receive thread's frames in hand): a 20 MiB/s copy's source sent 21.2 MiB/s in its first
 * 10 s window (bench:move, session 12) while the destination took 20.1. So the source
 * spends each frame from the stream's own bucket too, at the rate the destination asked
 * for when it opened the stream, and changed by the destination (POST
 * /v1/shards/{shard}/stream-rate) whenever the move's rate changes (`throttle set`,
 * `--throttle auto`). Streams are keyed by shard and move: a destination re-opening a
 * stream of the same move (a new source, a resume) gets the same treatment.
 */
export class StreamPaces {
  private readonly live = new Map<string, Set<TokenBucket>>()

  constructor(private readonly now: () => number) {}

  /** open registers a stream of `shard` for `pace.move` and returns its bucket; `close` when the stream ends. */
  open(shard: number, pace: StreamPace): {bucket: TokenBucket; close: () => void} {
    const key = keyOf(shard, pace.move)
    const bucket = new TokenBucket(pace.rate, this.now)
    let set = this.live.get(key)
    if (!set) this.live.set(key, (set = new Set()))
    set.add(bucket)
    return {
      bucket,
      close: () => {
        set.delete(bucket)
        if (set.size === 0 && this.live.get(key) === set) this.live.delete(key)
      },
    }
  }

  /** setRate changes the rate of every live stream of `shard` for `move`; returns how many there were (0: none open now). */
  setRate(shard: number, move: string, rate: number | null): number {
    const set = this.live.get(keyOf(shard, move))
    if (!set) return 0
    for (const b of set) if (b.currentRate() !== rate) b.setRate(rate)
    return set.size
  }

  /** streams is how many paced streams are open (tests). */
  streams(): number {
    let n = 0
    for (const s of this.live.values()) n += s.size
    return n
  }
}

function keyOf(shard: number, move: string): string {
  return `${shard}\u0000${move}`
}
