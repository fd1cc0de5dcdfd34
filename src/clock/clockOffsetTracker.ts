/** WriteGate says whether this process may take or stamp writes now (its clock is within the cluster's offset bound). */
export type WriteGate = () => {ok: true} | {ok: false; reason: string}

/** DEFAULT_MAX_CLOCK_OFFSET_MS is the cluster's default bound on clock offset between members (CockroachDB's default too). */
export const DEFAULT_MAX_CLOCK_OFFSET_MS = 500

/**
 * ClockSample is one measurement of a peer's clock against ours: `offsetMs` is the peer's
 * wall clock minus ours at the midpoint of a round trip of `rttMs`, taken at our time `at`.
 * The true offset lies within `offsetMs ± rttMs / 2`.
 */
export interface ClockSample {
  peer: string
  offsetMs: number
  rttMs: number
  at: number
}

/**
 * ClockVerdict says whether this member's clock is within the bound of its peers.
 * `offsetMs` is this member's own offset from the median peer (positive: our clock is
 * ahead), null without fresh samples; `beyond` counts peers certainly more than the bound
 * away (even granting the round trip's uncertainty).
 */
export interface ClockVerdict {
  ok: boolean
  offsetMs: number | null
  peers: number
  beyond: number
  maxOffsetMs: number
  /** reason explains a false `ok` in one line. */
  reason?: string
}

/** ClockOffsetTrackerOptions: the bound, and how long a sample counts. */
export interface ClockOffsetTrackerOptions {
  maxOffsetMs: number
  /** staleAfterMs: samples older than this are ignored (a peer that stopped answering no longer votes). */
  staleAfterMs: number
}

/**
 * ClockOffsetTracker keeps the latest clock sample per peer and decides, like CockroachDB's
 * clock monitor, whether this member is out of bounds: it is when a majority of the peers
 * with a fresh sample are certainly more than `maxOffsetMs` away (half is not a majority).
 * A single wrong peer therefore cannot stop a healthy member, while a member whose own
 * clock is wrong sees (nearly) every peer beyond the bound. With one peer only, that peer decides: two
 * members that disagree both stop writing, the safe side when no one can tell which is
 * wrong. Pure: times are passed in.
 */
export class ClockOffsetTracker {
  private readonly samples = new Map<string, ClockSample>()

  constructor(private readonly opts: ClockOffsetTrackerOptions) {}

  /** record keeps `s` as the peer's latest sample. */
  record(s: ClockSample): void {
    this.samples.set(s.peer, s)
  }

  /** retain forgets peers not in `peers` (they left the cluster). */
  retain(peers: ReadonlySet<string>): void {
    for (const p of this.samples.keys()) if (!peers.has(p)) this.samples.delete(p)
  }

  /** verdict judges the fresh samples at time `now` (no fresh sample: ok, offset unknown). */
  verdict(now: number): ClockVerdict {
    const fresh = [...this.samples.values()].filter((s) => now - s.at <= this.opts.staleAfterMs)
    const max = this.opts.maxOffsetMs
    if (fresh.length === 0) return {ok: true, offsetMs: null, peers: 0, beyond: 0, maxOffsetMs: max}
    const beyond = fresh.filter((s) => Math.abs(s.offsetMs) - s.rttMs / 2 > max).length
    const sorted = fresh.map((s) => s.offsetMs).sort((a, b) => a - b)
    const mid = sorted.length >> 1
    const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
    const offsetMs = Math.round(-median)
    // A strict majority closes the gate: a tie (one of two) leaves it open. Members each within
    // the bound of true time can be twice the bound apart (see versionTooFarAhead), and with one
    // node of three down its two healthy peers each see just the other and the router: closing
    // on a tie stopped both, so a shard at W = 2 took no write at all (s22 datahunt).
    const ok = fresh.length === 1 ? beyond === 0 : beyond * 2 <= fresh.length
    return {
      ok,
      offsetMs,
      peers: fresh.length,
      beyond,
      maxOffsetMs: max,
      ...(ok ? {} : {reason: `clock is ${offsetMs > 0 ? '+' : ''}${offsetMs} ms off the median of its peers, beyond --max-clock-offset ${max} ms for ${beyond} of ${fresh.length}`}),
    }
  }
}

/**
 * versionTooFarAhead returns a one-line refusal when a version's wall clock (`wallMs`) is
 * more than three times `maxOffsetMs` ahead of the receiver's clock `now`, else undefined.
 * Members whose clocks are each within the bound can be twice the bound apart, and a router
 * re-issuing above a version another member stamped must be able to reach it: routers fold
 * what they see into their clock up to their own clock plus twice the bound, and a node must
 * accept what such a router stamps. Further ahead than that, the writer's clock is broken (its
 * own ClockMonitor normally stops it first); its versions would break the bound every member
 * relies on (tombstone cutoffs, offsets).
 */
export function versionTooFarAhead(wallMs: number, now: number, maxOffsetMs: number): string | undefined {
  const ahead = wallMs - now
  return ahead > 3 * maxOffsetMs ? `a version is ${ahead} ms ahead of this node's clock, beyond 3 × --max-clock-offset ${maxOffsetMs} ms (the writer's clock is wrong)` : undefined
}
