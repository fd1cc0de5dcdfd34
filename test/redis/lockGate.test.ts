import {describe, expect, it} from 'vitest'
import {lockGate, MIGRATE_REPLY_SLACK_MS, migrateWithinLease, MIN_MIGRATE_TIMEOUT_MS, SEND_MARGIN_MS} from '../../src/redis/lockGate.js'

const key = '/shardctl/c1/lock/executor'

describe('lockGate', () => {
  it('sends while the lease is held with time left', () => {
    expect(lockGate({key, lost: false, msLeft: 8000}, 'MIGRATE')).toEqual({kind: 'send'})
    expect(lockGate({key, lost: false, msLeft: SEND_MARGIN_MS}, 'MIGRATE')).toEqual({kind: 'send'})
  })
  it('sends on a held lease whose store gives no deadline', () => {
    expect(lockGate({key, lost: false, msLeft: null}, 'MIGRATE')).toEqual({kind: 'send'})
  })
  it('refuses once the lease is lost, naming the command and the lock', () => {
    const v = lockGate({key, lost: true, msLeft: 3000}, 'MIGRATE of 10 keys of slot 7')
    expect(v.kind).toBe('refuse')
    expect(v.kind === 'refuse' && v.message).toMatch(/^MIGRATE of 10 keys of slot 7 not sent: the executor lost its lock \/shardctl\/c1\/lock\/executor/)
  })
  it('refuses with less than the margin left, even before the deadline passed', () => {
    const v = lockGate({key, lost: false, msLeft: SEND_MARGIN_MS - 1}, 'SETSLOT NODE')
    expect(v.kind).toBe('refuse')
    expect(v.kind === 'refuse' && v.message).toMatch(/499 ms of its lease left/)
    expect(lockGate({key, lost: false, msLeft: -20}, 'SETSLOT NODE', 100)).toMatchObject({kind: 'refuse', message: expect.stringMatching(/0 ms of its lease left, under the 100 ms/)})
  })
  it('refuses a lost lease whatever time it still claims', () => {
    expect(lockGate({key, lost: true, msLeft: null}, 'x').kind).toBe('refuse')
  })
})

describe('migrateWithinLease', () => {
  it('keeps the timeout asked for while the lease has room for it, and waits no longer than the lease minus the margin', () => {
    expect(migrateWithinLease({key, lost: false, msLeft: 8600}, 'MIGRATE', 5000)).toEqual({kind: 'send', timeoutMs: 5000, waitMs: 8600 - SEND_MARGIN_MS})
  })
  it('cuts a timeout that would outlast the lease to what is left, minus the margin and the slack for the answer', () => {
    expect(migrateWithinLease({key, lost: false, msLeft: 8600}, 'MIGRATE', 30_000)).toEqual({kind: 'send', timeoutMs: 8600 - SEND_MARGIN_MS - MIGRATE_REPLY_SLACK_MS, waitMs: 8600 - SEND_MARGIN_MS})
    expect(migrateWithinLease({key, lost: false, msLeft: 1500.7}, 'MIGRATE', 5000)).toEqual({kind: 'send', timeoutMs: 1000 - MIGRATE_REPLY_SLACK_MS, waitMs: 1000})
  })
  it('never waits for the answer past the lease: the MIGRATE gives up on the target first', () => {
    for (const msLeft of [900, 1234, 5000, 9000]) {
      const v = migrateWithinLease({key, lost: false, msLeft}, 'MIGRATE', 60_000)
      expect(v.kind).toBe('send')
      if (v.kind !== 'send') continue
      expect(v.timeoutMs + MIGRATE_REPLY_SLACK_MS).toBeLessThanOrEqual(v.waitMs!)
      expect(v.waitMs! + SEND_MARGIN_MS).toBeLessThanOrEqual(msLeft)
    }
  })
  it('refuses a MIGRATE that would get less than the minimum time to run, naming the lease left', () => {
    const least = SEND_MARGIN_MS + MIGRATE_REPLY_SLACK_MS + MIN_MIGRATE_TIMEOUT_MS
    expect(migrateWithinLease({key, lost: false, msLeft: least}, 'MIGRATE', 5000)).toMatchObject({kind: 'send', timeoutMs: MIN_MIGRATE_TIMEOUT_MS})
    const v = migrateWithinLease({key, lost: false, msLeft: least - 1}, 'MIGRATE of 3 key(s)', 5000)
    expect(v).toMatchObject({kind: 'refuse', message: expect.stringMatching(new RegExp(`^MIGRATE of 3 key\\(s\\) not sent: .* has ${least - 1} ms of its lease left, under the ${least} ms a MIGRATE needs`))})
  })
  it('refuses as lockGate does once the lease is lost or inside the margin', () => {
    expect(migrateWithinLease({key, lost: true, msLeft: 9000}, 'MIGRATE', 5000)).toMatchObject({kind: 'refuse', message: expect.stringMatching(/lost its lock/)})
    expect(migrateWithinLease({key, lost: false, msLeft: 100}, 'MIGRATE', 5000)).toMatchObject({kind: 'refuse', message: expect.stringMatching(/100 ms of its lease left, under the 500 ms/)})
  })
  it('keeps the timeout and the connection\'s own wait when the store gives no deadline', () => {
    expect(migrateWithinLease({key, lost: false, msLeft: null}, 'MIGRATE', 30_000)).toEqual({kind: 'send', timeoutMs: 30_000, waitMs: null})
  })
})
