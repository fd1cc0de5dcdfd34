import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {willCopy} from '../../src/executor/copyAdmission.js'
import {type MovePhase} from '../../src/model/move.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply, markNodesAlive, moveOf} from './fixtures.js'

const KiB = 1024

/**
 * executePlan (resuming six recorded moves, node effects substituted) under a cluster throttle:
 * no more moves with their copy ahead of them run at once than the rate carries at 16KiB/s each,
 * however high --max-concurrent is; the others stay pending until a copy ends.
 */
async function runSix(throttle: number | null) {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'slots'}, () => new Date(clock.now))
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']
  await initCluster(ctx, {shards: 6, rf: 1, nodes: parseNodeSpecs(nodes.map((n, i) => `${n}=127.0.0.1:${7101 + i}@z${i}`).join(',')), force: false})
  await markNodesAlive(ctx, nodes)
  const shards = (await listShards(ctx)).shards.map((s) => s.value)
  // The per-node limits are out of the way (30): only the throttle can bound them.
  for (const [i, s] of shards.entries()) {
    const from = s.replicas[0]!.node
    const to = nodes[(nodes.indexOf(from) + 1) % nodes.length]!
    await store.put(ctx.keys.move(`m${i}`), JSON.stringify(moveOf({id: `m${i}`, index: i, shard: s.id, from, to, baseEpoch: s.epoch, epoch: s.epoch})))
  }
  const phases = new Map<string, MovePhase>()
  let mostCopyBound = 0
  const result = await fakeClockApply(ctx, clock, {
    limits: {maxConcurrent: 30, perNode: 30, incomingPerNode: 30},
    throttle,
    emit: (e) => {
      if (e.type !== 'phase') return
      phases.set(e.move, e.phase as MovePhase)
      mostCopyBound = Math.max(mostCopyBound, [...phases.values()].filter((p) => willCopy(p) && p !== 'pending').length)
    },
  })
  return {result, mostCopyBound}
}

describe('executePlan starts copies under the throttle at the 16KiB/s floor', () => {
  it('given 32KiB/s and six moves with --max-concurrent 30, then at most two are on their way to or in their copy at once, and all six finish', async () => {
    const {result, mostCopyBound} = await runSix(32 * KiB)
    expect(result.moves.map((m) => m.phase)).toEqual(Array(6).fill('done'))
    expect(mostCopyBound).toBe(2)
  })

  it('given no throttle, then they all start at once (the bound is the throttle, not the test)', async () => {
    const {result, mostCopyBound} = await runSix(null)
    expect(result.moves.map((m) => m.phase)).toEqual(Array(6).fill('done'))
    expect(mostCopyBound).toBeGreaterThan(2)
  })
})
