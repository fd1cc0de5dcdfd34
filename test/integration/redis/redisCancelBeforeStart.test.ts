import {beforeEach, describe, expect, it} from 'vitest'
import {listShards} from '../../../src/cluster/clusterRepo.js'
import {type ServiceContext} from '../../../src/cluster/serviceContext.js'
import {type ExecutorEvent} from '../../../src/executor/executorEnv.js'
import {getMove, requestCancel} from '../../../src/executor/moveStore.js'
import {requestPlanCancel} from '../../../src/executor/planCancel.js'
import {type Move} from '../../../src/model/move.js'
import {fixOpenSlots} from '../../../src/redis/fixOpenSlots.js'
import {type Txn} from '../../../src/store/store.js'
import {openSlotMarks, redisAvailable, servedSlots, tagsInSlots} from '../../support/redisCluster.js'
import {changingCommandsSent, sentSince} from '../../support/redisCommandStats.js'
import {inProcessApplyOf, useRedisCluster} from '../../support/redisTestFile.js'

/**
 * A redis move cancelled before its first slot (`moves cancel ID` or `moves cancel --plan P`
 * while it is still `pending`) ends `aborted` without its run changing Redis: no IMPORTING,
 * MIGRATING, MIGRATE or SETSLOT NODE, no slot open, the shard record as it was. Before, the
 * runner started copying (the copying loop looks at the cancel flag only between slots, about
 * a second in) and walked the slots it had moved back; these 16-slot shards had all moved by
 * then, so the move ended `done`, the cancel ignored. Also a cancel written while the run is
 * scanning for big keys (after its fresh read of the record, before it records `copying`), and
 * a move left in `checked` (a kv phase the redis runner treats as not started).
 *
 * Real 3+3 cluster shared by the tests: each starts from a fresh etcd namespace, with any slot a
 * test left open closed first (a run of this file without the fix leaves moves half-done).
 */

const SLOTS_PER_SHARD = 16
const available = await redisAvailable()
const file = useRedisCluster('redis-cancel-before-start', available)
const apply = inProcessApplyOf(file)

beforeEach(async () => {
  if (!available) return
  if ((await openSlotMarks(file.masters)).length > 0) await fixOpenSlots(file.redis.seed, false)
  await file.freshNamespace(SLOTS_PER_SHARD)
}, 120_000)

/**
 * cancelledBeforeStart records a pending move of shard `index` (with keys in two of its slots,
 * so a started move has keys to MIGRATE), lets `cancel` ask for its cancel (possibly by wrapping
 * the context the executor runs on), runs the executor and checks the move ended `aborted`
 * before it started with Redis unchanged.
 */
async function cancelledBeforeStart(id: string, index: number, cancel: (move: Move) => Promise<ServiceContext>): Promise<void> {
  const {shard, from, to, first, end} = await file.shardToMove(index)
  const keys = tagsInSlots(first, end, 2, id).flatMap(({tag}) => Array.from({length: 20}, (_, j) => `{${tag}}:${j}`))
  await Promise.all(keys.map((k) => file.client.set(k, `${k}:v`)))
  const move = await file.recordPendingMove(id, shard, from, to)
  const ctx = await cancel(move)
  const before = await changingCommandsSent(file.masters.map((m) => m.address))
  const events: ExecutorEvent[] = []

  const result = await apply({ctx, emit: (e) => events.push(e)})

  expect(result.moves).toEqual([expect.objectContaining({id, phase: 'aborted'})])
  expect((await getMove(file.ctx, id)).value.reason).toBe('cancelled by operator before it started: nothing was moved')
  // Never recorded copying: the runner went from the phase it found straight to aborted.
  expect(events.flatMap((e) => (e.type === 'phase' && e.move === id ? [e.phase] : []))).toEqual(['aborted'])
  expect(sentSince(before, await changingCommandsSent(file.masters.map((m) => m.address)))).toEqual([])
  expect(await openSlotMarks(file.masters)).toEqual([])
  const served = await servedSlots(from)
  expect(Array.from({length: end - first}, (_, i) => first + i).filter((slot) => !served.has(slot))).toEqual([])
  expect((await listShards(file.ctx)).shards.find((s) => s.value.id === shard.id)?.value).toEqual(shard)
  expect(await Promise.all(keys.map((k) => file.client.get(k)))).toEqual(keys.map((k) => `${k}:v`))
}

/**
 * cancelOnCopyingCommit returns `ctx` with a store that, the first time a transaction would
 * record move `id` as `copying`, first writes `moves cancel id` through the unwrapped store:
 * a cancel landing after the runner's last read of the record and before its copying commit
 * (the big-key scan between them takes seconds on a big shard).
 */
function cancelOnCopyingCommit(ctx: ServiceContext, id: string): ServiceContext {
  const key = ctx.keys.move(id)
  let fired = false
  const store = new Proxy(ctx.store, {
    get(target, prop) {
      const real: unknown = Reflect.get(target, prop, target)
      if (prop !== 'commit') return typeof real === 'function' ? (real as (...a: unknown[]) => unknown).bind(target) : real
      return async (txn: Txn) => {
        if (!fired && (txn.puts ?? []).some((p) => p.key === key && (JSON.parse(p.value) as Move).phase === 'copying')) {
          fired = true
          expect((await requestCancel(ctx, id)).changed).toBe(true)
        }
        return target.commit(txn)
      }
    },
  })
  return {...ctx, store}
}

describe.skipIf(!available)('a redis move cancelled before it started', () => {
  it('`moves cancel ID` while pending: aborted with nothing sent to Redis', async () => {
    await cancelledBeforeStart('cancel-pending', 1, async (m) => {
      expect((await requestCancel(file.ctx, m.id)).changed).toBe(true)
      return file.ctx
    })
  }, 60_000)

  it('`moves cancel --plan P` while pending: aborted with nothing sent to Redis', async () => {
    await cancelledBeforeStart('cancel-plan', 2, async (m) => {
      expect((await requestPlanCancel(file.ctx, m.plan)).cancelled).toBe(1)
      return file.ctx
    })
  }, 60_000)

  it('a cancel written during the big-key scan, before the move records copying: aborted with nothing sent', async () => {
    await cancelledBeforeStart('cancel-scan', 3, async (m) => cancelOnCopyingCommit(file.ctx, m.id))
  }, 60_000)

  it('a cancel while `checked`: aborted with nothing sent to Redis', async () => {
    await cancelledBeforeStart('cancel-checked', 4, async (m) => {
      await file.ctx.store.put(file.ctx.keys.move(m.id), JSON.stringify({...m, phase: 'checked'}))
      expect((await requestCancel(file.ctx, m.id)).changed).toBe(true)
      return file.ctx
    })
  }, 60_000)
})
