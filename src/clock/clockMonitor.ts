import {request} from 'undici'
import {dataPlaneUrl, defaultClientTls, sharedDispatcher} from '../transport/clientTls.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {lastSegment} from '../etcd/keys.js'
import {boundedWait} from './boundedWait.js'
import {type ClockVerdict, ClockOffsetTracker, type WriteGate} from './clockOffsetTracker.js'

/** STOP_ROUND_WAIT_MS bounds how long {@link ClockMonitor.stop} waits for the probe round in flight. */
const STOP_ROUND_WAIT_MS = 1000

/** ClockPeer is another member whose `/healthz` answers with its wall clock (`clock`, ms). */
export interface ClockPeer {
  /** id is unique across kinds: `node:<id>` or `router:<id>`. */
  id: string
  address: string
}

/** ClockMonitorOptions configure {@link ClockMonitor}. */
export interface ClockMonitorOptions {
  /** self is this member's peer id (`node:<id>` / `router:<id>`), never probed. */
  self: string
  maxOffsetMs: number
  /** intervalMs between probe rounds (default 1000). */
  intervalMs?: number
  /** peers lists the members to probe (default: every serving node and router registered in etcd). */
  peers?: () => Promise<ClockPeer[]>
  /** probe asks one peer's clock (default: GET http://address/healthz, field `clock`). */
  probe?: (address: string, timeoutMs: number) => Promise<number>
  /** onChange is told when the verdict flips (log it). */
  onChange?: (v: ClockVerdict) => void
  now?: () => number
}

/**
 * ClockMonitor measures this member's clock against its peers' once a second (a round trip
 * to each peer's `/healthz`, which carries the peer's wall clock) and keeps a
 * {@link ClockOffsetTracker} verdict: while a majority of peers are certainly more than
 * `maxOffsetMs` away, {@link writeGate} is closed — a router refuses client writes and a
 * node refuses `write` applies (CLOCK_OFFSET) — and reopens by itself once the clock is
 * back in bounds. Peers come from etcd (`alive/` nodes and `routers/`), re-listed every
 * few rounds. A failed probe simply leaves that peer's sample to go stale.
 */
export class ClockMonitor {
  private readonly tracker: ClockOffsetTracker
  private readonly now: () => number
  private timer?: NodeJS.Timeout
  private peers: ClockPeer[] = []
  private round = 0
  private last: ClockVerdict
  private running?: Promise<void>

  constructor(
    private readonly ctx: ServiceContext | undefined,
    private readonly opts: ClockMonitorOptions,
  ) {
    this.now = opts.now ?? Date.now
    const interval = opts.intervalMs ?? 1000
    this.tracker = new ClockOffsetTracker({maxOffsetMs: opts.maxOffsetMs, staleAfterMs: Math.max(5 * interval, 5000)})
    this.last = this.tracker.verdict(this.now())
  }

  /** start probes now and every interval until {@link stop}. */
  start(): void {
    if (this.timer) return
    const tick = () => {
      if (!this.running) this.running = this.probeRound().finally(() => (this.running = undefined))
    }
    tick()
    this.timer = setInterval(tick, this.opts.intervalMs ?? 1000)
    this.timer.unref()
  }

  /**
   * stop ends probing and waits for a round in progress, at most {@link STOP_ROUND_WAIT_MS}: a
   * round re-lists its peers from etcd every few rounds, and an etcd that does not answer held
   * a node's graceful stop 8 s on that read (its result changes nothing any more).
   */
  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    if (this.running) await boundedWait(this.running, STOP_ROUND_WAIT_MS)
  }

  /** verdict is the latest judgement of this member's clock. */
  verdict(): ClockVerdict {
    return this.last
  }

  /** writeGate is closed while this member's clock is out of bounds. */
  readonly writeGate: WriteGate = () => (this.last.ok ? {ok: true} : {ok: false, reason: this.last.reason ?? 'clock out of bounds'})

  /** probeRound measures every peer once (concurrently, each bounded) and updates the verdict. */
  async probeRound(): Promise<void> {
    if (this.round++ % 5 === 0) {
      try {
        this.peers = (await (this.opts.peers ?? (() => this.etcdPeers()))()).filter((p) => p.id !== this.opts.self)
        this.tracker.retain(new Set(this.peers.map((p) => p.id)))
      } catch {
        // etcd unreachable: keep probing the peers known so far.
      }
    }
    const probe = this.opts.probe ?? probeHealthz
    await Promise.all(
      this.peers.map(async (p) => {
        const t0 = performance.now()
        const sent = this.now()
        try {
          const peerClock = await probe(p.address, 1000)
          const rtt = performance.now() - t0
          const at = this.now()
          this.tracker.record({peer: p.id, offsetMs: peerClock - (sent + at) / 2, rttMs: rtt, at})
        } catch {
          // unanswered: its sample goes stale
        }
      }),
    )
    const v = this.tracker.verdict(this.now())
    if (v.ok !== this.last.ok) this.opts.onChange?.(v)
    this.last = v
  }

  private async etcdPeers(): Promise<ClockPeer[]> {
    if (!this.ctx) return []
    const [alive, routers] = await Promise.all([this.ctx.store.list(this.ctx.keys.alivePrefix), this.ctx.store.list(this.ctx.keys.routersPrefix)])
    const out: ClockPeer[] = []
    for (const [kind, list] of [['node', alive.items], ['router', routers.items]] as const) {
      for (const item of list) {
        try {
          const address = (JSON.parse(item.value) as {address?: unknown}).address
          if (typeof address === 'string') out.push({id: `${kind}:${lastSegment(item.key)}`, address})
        } catch {
          // an unparsable entry is someone else's problem (validated where it is used)
        }
      }
    }
    return out
  }
}

/** probeHealthz reads a member's wall clock from its `/healthz` JSON (`clock`, ms). */
async function probeHealthz(address: string, timeoutMs: number): Promise<number> {
  const tls = defaultClientTls()
  const res = await request(dataPlaneUrl(address, tls, '/healthz'), {dispatcher: sharedDispatcher(tls), signal: AbortSignal.timeout(timeoutMs)})
  const body = (await res.body.json()) as {clock?: unknown}
  if (typeof body.clock !== 'number') throw new Error('no clock in /healthz')
  return body.clock
}
