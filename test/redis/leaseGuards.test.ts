import {describe, expect, it} from 'vitest'
import {leaseGuards} from '../../src/redis/leaseGuards.js'
import {type LockState, MIGRATE_REPLY_SLACK_MS, SEND_MARGIN_MS} from '../../src/redis/lockGate.js'

const key = '/shardctl/c1/lock/executor'
class Refused extends Error {}

function guardsWith(state: {current: LockState | undefined}) {
  return leaseGuards(
    () => state.current,
    (_k, message) => new Refused(message),
  )
}

describe('leaseGuards', () => {
  it('beforeSend refuses as lockGate does, and lets everything through without a lock state', () => {
    const state: {current: LockState | undefined} = {current: {key, lost: false, msLeft: 9000}}
    const g = guardsWith(state)
    expect(() => g.beforeSend('SETSLOT')).not.toThrow()
    state.current = {key, lost: true, msLeft: 9000}
    expect(() => g.beforeSend('SETSLOT 7 NODE')).toThrow(/^SETSLOT 7 NODE not sent: the executor lost its lock/)
    state.current = undefined
    expect(() => g.beforeSend('SETSLOT')).not.toThrow()
  })

  it('a MIGRATE waits first for the lease left at the send, then only while the renewed lease has more than the margin', () => {
    const state: {current: LockState | undefined} = {current: {key, lost: false, msLeft: 3000}}
    const m = guardsWith(state).migrate('MIGRATE of 5 key(s)', 5000)
    expect(m.timeoutMs).toBe(3000 - SEND_MARGIN_MS - MIGRATE_REPLY_SLACK_MS)
    expect(m.wait()).toBe(3000 - SEND_MARGIN_MS)
    // Renewed meanwhile (the holder was not frozen): it waits on, by the new deadline.
    state.current = {key, lost: false, msLeft: 8800}
    expect(m.wait()).toBe(8800 - SEND_MARGIN_MS)
    // Frozen past it, or cut off from etcd: it stops waiting, saying the MIGRATE may still run.
    state.current = {key, lost: false, msLeft: 120}
    expect(() => m.wait()).toThrow(/^waiting for the answer to MIGRATE of 5 key\(s\): stopped: .*120 ms of its lease left.*may still be running on the source/)
    state.current = {key, lost: true, msLeft: null}
    expect(() => m.wait()).toThrow(Refused)
  })

  it('a MIGRATE with under the minimum left is not sent; one without a deadline keeps its timeout and waits unbounded', () => {
    expect(() => guardsWith({current: {key, lost: false, msLeft: 800}}).migrate('MIGRATE', 5000)).toThrow(/^MIGRATE not sent: .* 800 ms of its lease left, under the 850 ms/)
    const free = guardsWith({current: {key, lost: false, msLeft: null}}).migrate('MIGRATE', 30_000)
    expect(free.timeoutMs).toBe(30_000)
    expect(free.wait()).toBeNull()
    const none = guardsWith({current: undefined}).migrate('MIGRATE', 30_000)
    expect([none.timeoutMs, none.wait()]).toEqual([30_000, null])
  })
})
