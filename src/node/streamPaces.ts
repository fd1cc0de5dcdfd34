import {TokenBucket} from '../throttle/tokenBucket.js'

/** StreamPace is a copy stream's own rate, named by the move it serves (null: unlimited). */
export interface StreamPace {
  move: string
  rate: number | null
  /**
   * stream names one stream (an id its destination draws for it), so a rate change is
   * confirmed by that stream only: another stream of the move still open at the source
   * (the one a resume replaces, whose close the source has not seen yet) must not answer
   * for a stream whose request has not arrived, or that stream keeps the rate it was
   * opened with. Absent: every stream of the move.
   */
  stream?: string
}

/** Paced is one open stream's bucket and the id its destination gave it. */
interface Paced {
  bucket: TokenBucket
  stream: string | undefined
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
 * `--throttle auto`). Streams are keyed by shard and move, and each by the id its
 * destination gave it (see {@link StreamPace.stream}).
 */
export class StreamPaces {
  private readonly live = new Map<string, Set<Paced>>()

  constructor(private readonly now: () => number) {}

  /** open registers a stream of `shard` for `pace.move` and returns its bucket; `close` when the stream ends. */
  open(shard: number, pace: StreamPace): {bucket: TokenBucket; close: () => void} {
    const key = keyOf(shard, pace.move)
    const paced: Paced = {bucket: new TokenBucket(pace.rate, this.now), stream: pace.stream}
    let set = this.live.get(key)
    if (!set) this.live.set(key, (set = new Set()))
    set.add(paced)
    return {
      bucket: paced.bucket,
      close: () => {
        set.delete(paced)
        if (set.size === 0 && this.live.get(key) === set) this.live.delete(key)
      },
    }
  }

  /**
   * setRate changes the rate of the live streams of `shard` for `move` (only the one named
   * `stream`, when given); returns how many took it (0: none open now, or not that one yet).
   */
  setRate(shard: number, move: string, rate: number | null, stream?: string): number {
    const set = this.live.get(keyOf(shard, move))
    if (!set) return 0
    let n = 0
    for (const p of set) {
      if (stream !== undefined && p.stream !== stream) continue
      if (p.bucket.currentRate() !== rate) p.bucket.setRate(rate)
      n++
    }
    return n
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
