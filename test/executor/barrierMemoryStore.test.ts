import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {awaitBarrier, BARRIER_INTERRUPT_MS} from '../../src/executor/barrier.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {shardOf} from './fixtures.js'

const SHARD = shardOf(7, ['n1', 'n2', 'n3'], 9)
const TIMEOUT_MS = 1000

/** NodeScript answers a node's accept() calls: an epoch, or a thrown error, per call (the last answer repeats). */
type NodeScript = (number | Error)[]

/**
 * world is a memory store holding a cluster's alive and router keys, and an executor env
 * whose clock advances only when the barrier sleeps (so a deadline is a number of polls,
 * not wall time) and whose node clients answer from scripts.
 */
async function world(scripts: Record<string, NodeScript>) {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'c'}, () => new Date(0))
  const calls: Record<string, number> = {}
  let now = 0
  let onSleep: (polls: number) => Promise<void> = async () => {}
  let polls = 0
  const client = async (id: string) =>
    ({
      accept: async () => {
        const script = scripts[id] ?? [SHARD.epoch]
        const i = (calls[id] = (calls[id] ?? 0) + 1) - 1
        const answer = script[Math.min(i, script.length - 1)]!
        if (answer instanceof Error) throw answer
        return {epoch: answer}
      },
    }) as unknown as NodeClient
  const env = {
    ctx,
    client,
    options: {...DEFAULT_EXECUTOR_OPTIONS, barrierTimeoutMs: TIMEOUT_MS},
    now: () => now,
    sleep: async (ms: number) => {
      now += ms
      await onSleep(++polls)
    },
    stopped: () => false,
  } as unknown as ExecutorEnv
  const alive = async (id: string, lease?: string) => store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}), lease)
  const router = async (id: string, mapRevision: bigint, lease: string) =>
    store.put(ctx.keys.router(id), JSON.stringify({id, address: '127.0.0.1:2', pid: 2, startedAt: 't', updatedAt: 't', mapRevision: String(mapRevision), epochs: {}, p99Ms: null}), lease)
  return {store, ctx, env, calls, alive, router, polls: () => polls, whenPolled: (fn: (polls: number) => Promise<void>) => (onSleep = fn)}
}

