import {EventEmitter} from 'node:events'
import {type Etcd3, EtcdLeaseInvalidError, Lease} from 'etcd3'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import {grantEtcdLease} from '../../src/etcd/leaseHandle.js'
import {keepaliveIntervalMs, LEASE_TRUSTED_SHARE} from '../../src/etcd/leaseDeadline.js'

/** Etcd is what the fake etcd does with keepalives: answer after `delayMs`, fail streams, stop answering, or say the lease is gone. */
interface FakeEtcdState {
  delayMs: number
  /** frozen: requests are taken, nothing is answered (a half-open connection). */
  frozen: boolean
  /** failing: every new stream fails at once (a reset connection). */
  failing: boolean
  /** ttl is what keepalives are answered with ('0': the lease is gone). */
  ttl: string
}

/** FakeKeepaliveStream is etcd3's LeaseKeepAlive stream as far as etcd3's Lease uses it. */
class FakeKeepaliveStream extends EventEmitter {
  readonly writes: number[] = []
  writesAfterEnd = 0
  ended = false
  constructor(private readonly state: FakeEtcdState) {
    super()
  }
  write(): boolean {
    if (this.ended) this.writesAfterEnd++
    this.writes.push(Date.now())
    if (this.state.failing) {
      setTimeout(() => this.emit('error', new Error('stream reset')), 0)
      return true
    }
    // etcd renews the lease when it reads the request (at once here); only the answer is late.
    const ttl = this.state.ttl
    if (!this.state.frozen) setTimeout(() => !this.state.frozen && this.emit('data', {ID: '7', TTL: ttl}), this.state.delayMs)
    return true
  }
  end(): void {
    this.ended = true
  }
}

/**
 * fakeEtcd is an Etcd3 whose leases are etcd3's own Lease (its real keepaliveOnce) over a
 * fake connection pool: grants answer at once, keepalive streams are FakeKeepaliveStreams
 * (no namespace: only put uses it).
 */
function fakeEtcd(state: Partial<FakeEtcdState> = {}): {client: Etcd3; streams: FakeKeepaliveStream[]; state: FakeEtcdState} {
  const s: FakeEtcdState = {delayMs: 50, frozen: false, failing: false, ttl: '3', ...state}
  const streams: FakeKeepaliveStream[] = []
  const pool = {
    callOptionsFactory: undefined,
    markFailed() {},
    async exec(_service: string, method: string) {
      if (method === 'leaseGrant') return {ID: '7', TTL: '3'}
      if (method === 'leaseRevoke') return {}
      throw new Error(`unexpected ${method}`)
    },
    async withConnection(_service: string, fn: (conn: unknown) => unknown) {
      return fn({
        resource: {},
        metadata: {},
        client: {
          leaseKeepAlive() {
            const stream = new FakeKeepaliveStream(s)
            streams.push(stream)
            return stream
          },
        },
      })
    },
  }
  const client = {lease: (ttl: number, options: object) => new Lease(pool as never, undefined as never, ttl, options)} as unknown as Etcd3
  return {client, streams, state: s}
}

const wrap = <T>(fn: () => Promise<T>) => fn()
const now = () => Date.now()

describe('grantEtcdLease', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('sends one keepalive per tenth of the TTL, each a single request on a stream of its own that it then ends (no etcd3 loop beside it)', async () => {
    const {client, streams} = fakeEtcd()
    const lease = await grantEtcdLease(client, wrap, 3, now)

    await vi.advanceTimersByTimeAsync(3000)
    await lease.revoke()
    await vi.advanceTimersByTimeAsync(100) // the last one's answer

    // One at the grant, then one every 300 ms: etcd3's own loop (a keepalive every TTL/3 on one long stream) would add more writes on one stream.
    expect(streams.length).toBe(1 + 3000 / keepaliveIntervalMs(3))
    expect(streams.every((s) => s.writes.length === 1 && s.ended && s.writesAfterEnd === 0)).toBe(true)
  })

  it('given a TTL of 3 s and every keepalive answered 1.8 s late (etcd renews it on time), when 30 s pass, then the holder never counts the lease lost', async () => {
    // etcd3 alone sends a keepalive every TTL/3 (1 s): the answer to the one after an answered
    // keepalive must then arrive within 0.9×3 s - 1 s = 1.7 s, so a loaded machine (a busy event
    // loop, a slow etcd) lapsed a lease etcd still held, and the node stopped serving to re-register.
    const {client} = fakeEtcd({delayMs: 1800})
    const lease = await grantEtcdLease(client, wrap, 3, now)
    let lostErr: Error | undefined
    lease.onLost((err) => (lostErr = err))

    await vi.advanceTimersByTimeAsync(30_000)

    expect(lostErr?.message).toBeUndefined()
    expect(lease.lost).toBe(false)
    await lease.revoke()
  })

  it('given answers stop (a frozen connection), then the lease is lost 0.9×TTL after the newest answered keepalive was sent, and no keepalive is sent after that', async () => {
    const {client, streams, state} = fakeEtcd({delayMs: 50})
    const lease = await grantEtcdLease(client, wrap, 3, now)
    await vi.advanceTimersByTimeAsync(2000)
    state.frozen = true
    const lastAnsweredSend = streams.map((s) => s.writes[0]!).filter((t) => t + 50 <= Date.now()).at(-1)!
    let lostAt: number | undefined
    lease.onLost(() => (lostAt ??= Date.now()))

    await vi.advanceTimersByTimeAsync(10_000)

    expect(lostAt).toBe(lastAnsweredSend + 3000 * LEASE_TRUSTED_SHARE)
    expect(streams.filter((s) => s.writes[0]! > lostAt!)).toEqual([])
    expect(lease.lost).toBe(true)
  })

  it('given keepalive streams that fail for 1.5 s (a reset connection), then the next beats renew it and the lease stays held', async () => {
    const {client, streams, state} = fakeEtcd({delayMs: 50})
    const lease = await grantEtcdLease(client, wrap, 3, now)
    await vi.advanceTimersByTimeAsync(1000)
    state.failing = true
    await vi.advanceTimersByTimeAsync(1500)
    state.failing = false
    const failedBeats = streams.length

    await vi.advanceTimersByTimeAsync(10_000)

    expect(lease.lost).toBe(false)
    expect(streams.length - failedBeats).toBeGreaterThanOrEqual(Math.floor(10_000 / keepaliveIntervalMs(3)))
    await lease.revoke()
  })

  it('given a keepalive answered with TTL 0 (etcd revoked or expired the lease), then it is lost at once, as etcd3 reports it, and no keepalive follows', async () => {
    const {client, streams, state} = fakeEtcd({delayMs: 50})
    const lease = await grantEtcdLease(client, wrap, 3, now)
    await vi.advanceTimersByTimeAsync(1000)
    const lost: Error[] = []
    lease.onLost((err) => lost.push(err))
    state.ttl = '0'
    const revokedAt = Date.now()

    await vi.advanceTimersByTimeAsync(5000)

    expect(lost).toHaveLength(1)
    expect(lost[0]).toBeInstanceOf(EtcdLeaseInvalidError)
    // The keepalive that found it gone was sent within one beat and answered 50 ms later.
    expect(streams.filter((s) => s.writes[0]! > revokedAt + keepaliveIntervalMs(3) + 50)).toEqual([])
    expect(lease.lost).toBe(true)
  })
})
