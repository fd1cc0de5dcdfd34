import {setTimeout as sleepFor} from 'node:timers/promises'
import {describe, expect, it} from 'vitest'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {withRedisNode} from '../../../src/redis/redisConnection.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {nodesSeenBy, replicaOf} from '../../support/redisFailover.js'
import {RedisWorkload} from '../../support/redisWorkload.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * Config epochs colliding while a move's target takes slots: a third master is failed over
 * with `CLUSTER FAILOVER TAKEOVER` again and again during the move. A takeover raises the
 * winner's config epoch without consensus, as the target's `SETSLOT NODE` does; the two, each
 * taking "the highest known + 1" before hearing of the other, end on the same epoch, and Redis
 * raises one of them later (clusterHandleConfigEpochCollision). No slot may go back to the
 * source and no acknowledged write to the moving keys may be lost; the move finishes with every
 * slot on the target.
 */

const available = await redisAvailable()
const file = useRedisCluster('redis-epoch-collision', available, {masters: 3, replicasPerMaster: 1, slotsPerShard: 64})
const apply = inProcessApplyOf(file)

/** configEpochs are the masters' config epochs by the view of the node at `address`, "address:epoch" each. */
async function configEpochs(address: string): Promise<string[]> {
  return (await nodesSeenBy(address)).filter((n) => n.flags.includes('master') && n.slots.length > 0).map((n) => `${n.address}:${n.configEpoch}`)
}

describe.skipIf(!available)('config-epoch collisions from failovers during a move', () => {
  it('a bystander taken over again and again while the target takes slots: every slot lands, no acknowledged write lost', async () => {
    const {shard, from, to, first, end} = await file.shardToMove(1)
    const bystander = file.masters.find((m) => m.node !== from.node && m.node !== to.node)!
    const tags = tagsInSlots(first, end, 24, 'ec')
    const keys = tags.flatMap(({tag}) => Array.from({length: 6}, (_, j) => `{${tag}}:${j}`))
    await Promise.all(keys.map((k) => file.client.set(k, `${k}=0`)))
    await file.recordPendingMove('epochs', shard, from, to)
    const work = new RedisWorkload(file.client, keys, 4, 20_000)
    const events: ExecutorEvent[] = []
    let done = false
    // 3 keys a batch, 30 a second: about 5 s of slots closing one after the other.
    const run = apply({redis: {keysPerBatch: 3, keysPerSec: 30}, sleepCapMs: 200, emit: (e) => events.push(e)}).finally(() => (done = true))
    const pair = [bystander.address, await replicaOf(bystander)]
    let takeovers = 0
    try {
      for (let i = 0; i < 8 && !done; i++) {
        // Whichever of the pair is the replica now takes over, raising its epoch without consensus.
        const replica = pair[(i + 1) % 2]!
        await withRedisNode(replica, (r) => r.call('CLUSTER', 'FAILOVER', 'TAKEOVER')).then(() => takeovers++, () => {})
        await sleepFor(300 + Math.floor(Math.random() * 400))
      }
      const result = await run
      expect(result.moves.find((m) => m.id === 'epochs')?.phase, JSON.stringify(events.filter((e) => e.type !== 'progress' && e.type !== 'throttle').slice(-10))).toBe('done')
    } finally {
      await work.stop()
    }
    expect(takeovers).toBeGreaterThan(1)
    // Gossip settles: every master agrees the target serves every slot of the shard.
    const served = await servedSlots(to)
    expect(Array.from({length: end - first}, (_, i) => first + i).filter((s) => !served.has(s))).toEqual([])
    expect(await openSlotMarks(file.masters.filter((m) => m.node !== bystander.node))).toEqual([])
    expect(work.ops).toBeGreaterThan(100)
    expect(await work.lost(file.client), (await configEpochs(to.address)).join(' ')).toEqual([])
  }, 90_000)
})
