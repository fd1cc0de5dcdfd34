/**
 * HlcTimestamp is a hybrid logical clock timestamp: wall milliseconds, a counter that
 * orders events within one millisecond, and the writer's id that breaks the last ties.
 * Total order: (wall, counter, writer).
 */
export interface HlcTimestamp {
  wall: number
  counter: number
  writer: string
}

/** compareHlc orders two timestamps: negative if a < b, 0 if equal, positive if a > b. */
export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): number {
  if (a.wall !== b.wall) return a.wall - b.wall
  if (a.counter !== b.counter) return a.counter - b.counter
  return a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0
}

const WALL_DIGITS = 15
const COUNTER_DIGITS = 6
const MAX_COUNTER = 10 ** COUNTER_DIGITS - 1

/**
 * formatHlc encodes a timestamp as `wall.counter.writer` with fixed-width zero-padded
 * numbers, so byte order of the encoding equals {@link compareHlc} order. Used in the
 * `x-shardctl-version` header and on disk.
 */
export function formatHlc(t: HlcTimestamp): string {
  return `${String(t.wall).padStart(WALL_DIGITS, '0')}.${String(t.counter).padStart(COUNTER_DIGITS, '0')}.${t.writer}`
}

const HLC_PATTERN = /^(\d{15})\.(\d{6})\.([A-Za-z0-9_.-]{1,64})$/

/** parseHlc decodes {@link formatHlc}'s output; returns undefined for anything else. */
export function parseHlc(s: string): HlcTimestamp | undefined {
  const m = HLC_PATTERN.exec(s)
  if (!m) return undefined
  return {wall: Number(m[1]), counter: Number(m[2]), writer: m[3]!}
}

/**
 * HybridClock issues strictly increasing timestamps for one writer, even when the
 * injected wall clock stalls or goes backwards, and folds in timestamps observed from
 * others so causally later events get later timestamps.
 */
export class HybridClock {
  private wall = 0
  private counter = 0

  constructor(
    private readonly writer: string,
    private readonly clock: () => number,
    /**
     * maxAheadMs, when given, caps what {@link observe} folds in at this clock's physical
     * time plus maxAheadMs (the cluster's clock bound): one far-future version (a writer with
     * a broken clock) cannot drag every later timestamp of this clock past what peers accept.
     */
    private readonly maxAheadMs?: number,
  ) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(writer)) throw new RangeError(`HLC writer id must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(writer)}`)
  }

  /** now returns a timestamp greater than every one this clock issued or observed before. */
  now(): HlcTimestamp {
    const physical = Math.floor(this.clock())
    if (physical > this.wall) {
      this.wall = physical
      this.counter = 0
    } else {
      this.bump()
    }
    return {wall: this.wall, counter: this.counter, writer: this.writer}
  }

  /** observe folds a remote timestamp in, so the next {@link now} is later than it (up to the maxAheadMs cap, when set). */
  observe(remote: HlcTimestamp): void {
    if (this.maxAheadMs !== undefined) {
      const limit = Math.floor(this.clock()) + this.maxAheadMs
      if (remote.wall > limit) remote = {wall: limit, counter: 0, writer: remote.writer}
    }
    if (remote.wall > this.wall || (remote.wall === this.wall && remote.counter > this.counter)) {
      this.wall = remote.wall
      this.counter = remote.counter
    }
  }

  private bump(): void {
    if (this.counter >= MAX_COUNTER) {
      // Counter exhausted within one millisecond: borrow from the future rather than repeat.
      this.wall += 1
      this.counter = 0
    } else {
      this.counter += 1
    }
  }
}
