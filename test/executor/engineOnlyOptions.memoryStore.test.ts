import {describe, expect, it} from 'vitest'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {refuseKeysRateOnKv, setKeysThrottle} from '../../src/executor/controlService.js'
import {drainNode} from '../../src/executor/drainNode.js'
import {engineOnlyOptionsError} from '../../src/executor/engineMoveRunner.js'
import {isUserError} from '../../src/errors/errors.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {copyOnlyEffects, fakeClock, fakeClockApply, fakeClockDeps} from './fixtures.js'

/**
 * Redis move options (--keys-per-sec, --batch-keys, --big-key-limit, --allow-big-keys) given
 * for a kv cluster were taken and ignored: an operator who limited a kv drain by keys/s had
 * no limit at all. Refused now, before anything changes.
 */
async function kvCluster() {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'kv1'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 4, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  // Every write bumps the revision: equal revisions before and after mean nothing was written.
  const dump = () => store.revision()
  return {clock, store, ctx, dump}
}

describe('redis-only move options on a kv cluster', () => {
  it('names every redis option given, and none when none is', () => {
    expect(engineOnlyOptionsError('kv', 'c', {keysPerSec: 10, keysPerBatch: 5})?.message).toBe('--keys-per-sec, --batch-keys apply to redis-engine clusters only, and cluster "c" is kv; nothing was changed')
    expect(engineOnlyOptionsError('kv', 'c', {allowBigKeys: true})?.message).toMatch(/^--allow-big-keys applies to/)
    expect(engineOnlyOptionsError('kv', 'c', {})).toBeUndefined()
    expect(engineOnlyOptionsError('kv', 'c', undefined)).toBeUndefined()
    expect(engineOnlyOptionsError('redis', 'c', {keysPerSec: 10})).toBeUndefined()
  })

  it('refuses apply with --keys-per-sec before taking the lock or recording a move', async () => {
    const {clock, ctx, dump} = await kvCluster()
    const plan = planRebalance(await readSnapshot(ctx), {}, {id: 'p', createdAt: new Date(clock.now).toISOString()})
    const before = await dump()
    const err = await fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}, redis: {keysPerSec: 100}}).then(() => undefined, (e: unknown) => e)
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect((err as Error).message).toMatch(/^--keys-per-sec applies to redis-engine clusters only/)
    expect(await dump()).toEqual(before)
  })

  it('refuses node drain with --batch-keys before marking the node draining', async () => {
    const {clock, ctx, dump} = await kvCluster()
    const before = await dump()
    const input = {throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test', limits: {maxConcurrent: 1, perNode: 1}, redis: {keysPerBatch: 10}}
    const err = await drainNode(ctx, 'n1', input, {...fakeClockDeps(clock), emit: () => {}, effects: copyOnlyEffects}, new AbortController().signal).then(() => undefined, (e: unknown) => e)
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect(await dump()).toEqual(before)
  })

  it('refuses throttle set --keys-per-sec on a kv cluster and leaves control as it was; unset is still taken', async () => {
    const {ctx, dump} = await kvCluster()
    const before = await dump()
    expect(isUserError(await refuseKeysRateOnKv(ctx).catch((e: unknown) => e), 'BAD_INPUT')).toBe(true)
    const err = await setKeysThrottle(ctx, 500).then(() => undefined, (e: unknown) => e)
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    expect(await dump()).toEqual(before)
    expect((await setKeysThrottle(ctx, null)).control.throttleKeysPerSec ?? null).toBeNull()
  })
})
