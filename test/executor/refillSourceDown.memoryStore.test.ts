import {describe, expect, it} from 'vitest'
import {WaitingForNode} from '../../src/executor/retryPolicy.js'
import {sourceDownWorld} from './fixtures.js'

/**
 * The refill of a cut-over destination that restarted since verification (verifiedDirs.ts)
 * when the move's source is down. Found by session 36's hunt: the refill waited for the
 * source alone, so a heal (a move off a dead node, which verification compares with the
 * other voters) whose destination merely restarted after cutover waited for the dead node
 * for ever: in `cleanup` no rollback or cancel is accepted, and the dead node cannot be
 * removed while it is a replica. The staying voters hold every acknowledged write under the
 * same write-quorum rule verification uses (liveCopySources), so the refill reads them.
 */
async function refillWorld(rf: number, opts: {alive: (roles: {from: string; to: string; others: string[]}) => string[]; routerW?: (number | null)[]}) {
  // The shard cut over (E+3): the destination a voter, the source outgoing.
  const w = await sourceDownWorld(rf, 'cleanup', (initial, from, to) => ({...initial, epoch: initial.epoch + 3, replicas: [...initial.replicas.map((r) => (r.node === from ? {node: from, role: 'outgoing' as const} : r)), {node: to, role: 'voter'}]}), opts)
  return {refill: () => w.effects.verify(w.move, w.shard, {refill: true}), asked: w.asked, from: w.from, to: w.to, others: w.others}
}

describe('refill of a restarted cut-over destination with the move source down', () => {
  it('at rf 3 (w = 2 on every router) refills from the staying voters instead of waiting for the dead source', async () => {
    const w = await refillWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 2]})
    await w.refill()
    expect(new Set(w.asked)).toEqual(new Set([...w.others, w.to]))
    expect(w.asked).not.toContain(w.from)
  })

  it('with the source up refills from it and from the staying voters up (from release on, writes reach them, not the leaving source)', async () => {
    const w = await refillWorld(3, {alive: ({from, to, others}) => [from, to, ...others], routerW: [2]})
    await w.refill()
    expect(new Set(w.asked)).toEqual(new Set([w.from, w.to, ...w.others]))
  })

  it('with the source up and a staying voter down refills from the source and the voters up, without waiting for the one down', async () => {
    const w = await refillWorld(3, {alive: ({from, to, others}) => [from, to, others[0]!], routerW: [2]})
    await w.refill()
    expect(new Set(w.asked)).toEqual(new Set([w.from, w.to, w.others[0]!]))
  })

  it('at rf 1 waits for the source (not a counted failure): only it holds what the destination may lack', async () => {
    const w = await refillWorld(1, {alive: ({to}) => [to]})
    const err = await w.refill().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(WaitingForNode)
    expect(String(err)).toMatch(/is down/)
    expect(w.asked).toEqual([])
  })

  it('at rf 3 waits (not counted) when a router may acknowledge with w = 1: a write may be on the source alone', async () => {
    const w = await refillWorld(3, {alive: ({to, others}) => [to, ...others], routerW: [null, 1]})
    const err = await w.refill().then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(WaitingForNode)
    expect(String(err)).toMatch(/w = 1/)
    expect(w.asked).toEqual([])
  })
})
