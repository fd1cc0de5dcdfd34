import {describe, expect, it} from 'vitest'
import {lockGate, SEND_MARGIN_MS} from '../../src/redis/lockGate.js'

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
