import {describe, expect, it, vi} from 'vitest'
import {LeasedMembership, type LeasedMembershipOptions, REVOKE_WAIT_MS} from '../../src/store/leasedMembership.js'
import {type LeaseHandle} from '../../src/etcd/leaseHandle.js'

/** FakeLease is a lease the test loses on demand; onLost fires once, for callbacks attached by then (like grantLease). */
class FakeLease implements LeaseHandle {
  private isLost = false
  revoked = false
  private readonly callbacks: ((err: Error) => void)[] = []
  constructor(readonly id: string) {}
  get lost(): boolean {
    return this.isLost || this.revoked
  }
  onLost(fn: (err: Error) => void): void {
    this.callbacks.push(fn)
  }
  lose(): void {
    if (this.isLost) return
    this.isLost = true
    for (const cb of this.callbacks) cb(new Error(`lease ${this.id} expired`))
  }
  revoke(): Promise<void> {
    this.revoked = true
    return Promise.resolve()
  }
}

/** harness grants numbered fake leases and runs `register` hooks the test scripts per attempt. */
function harness(register: (lease: FakeLease, recovering: boolean, call: number) => Promise<void> = () => Promise.resolve(), extra: Partial<LeasedMembershipOptions> = {}) {
  const leases: FakeLease[] = []
  const events: string[] = []
  const sleeps: number[] = []
  let calls = 0
  const m = new LeasedMembership({
    grant: () => {
      const l = new FakeLease(String(leases.length + 1))
      leases.push(l)
      return Promise.resolve(l)
    },
    register: (lease, recovering) => register(lease as FakeLease, recovering, ++calls),
    onLost: (err) => events.push(`lost: ${err.message}`),
    onRecovered: (n) => events.push(`recovered after ${n}`),
    onRetry: (err, ms) => events.push(`retry in ${ms}: ${(err as Error).message}`),
    backoff: {baseMs: 100, maxMs: 400},
    sleep: (ms) => {
      sleeps.push(ms)
      return Promise.resolve()
    },
    ...extra,
  })
  return {m, leases, events, sleeps}
}

describe('LeasedMembership', () => {
  it('Given etcd that never answers the revoke (frozen), When stopped, Then stop() resolves within REVOKE_WAIT_MS (the lease expires by its TTL)', async () => {
    vi.useFakeTimers()
    try {
      const {m, leases} = harness()
      await m.start()
      leases[0]!.revoke = () => new Promise<void>(() => {})
      let stopped = false
      void m.stop().then(() => (stopped = true))
      await vi.advanceTimersByTimeAsync(REVOKE_WAIT_MS)
      expect(stopped).toBe(true)
      expect(m.held()).toBe(false)
    } finally {
      vi.useRealTimers()
    }
  })

  it('Given its registration was deleted under a live lease, When lose() reports it, Then it is fenced at once and registers again under a new lease (the old one revoked); a late report about a replaced lease changes nothing', async () => {
    const recovering: boolean[] = []
    const {m, leases, events} = harness(async (_, r) => void recovering.push(r))
    await m.start()
    m.lose(leases[0]!, new Error('routers/r1 was deleted'))
    expect(m.held()).toBe(false)
    await m.recovered()
    expect(m.held()).toBe(true)
    expect(recovering).toEqual([false, true])
    expect(m.lease()).toBe(leases[1])
    expect(leases[0]!.revoked).toBe(true)
    expect(events).toEqual(['lost: routers/r1 was deleted', 'recovered after 1'])
    m.lose(leases[0]!, new Error('late'))
    expect(m.held()).toBe(true)
    expect(leases).toHaveLength(2)
  })

  it('Given recover: false (a lock), When its lease is lost, Then it is fenced for good: told once, no new lease granted, no retry', async () => {
    const {m, leases, events, sleeps} = harness(undefined, {recover: false})
    await m.start()
    leases[0]!.lose()
    await m.recovered()

    expect(m.held()).toBe(false)
    expect(leases).toHaveLength(1)
    expect(events).toEqual(['lost: lease 1 expired'])
    expect(sleeps).toEqual([])
  })

  it('Given a registered member, When its lease is lost, Then it is fenced at once and recovers under a new lease, re-reading state', async () => {
    const recovering: boolean[] = []
    const {m, leases, events} = harness((_l, r) => {
      recovering.push(r)
      return Promise.resolve()
    })
    await m.start()
    expect(m.held()).toBe(true)
    leases[0]!.lose()
    expect(m.held()).toBe(false)
    await m.recovered()
    expect(m.held()).toBe(true)
    expect(m.lease()).toBe(leases[1])
    expect(recovering).toEqual([false, true])
    expect(events).toEqual(['lost: lease 1 expired', 'recovered after 1'])
    expect(leases[0]!.revoked).toBe(true) // the lapsed lease is ended, not left behind
  })

  it('Given a recovery in progress, When its new lease is lost while registering, Then it does not stay fenced for good', async () => {
    const {m, leases, events} = harness((lease, _r, call) => {
      if (call === 2) lease.lose() // the first recovery's lease lapses before registration completes
      return Promise.resolve()
    })
    await m.start()
    leases[0]!.lose()
    await m.recovered()
    expect(m.held()).toBe(true)
    expect(m.lease()).toBe(leases[2])
    expect(events).toEqual(['lost: lease 1 expired', 'retry in 100: the new lease was lost while registering', 'recovered after 2'])
  })

  it('Given a recovered member, When the lease it recovered with is lost later, Then it recovers again', async () => {
    const {m, leases} = harness()
    await m.start()
    leases[0]!.lose()
    await m.recovered()
    leases[1]!.lose()
    expect(m.held()).toBe(false)
    await m.recovered()
    expect(m.held()).toBe(true)
    expect(m.lease()).toBe(leases[2])
  })

  it('Given registration keeps failing, Then each attempt backs off (capped), its lease is revoked, and it stops retrying once stopped', async () => {
    let m!: LeasedMembership
    const h = harness((_l, _r, call) => {
      if (call === 6) void m.stop()
      return call === 1 ? Promise.resolve() : Promise.reject(new Error('etcd unreachable'))
    })
    m = h.m
    await m.start()
    h.leases[0]!.lose()
    await m.recovered()
    expect(m.held()).toBe(false)
    expect(h.sleeps).toEqual([100, 200, 400, 400])
    expect(h.leases.slice(1).every((l) => l.revoked)).toBe(true)
    expect(h.leases).toHaveLength(6)
  })

  it('Given an old lease, When its loss is reported after a newer one took over, Then the member stays held', async () => {
    const {m, leases} = harness()
    await m.start()
    leases[0]!.lose()
    await m.recovered()
    // A second, late signal from lease 1 (etcd3 may report a loss twice) must not fence lease 2.
    ;(leases[0] as unknown as {callbacks: ((e: Error) => void)[]}).callbacks.forEach((cb) => cb(new Error('late')))
    expect(m.held()).toBe(true)
  })

  it('Given the first registration fails, Then start throws and revokes that lease', async () => {
    const {m, leases} = harness(() => Promise.reject(new Error('id in use')))
    await expect(m.start()).rejects.toThrow('id in use')
    expect(leases[0]!.revoked).toBe(true)
    expect(m.held()).toBe(false)
  })
})
