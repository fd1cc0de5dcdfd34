import {type Redis} from 'ioredis'
import {LatencyWindow} from '../router/latencyWindow.js'

/** RedisLatencyProbeDeps are the probe's side effects: a clock (ms), a connection opener and the PING interval. */
export interface RedisLatencyProbeDeps {
  now: () => number
  connect: (address: string) => Promise<Redis>
  /** intervalMs is how long after one PING is sent the next one to the same master goes. */
  intervalMs: number
}

/** MasterPinger is one watched master: its connection and the PING in flight, if any. */
interface MasterPinger {
  conn?: Redis
  /** sentAt is when the PING now in flight was sent (undefined: none in flight). */
  sentAt?: number
  timer?: NodeJS.Timeout
  closed: boolean
}

/**
 * RedisLatencyProbe measures the latency a client of the watched masters feels, for the
 * redis engine's `--throttle auto`: it PINGs each watched master every `intervalMs` on a
 * connection of its own and records the round trip. Redis runs commands one at a time, so a
 * PING waits behind whatever holds the master (a MIGRATE batch blocks both its source and its
 * target until it is done, as does a slow script or a big DEL), exactly as a client's GET
 * would. A PING still unanswered when a window is taken counts with the time it has waited so
 * far, so a master that stops answering raises the figure at once rather than never. Failed
 * connections or PINGs record nothing (a dead master is the executor's problem, not a rate
 * signal) and are retried on the next `watch`.
 */
export class RedisLatencyProbe {
  private readonly window = new LatencyWindow()
  private readonly pingers = new Map<string, MasterPinger>()

  constructor(private readonly deps: RedisLatencyProbeDeps) {}

  /** watch makes `addresses` the set of masters probed from now on: new ones start being pinged, others stop and are disconnected. */
  watch(addresses: readonly string[]): void {
    const wanted = new Set(addresses)
    for (const [address, p] of this.pingers) {
      if (!wanted.has(address) || p.closed) {
        stopPinger(p)
        this.pingers.delete(address)
      }
    }
    for (const address of wanted) {
      if (this.pingers.has(address)) continue
      const p: MasterPinger = {closed: false}
      this.pingers.set(address, p)
      void this.start(address, p)
    }
  }

  /** watching lists the masters probed now. */
  watching(): string[] {
    return [...this.pingers.keys()]
  }

  /**
   * takeP99 returns the p99 (ms) of the round trips recorded since the last call, counting
   * each PING still in flight at its age now, and starts a new window. Null when nothing was
   * measured (no master watched, or none answered yet).
   */
  takeP99(): number | null {
    return this.take()?.p99Ms ?? null
  }

  /** take is takeP99 with the number of round trips the p99 rests on. */
  take(): {p99Ms: number; samples: number} | null {
    const now = this.deps.now()
    for (const p of this.pingers.values()) if (p.sentAt !== undefined) this.window.record(now - p.sentAt)
    return this.window.take()
  }

  /** close stops every pinger and disconnects; the probe records nothing after it. */
  close(): void {
    for (const p of this.pingers.values()) stopPinger(p)
    this.pingers.clear()
  }

  private async start(address: string, p: MasterPinger): Promise<void> {
    try {
      const conn = await this.deps.connect(address)
      if (p.closed) return conn.disconnect()
      p.conn = conn
    } catch {
      p.closed = true // the next watch() tries again
      return
    }
    const ping = async (): Promise<void> => {
      if (p.closed || !p.conn) return
      const sent = this.deps.now()
      p.sentAt = sent
      try {
        await p.conn.ping()
        if (!p.closed) this.window.record(this.deps.now() - sent)
      } catch {
        p.closed = true
        return
      } finally {
        p.sentAt = undefined
      }
      if (p.closed) return
      p.timer = setTimeout(() => void ping(), Math.max(0, this.deps.intervalMs - (this.deps.now() - sent)))
      p.timer.unref()
    }
    await ping()
  }
}

function stopPinger(p: MasterPinger): void {
  p.closed = true
  if (p.timer) clearTimeout(p.timer)
  p.conn?.disconnect()
}
