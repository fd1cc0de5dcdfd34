import * as etcd from 'etcd3'
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest'
import {etcdFaultHandling} from '../../src/etcd/commitResend.js'
import {HOST_FAILURES_TO_OPEN, HOST_HALF_OPEN_MS} from '../../src/etcd/hostBreaker.js'

const unavailable = async (): Promise<never> => {
  throw new etcd.GRPCUnavailableError('connection refused')
}

/** memberPolicy is the per-member policy EtcdStore hands etcd3, as etcd3's connection pool gets it. */
function memberPolicy() {
  const host = etcdFaultHandling()?.host
  if (!host) throw new Error('etcdFaultHandling gives etcd3 no per-member policy: etcd3 would use its default breaker (half-open after 5 s)')
  return host('127.0.0.1:2379')
}

describe('hostBreaker: the circuit of one etcd member', () => {
  beforeEach(() => vi.useFakeTimers({toFake: ['Date']}))
  afterEach(() => vi.useRealTimers())

  it('Given a member that failed 3 calls in a row, Then the next is refused unsent, and a second later one call tries it again and closes the circuit', async () => {
    const policy = memberPolicy()
    for (let i = 0; i < HOST_FAILURES_TO_OPEN; i++) await expect(policy.execute(unavailable)).rejects.toBeInstanceOf(etcd.GRPCUnavailableError)
    let sent = 0
    const answer = async () => {
      sent++
      return 'ok'
    }

    const refused = await policy.execute(answer).catch((err: unknown) => err)
    expect(sent).toBe(0)
    // What etcd3 (try the next member), commitResend.ts and etcdErrors.ts know it by.
    expect((refused as {isBrokenCircuitError?: boolean}).isBrokenCircuitError).toBe(true)

    // Before: etcd3's default breaker kept refusing for 5 s after it opened.
    vi.advanceTimersByTime(HOST_HALF_OPEN_MS + 1)
    expect(await policy.execute(answer)).toBe('ok')
    expect(await policy.execute(answer)).toBe('ok')
    expect(sent).toBe(2)
  })

  it('Given errors that are not the connection\'s (a failed compare, a bad request), Then they never open the circuit', async () => {
    const policy = memberPolicy()
    for (let i = 0; i < HOST_FAILURES_TO_OPEN + 2; i++) await expect(policy.execute(async () => Promise.reject(new etcd.EtcdInvalidAuthTokenError('bad')))).rejects.toThrow()
    expect(await policy.execute(async () => 'ok')).toBe('ok')
  })

  it('Given each member, Then it has a circuit of its own (one member down does not refuse calls to another)', async () => {
    const faults = etcdFaultHandling()!
    const a = faults.host!('a:2379')
    const b = faults.host!('b:2379')
    for (let i = 0; i < HOST_FAILURES_TO_OPEN; i++) await a.execute(unavailable).catch(() => undefined)
    expect(await b.execute(async () => 'ok')).toBe('ok')
  })
})