describe('awaitBarrier on the memory store', () => {
  it('Given a router behind the barrier revision, When it reports the new map after two polls, Then the barrier passes only then', async () => {
    const w = await world({})
    const lease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, lease.id)
    await w.router('r1', 40n, lease.id)
    w.whenPolled(async (polls) => {
      if (polls === 2) await w.router('r1', 41n, lease.id)
    })

    await awaitBarrier(w.env, SHARD, 41n, ['n1', 'n2', 'n3'])

    expect(w.polls()).toBe(2)
  })

  it('Given a node still on the old epoch, Then it is asked again until it reports the barrier epoch; nodes already there are not asked again', async () => {
    const w = await world({n2: [SHARD.epoch - 1, SHARD.epoch - 1, SHARD.epoch]})
    const lease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, lease.id)

    await awaitBarrier(w.env, SHARD, 1n, ['n1', 'n2', 'n3'])

    expect(w.calls).toEqual({n1: 1, n2: 3, n3: 1})
  })

  it('Given a lagging router whose lease expires, Then the barrier stops waiting for it (a router without a lease does not serve)', async () => {
    const w = await world({})
    const nodesLease = await w.store.grantLease(10)
    const routerLease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, nodesLease.id)
    await w.router('r-stuck', 10n, routerLease.id)
    w.whenPolled(async (polls) => {
      if (polls === 3) w.store.expireLease(routerLease.id)
    })

    await awaitBarrier(w.env, SHARD, 50n, ['n1', 'n2', 'n3'])

    expect(w.polls()).toBe(3)
    expect(await w.store.get(w.ctx.keys.router('r-stuck'))).toBeUndefined()
  })

  it('Given a replica whose lease expired and that does not answer, Then it is not waited for', async () => {
    const w = await world({n3: [new NodeRequestError('NODE_UNREACHABLE', 'connect ECONNREFUSED', 'n3', 0)]})
    const lease = await w.store.grantLease(10)
    const n3Lease = await w.store.grantLease(10)
    await w.alive('n1', lease.id)
    await w.alive('n2', lease.id)
    await w.alive('n3', n3Lease.id)
    w.whenPolled(async (polls) => {
      if (polls === 1) w.store.expireLease(n3Lease.id)
    })

    await awaitBarrier(w.env, SHARD, 1n, ['n1', 'n2', 'n3'])

    expect(w.polls()).toBe(1)
    expect(w.calls.n3).toBe(1)
  })

  it('Given laggards past the deadline, Then a retriable PRECONDITION names each of them and the barrier writes nothing', async () => {
    const w = await world({n2: [new NodeRequestError('NOT_SERVING', 'starting', 'n2', 503)]})
    const lease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, lease.id)
    await w.router('r1', 5n, lease.id)
    await w.router('r2', 99n, lease.id)
    const before = await w.store.revision()

    const err = await awaitBarrier(w.env, SHARD, 99n, ['n1', 'n2', 'n3']).catch((e: unknown) => e)

    expect(err).toMatchObject({code: 'PRECONDITION', message: expect.stringMatching(/node n2, router r1 behind$/)})
    expect(w.polls()).toBeGreaterThanOrEqual(TIMEOUT_MS / 100)
    expect(await w.store.revision()).toBe(before)
  })

  it('Given a router that never catches up and an operator request arriving while the barrier waits, Then the barrier gives way to it within BARRIER_INTERRUPT_MS (CONFLICT: decide again), not at its timeout', async () => {
    const w = await world({})
    Object.assign(w.env, {options: {...w.env.options, barrierTimeoutMs: 30_000}})
    const lease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, lease.id)
    await w.router('r-stuck', 10n, lease.id)
    let request: string | undefined
    const asked: number[] = []
    w.whenPolled(async (polls) => {
      if (polls === 12) request = 'move m-1 was cancelled' // 1.2 s into the wait
    })

    const err = await awaitBarrier(w.env, SHARD, 50n, ['n1', 'n2', 'n3'], async () => (asked.push(w.polls()), request)).catch((e: unknown) => e)

    expect(err).toMatchObject({code: 'CONFLICT', message: expect.stringMatching(/move m-1 was cancelled$/)})
    // Asked every BARRIER_INTERRUPT_MS of waiting (a poll is 100 ms), and left at the first ask after the request.
    const every = BARRIER_INTERRUPT_MS / 100
    expect(asked).toEqual([every, 2 * every, 3 * every])
    expect(w.polls()).toBeLessThan(30_000 / 100)
  })

  it('Given a barrier that passes at once, Then nobody is asked about operator requests (no extra read)', async () => {
    const w = await world({})
    const lease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, lease.id)
    let asked = 0
    await awaitBarrier(w.env, SHARD, 1n, ['n1', 'n2', 'n3'], async () => (asked++, 'never'))
    expect(asked).toBe(0)
  })

  it('Given the store failing to list routers once, Then the barrier throws the store\'s error for the runner to retry', async () => {
    const w = await world({})
    const lease = await w.store.grantLease(10)
    for (const n of ['n1', 'n2', 'n3']) await w.alive(n, lease.id)
    w.store.faults.fail({op: 'list', key: w.ctx.keys.routersPrefix})

    await expect(awaitBarrier(w.env, SHARD, 1n, ['n1', 'n2', 'n3'])).rejects.toMatchObject({code: 'ETCD_UNREACHABLE'})
    await awaitBarrier(w.env, SHARD, 1n, ['n1', 'n2', 'n3'])
  })

  it('Given a node refusing for a reason that is not a node-request failure, Then the barrier throws it at once (a bug, not a laggard)', async () => {
    const w = await world({n1: [new TypeError('boom')]})
    const lease = await w.store.grantLease(10)
    await w.alive('n1', lease.id)

    await expect(awaitBarrier(w.env, SHARD, 1n, ['n1'])).rejects.toThrow('boom')
    expect(w.polls()).toBe(0)
  })
})
