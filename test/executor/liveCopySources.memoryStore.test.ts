import {describe, expect, it} from 'vitest'
import {sourceDownWorld} from './fixtures.js'

/**
 * Verification compares the destination with the replicas a copy may read from. With the
 * destination learning during the copy (its answers not awaited), verification is what
 * carries over the writes it missed: found by session 27's lost-write hunt on the learner
 * design, verification with the source down used to compare the destination with the other
 * live voters — none at all at rf 1 — and passed, so a write acknowledged by the source alone
 * and missed by the learner would be lost at cutover.
 */
async function verifyWorld(rf: number, opts: {alive: (roles: {from: string; to: string; others: string[]}) => string[]; routerW?: (number | null)[]}) {
  // The shard as verification sees it: the destination promoted (joining) at the move's epoch.
  const w = await sourceDownWorld(rf, 'verifying', (initial, _from, to) => ({...initial, epoch: initial.epoch + 2, replicas: [...initial.replicas, {node: to, role: 'joining'}]}), opts)
  return {verify: () => w.effects.verify(w.move, w.shard), asked: w.asked, from: w.from, to: w.to, others: w.others}
}

describe('verification with the move source down', () => {
  it('at rf 1 never passes by comparing nothing: it waits for the source (retried, then the move aborts)', async () => {
    const w = await verifyWorld(1, {alive: ({to}) => [to]})
    await expect(w.verify()).rejects.toThrow(/source n\d of shard \d+ is down and writes may be acknowledged with w = 1/)
    expect(w.asked).toEqual([])
  })

  it('at rf 1 with the source up compares the destination with it', async () => {
    const w = await verifyWorld(1, {alive: ({from, to}) => [from, to]})
    await w.verify()
    expect(new Set(w.asked)).toEqual(new Set([w.from, w.to]))
  })

  it('at rf 3 (w = 2 on every router) compares the destination with both other voters', async () => {
    const w = await verifyWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 2]})
    await w.verify()
    expect(new Set(w.asked)).toEqual(new Set([...w.others, w.to]))
  })

  it('at rf 3 waits when a router may acknowledge with w = 1', async () => {
    const w = await verifyWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 1]})
    await expect(w.verify()).rejects.toThrow(/w = 1/)
    expect(w.asked).toEqual([])
  })

  it('at rf 3 waits when a second old voter is down too (a write quorum fits outside the one left)', async () => {
    const w = await verifyWorld(3, {alive: ({to, others}) => [to, others[0]!], routerW: [2]})
    await expect(w.verify()).rejects.toThrow(/could miss an acknowledged write/)
    expect(w.asked).toEqual([])
  })
})
