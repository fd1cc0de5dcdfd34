import {describe, expect, it} from 'vitest'
import {removeNode} from '../../src/cluster/nodeService.js'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {getMove} from '../../src/executor/moveStore.js'
import {lossWarnings, type Move} from '../../src/model/move.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {recordWriteQuorum} from '../../src/router/writeFloorRecord.js'
import {sleepBoundedEnv, sourceDownWorld, storedMoveUnderLock} from './fixtures.js'

/**
 * Session 42's hunt, on the real runMove and move machine over the memory store: a rollback at rf 3 with w = 2 whose
 * destination left the map, the source down, and one staying voter serving another data dir than at cutover (a replaced
 * disk: it lost what it acknowledged). A write acknowledged by the source, that voter and the destination (the joint
 * quorum) is then on the source (down) and the destination's copy alone. Until this hunt the voters up counted as enough
 * (the replaced one a holder), so `node remove --accept-data-loss` of the destination let the move end `rolledback`
 * without a word; now the copy counts as kept, and the move ends with a `kept-copy:` loss warning.
 */
async function rollbackWithReplacedVoter(replaced: boolean) {
  const world = await sourceDownWorld(3, 'rb-cutover', (initial, from) => ({...initial, epoch: initial.epoch + 4, replicas: initial.replicas.map((r) => (r.node === from ? {node: from, role: 'voter' as const} : r))}), {alive: ({to, others}) => [to, ...others]})
  const {store, ctx, to, from, others} = world
  await recordWriteQuorum(ctx, {id: 'r-two', w: 2})
  const claim = (node: string, dir: string, instance: string) => store.put(ctx.keys.claim(node), JSON.stringify({node, dataDirId: dir, instance}))
  await claim(to, 'dir-to', 'i1')
  await claim(from, 'dir-src', 'i1')
  const [b, c] = others as [string, string]
  await claim(b, replaced ? 'dir-b2' : 'dir-b', 'i2')
  await claim(c, 'dir-c', 'i1')
  const move: Move = {
    ...world.move,
    id: 'm1',
    rollbackRequested: true,
    cutoverAt: new Date(world.clock.now).toISOString(),
    copyStartedAt: 1,
    verifiedDirs: {[to]: 'dir-to/i1', [from]: 'dir-src/i1'},
    stayingDirs: {[b]: 'dir-b/i1', [c]: 'dir-c/i1'},
  }
  const fence = await storedMoveUnderLock(ctx, move)
  const env: ExecutorEnv = {
    ...sleepBoundedEnv(world.env, world.clock, fence, 40),
    client: async (node) => ({...(await world.env.client(node)), drop: async () => ({deleted: 0}), accept: async (_shard: number, epoch: number) => ({epoch})}) as unknown as NodeClient,
  }
  env.effects = nodeMoveEffects(env, async (_e, m) => m)
  await removeNode(ctx, to, {acceptDataLoss: true})
  return {m: (await runMove(env, await getMove(ctx, move.id))).value, to}
}

describe('a rollback whose destination was removed with --accept-data-loss, w = 2, the source down', () => {
  it('Given a staying voter on a replaced data dir since cutover, Then the move ends rolled back with a kept-copy loss warning', async () => {
    const {m, to} = await rollbackWithReplacedVoter(true)
    expect(m.phase).toBe('rolledback')
    expect(lossWarnings(m).map((w) => w.key)).toEqual([`kept-copy:${to}:removed:dir-to/i1`])
  })

  it('Given the staying voters on their data dirs (a plain restart), Then it ends rolled back without a warning (they hold every write)', async () => {
    const {m} = await rollbackWithReplacedVoter(false)
    expect(m.phase).toBe('rolledback')
    expect(m.warnings ?? []).toEqual([])
  })
})

describe('the promotion on the real runner records the staying voters\' claims', () => {
  it('Given a move in promoting with its destination learning, When the runner promotes it, Then the move records stayingDirs beside promotedDir', async () => {
    const world = await sourceDownWorld(3, 'promoting', (initial, _from, to) => ({...initial, epoch: initial.epoch + 1, replicas: [...initial.replicas, {node: to, role: 'learning' as const}]}), {alive: ({from, to, others}) => [from, to, ...others]})
    const {store, ctx, to, from, others} = world
    for (const n of [to, from, ...others]) await store.put(ctx.keys.claim(n), JSON.stringify({node: n, dataDirId: `dir-${n}`, instance: 'i1'}))
    const fence = await storedMoveUnderLock(ctx, world.move)
    let loops = 0
    // One pass of the loop: observe, decide the promotion, commit it.
    const env: ExecutorEnv = {...world.env, fence, stopped: () => loops++ >= 1}
    env.effects = nodeMoveEffects(env, async (_e, m) => m)
    const m = (await runMove(env, await getMove(ctx, world.move.id))).value
    expect(m.promotedDir).toBe(`dir-${to}/i1`)
    expect(m.stayingDirs).toEqual(Object.fromEntries(others.map((n) => [n, `dir-${n}/i1`])))
  })
})
