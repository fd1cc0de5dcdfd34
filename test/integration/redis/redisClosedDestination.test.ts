import {beforeEach, describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {setNodeState} from '../../../src/cluster/nodeService.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {getMove} from '../../../src/executor/moveStore.js'
import {type NodeState} from '../../../src/model/node.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * A redis move onto a master cordoned or drained after `apply` started is skipped when its turn
 * comes, as a kv move is (checkMove's closedDestination, at its pending step): apply's preflight
 * covers only the moment apply starts. Before, the redis runner checked only the shard's epoch
 * and owner, and migrated the slots onto the closed master anyway.
 *
 * Two pending moves of one plan onto the same master (run one after the other: --per-node 1);
 * the master is cordoned (or marked draining) the moment the first records `copying`. The first
 * finishes (a move already under way is not stopped, as on kv); the second must end `skipped`
 * naming the state and the way out, its slots untouched on their master.
 */

const SLOTS_PER_SHARD = 16
const available = await redisAvailable()
const file = useRedisCluster('redis-closed-destination', available)
const apply = inProcessApplyOf(file)

beforeEach(async () => {
  if (!available) return
  if ((await openSlotMarks(file.masters)).length > 0) await fixOpenSlots(file.redis.seed, false)
  await file.freshNamespace(SLOTS_PER_SHARD)
}, 120_000)

async function closedMidApply(state: NodeState): Promise<void> {
  const a = await file.shardToMove(1)
  // Another shard of the same master, to the same target.
  const shards = (await listShards(file.ctx)).shards.map((s) => s.value)
  const second = shards.find((s) => s.id !== a.shard.id && s.replicas[0]!.node === a.from.node)!
  const b = {...(await file.shardToMove(shards.indexOf(second))), to: a.to}
  const keys = [a, b].flatMap((x, i) => tagsInSlots(x.first, x.end, 2, `cd${i}`).flatMap(({tag}) => Array.from({length: 10}, (_, j) => `{${tag}}:${j}`)))
  await Promise.all(keys.map((k) => file.client.set(k, `${k}:v`)))
  await file.recordPendingMove('cd-a', a.shard, a.from, a.to)
  await file.recordPendingMove('cd-b', b.shard, b.from, b.to)
  let closed: Promise<unknown> | undefined
  const events: ExecutorEvent[] = []
  const emit = (e: ExecutorEvent): void => {
    events.push(e)
    if (e.type === 'phase' && e.phase === 'copying' && !closed) closed = setNodeState(file.ctx, a.to.node, state)
  }

  const result = await apply({emit})
  await closed

  const phases = new Map(result.moves.map((m) => [m.id, m.phase]))
  const firstRun = phases.get('cd-a') === 'done' ? 'cd-a' : 'cd-b'
  const other = firstRun === 'cd-a' ? 'cd-b' : 'cd-a'
  expect(phases.get(firstRun)).toBe('done')
  expect(phases.get(other)).toBe('skipped')
  expect((await getMove(file.ctx, other)).value.reason).toBe(`destination node "${a.to.node}" is ${state}: it takes no new replicas (\`shardctl node uncordon ${a.to.node}\` ${state === 'cordoned' ? 'to allow them' : 'to abandon the drain'})`)
  const skipped = other === 'cd-a' ? a : b
  const served = await servedSlots(skipped.from)
  expect(Array.from({length: skipped.end - skipped.first}, (_, i) => skipped.first + i).filter((slot) => !served.has(slot))).toEqual([])
  expect((await listShards(file.ctx)).shards.find((s) => s.value.id === skipped.shard.id)?.value).toEqual(skipped.shard)
  expect(await openSlotMarks(file.masters)).toEqual([])
  expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
}

describe.skipIf(!available)('a redis move onto a master closed after apply started', () => {
  it('cordoned mid-apply: the next move onto it is skipped, nothing migrated', async () => {
    await closedMidApply('cordoned')
  }, 60_000)

  it('draining mid-apply: the next move onto it is skipped, nothing migrated', async () => {
    await closedMidApply('draining')
  }, 60_000)
})
