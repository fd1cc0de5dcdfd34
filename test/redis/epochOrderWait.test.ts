import {describe, expect, it} from 'vitest'
import {type EpochReadings} from '../../src/redis/epochOrder.js'
import {awaitEpochOrder, type EpochWaitOptions} from '../../src/redis/epochOrderWait.js'
import {type MasterConn} from '../../src/redis/slotOps.js'

/**
 * awaitEpochOrder is the one wait the move runner (stops with the executor) and `redis fix`
 * (no stop, wall clock) share. Time here is a number the fake sleep advances, and the epochs
 * come from a script, so each ending is reached without Redis.
 */
const source = {node: 'src000000000', redisId: 'a'.repeat(40), address: '127.0.0.1:1'} as MasterConn
const target = {node: 'dst000000000', redisId: 'b'.repeat(40), address: '127.0.0.1:2'} as MasterConn
const UNSEEN: EpochReadings = {sourceOwn: 10, targetOwn: 9, sourceSeenByTarget: 8}
const SEEN: EpochReadings = {sourceOwn: 10, targetOwn: 9, sourceSeenByTarget: 10}

/** waitWith runs awaitEpochOrder on a fake clock, the readings answered in turn (the last one repeated). */
function waitWith(readings: EpochReadings[], extra: Partial<EpochWaitOptions> = {}) {
  const t = {now: 0, reads: 0}
  const opts: EpochWaitOptions = {
    now: () => t.now,
    sleep: async (ms) => void (t.now += ms),
    wayOut: 'run it again',
    waitMs: 1000,
    read: async () => readings[Math.min(t.reads++, readings.length - 1)]!,
    ...extra,
  }
  return {t, result: awaitEpochOrder(source, target, 7, opts)}
}

describe('awaitEpochOrder', () => {
  it('returns true at once when the target already knows the source epoch', async () => {
    const {t, result} = waitWith([SEEN])
    expect(await result).toBe(true)
    expect(t.reads).toBe(1)
  })

  it('holds the slot, reading again, until gossip carries the source epoch to the target', async () => {
    const {t, result} = waitWith([UNSEEN, UNSEEN, UNSEEN, SEEN])
    expect(await result).toBe(true)
    expect(t.reads).toBe(4)
    expect(t.now).toBe(300)
  })

  it('returns false, the slot still open, when the caller stops while waiting (the executor shutting down)', async () => {
    let stop = false
    const {t, result} = waitWith([UNSEEN, UNSEEN, SEEN], {stopped: () => stop, sleep: async (ms) => {
      t.now += ms
      stop = true
    }})
    expect(await result).toBe(false)
    expect(t.reads).toBe(2)
  })

  it('still returns true when the order holds even though the caller is stopping (the slot can be closed safely)', async () => {
    expect(await waitWith([SEEN], {stopped: () => true}).result).toBe(true)
  })

  it('throws PRECONDITION naming the slot, both epochs and the caller\'s way out once the bound passed', async () => {
    const {t, result} = waitWith([UNSEEN])
    const err = await result.then(() => undefined, (e: Error & {code?: string; hint?: string}) => e)
    expect(err).toMatchObject({code: 'PRECONDITION', hint: 'run it again'})
    expect(err?.message).toContain('slot 7: dst000000000 (config epoch 9) still sees src000000000 at epoch 8, not its 10, after 1 s')
    expect(t.now).toBeGreaterThan(1000)
    expect(t.now).toBeLessThanOrEqual(1100)
  })

  it('without a stop signal (redis fix) waits the whole bound', async () => {
    const {t, result} = waitWith([UNSEEN], {waitMs: 30_000})
    await expect(result).rejects.toMatchObject({code: 'PRECONDITION'})
    expect(t.now).toBeGreaterThan(30_000)
  })
})
