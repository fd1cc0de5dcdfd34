import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {UserError} from '../../src/errors/errors.js'
import {type ExecutorEnv, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {commitMoveTransition, getMove, LockLostError, requestCancel, requestRollback} from '../../src/executor/moveStore.js'
import {type Move, type MovePhase} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply, fakeClockEnv, moveOf} from './fixtures.js'

/**
 * The real runMove and executePlan on the in-memory store, with fake node effects: the
 * fenced transactions, observations, retry policy and resume are the product's; only the
 * nodes are substituted (they record what they were asked). Time is a counter advanced by
 * sleeps, so these run in milliseconds.
 */

const FORWARD: MovePhase[] = ['checked', 'joining', 'copying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup']
const roles = (s: Shard) => s.replicas.map((r) => `${r.node}:${r.role}`).sort()

interface Cluster {
  store: MemoryStore
  ctx: ServiceContext
  calls: string[]
  shard: Shard
  /** spare is the one node that holds no replica of the shard: the moves' destination. */
  spare: string
  /** lock puts an executor lock key and returns its fence. */
  lock(): Promise<{key: string; createRevision: bigint}>
}

async function cluster(): Promise<Cluster> {
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'mem'}, () => new Date(0))
  await initCluster(ctx, {shards: 1, rf: 3, nodes: parseNodeSpecs('n1=127.0.0.1:7101@a,n2=127.0.0.1:7102@b,n3=127.0.0.1:7103@c,n4=127.0.0.1:7104@a'), force: false})
  for (const id of ['n1', 'n2', 'n3', 'n4']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shard = (await listShards(ctx)).shards[0]!.value
  return {
    store,
    ctx,
    calls: [],
    shard,
    spare: ['n1', 'n2', 'n3', 'n4'].find((n) => !shard.replicas.some((r) => r.node === n))!,
    async lock() {
      const key = ctx.keys.executorLock
      await store.put(key, JSON.stringify({holder: 'test'}))
      return {key, createRevision: (await store.get(key))!.createRevision}
    },
  }
}

/** fakeNodes are node effects that succeed and record what they were asked; `copy` commits `promoting` as the real one does. */
function fakeNodes(c: Cluster, fail?: (what: string) => Error | undefined): MoveEffects {
  // Each effect records itself, then fails if `fail` says so.
  const step = async (what: string) => {
    c.calls.push(what)
    const err = fail?.(what)
    if (err) throw err
  }
  return {
    barrier: async (shard, _rev, nodes) => step(`barrier@${shard.epoch}:${[...nodes].sort().join(',')}`),
    copy: async (env, m) => {
      await step('copy')
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting', progress: {...m.value.progress, bytes: 1024, keys: 8}})
    },
    verify: async () => step('verify'),
    drain: async () => step('drain'),
    drop: async (node) => {
      await step(`drop:${node}`)
      return 0
    },
    catchUp: async () => step('catch-up'),
  }
}

function envOf(c: Cluster, fence: {key: string; createRevision: bigint}, effects: MoveEffects, opts: {stopAt?: MovePhase} = {}): ExecutorEnv & {events: ExecutorEvent[]} {
  const clock = fakeClock()
  let stopped = false
  let turns = 0
  const events: ExecutorEvent[] = []
  return {
    events,
    ctx: c.ctx,
    fence,
    client: async () => {
      throw new Error('no node client in memory-store tests: effects are injected')
    },
    ...fakeClockEnv(clock),
    // Bounded: a runner that loops without progress (all microtasks here, so no timeout could
    // fire) is stopped after this many turns, and the test fails on what it left behind.
    stopped: () => stopped || ++turns > 5000,
    emit: (ev) => {
      events.push(ev)
      if (ev.type === 'phase' && ev.phase === opts.stopAt) stopped = true
    },
    effects,
  }
}

async function recordMove(c: Cluster, over: Partial<Move> = {}): Promise<string> {
  const move = moveOf({id: 'mem-0001', shard: c.shard.id, from: c.shard.replicas[0]!.node, to: c.spare, baseEpoch: c.shard.epoch, epoch: c.shard.epoch, ...over})
  await c.store.put(c.ctx.keys.move(move.id), JSON.stringify(move))
  return move.id
}

describe('runMove on the memory store with fake nodes', () => {
  it('runs a full move: every phase committed in order, the shard ends on the new set five epochs later (join as a learner, promotion, cutover, release, cleanup)', async () => {
    const c = await cluster()
    const id = await recordMove(c)
    const env = envOf(c, await c.lock(), fakeNodes(c))
    const end = await runMove(env, await getMove(c.ctx, id))
    expect(end.value.phase).toBe('done')
    expect(env.events.filter((e) => e.type === 'phase').map((e) => (e as {phase: string}).phase)).toEqual([...FORWARD, 'done'])
    const shard = (await listShards(c.ctx)).shards[0]!.value
    const src = c.shard.replicas[0]!.node
    expect(roles(shard)).toEqual([...c.shard.replicas.filter((r) => r.node !== src).map((r) => `${r.node}:voter`), `${c.spare}:voter`].sort())
    expect(shard.epoch).toBe(c.shard.epoch + 5)
    expect(c.calls[0]).toBe(`drop:${c.spare}`)
    expect(c.calls.at(-1)).toBe(`drop:${src}`)
    expect(c.calls.filter((x) => x === 'copy' || x === 'verify')).toEqual(['copy', 'verify'])
  })

  it("runs a move whose copy commits verifying with the destination still learning (session 28's copy did): back to promoting, promoted, the barrier on the promoted epoch, then verified; five epochs", async () => {
    const c = await cluster()
    const id = await recordMove(c)
    const base = fakeNodes(c)
    const env = envOf(c, await c.lock(), {
      ...base,
      copy: async (e, m) => {
        c.calls.push('copy')
        return commitMoveTransition(e.ctx, e.fence, m, {phase: 'verifying'})
      },
    })
    const end = await runMove(env, await getMove(c.ctx, id))
    expect(end.value.phase).toBe('done')
    expect(env.events.filter((e) => e.type === 'phase').map((e) => (e as {phase: string}).phase)).toEqual(['checked', 'joining', 'copying', 'verifying', 'promoting', 'verifying', 'cutover', 'release', 'draining', 'cleanup', 'done'])
    const promotedBarrier = `barrier@${c.shard.epoch + 2}:${[...c.shard.replicas.map((r) => r.node), c.spare].sort().join(',')}`
    const afterCopy = c.calls.slice(c.calls.indexOf('copy') + 1)
    expect(afterCopy.slice(0, 3)).toEqual([promotedBarrier, promotedBarrier, 'verify'])
    expect((await listShards(c.ctx)).shards[0]!.value.epoch).toBe(c.shard.epoch + 5)
  })

  it.each(FORWARD)('survives a kill in %s: a new executor on the same store resumes the move from its persisted phase and finishes it', async (phase) => {
    const c = await cluster()
    const id = await recordMove(c)
    const first = envOf(c, await c.lock(), fakeNodes(c), {stopAt: phase})
    const stopped = await runMove(first, await getMove(c.ctx, id))
    expect(stopped.value.phase).toBe(phase)
    expect((await getMove(c.ctx, id)).value.phase).toBe(phase)
    // The old executor is gone; its successor takes a new lock and starts from the record alone.
    await c.store.delete(c.ctx.keys.executorLock)
    const callsBefore = c.calls.length
    const second = envOf(c, await c.lock(), fakeNodes(c))
    const end = await runMove(second, await getMove(c.ctx, id))
    expect(end.value.phase).toBe('done')
    const shard = (await listShards(c.ctx)).shards[0]!.value
    expect(shard.replicas.map((r) => r.node)).toContain(c.spare)
    expect(shard.replicas.every((r) => r.role === 'voter')).toBe(true)
    expect(shard.epoch).toBe(c.shard.epoch + 5)
    // The resumed phase's side effects ran again (they are idempotent), nothing before it did.
    const resumed = c.calls.slice(callsBefore)
    if (phase === 'copying') expect(resumed[0]).toBe('copy')
    const promotedBarrier = `barrier@${c.shard.epoch + 2}:${[...c.shard.replicas.map((r) => r.node), c.spare].sort().join(',')}`
    // Killed as it entered promoting, the destination still learning: promoted, the barrier on the new epoch, verifying (the barrier again), then the verification.
    if (phase === 'promoting') expect(resumed.slice(0, 3)).toEqual([promotedBarrier, promotedBarrier, 'verify'])
    // Killed as it entered verifying (promoted, barrier passed): the barrier again, then the verification.
    if (phase === 'verifying') expect(resumed.slice(0, 2)).toEqual([promotedBarrier, 'verify'])
    if (phase === 'draining') expect(resumed[0]).toBe('drain')
    if (phase !== 'checked') expect(resumed).not.toContain(`drop:${c.spare}`)
  })

  it.each([
    ['joining', 'a cancel', 'aborted'],
    ['cutover', 'a rollback', 'rolledback'],
    ['release', 'a rollback', 'rolledback'],
  ] as const)('leaves a %s barrier held by a laggard for %s, and the move ends %s with no barrier timing out', async (phase, what, end) => {
    const c = await cluster()
    const id = await recordMove(c)
    const held: string[] = []
    const base = fakeNodes(c)
    // The barrier of `phase` is held (a laggard): it asks `interrupted` as awaitBarrier does and, asked
    // nothing, runs to its timeout. The operator's request comes while it waits.
    const effects: MoveEffects = {
      ...base,
      barrier: async (shard, rev, nodes, interrupted) => {
        const m = (await getMove(c.ctx, id)).value
        if (m.phase !== phase || held.length > 0) return base.barrier(shard, rev, nodes)
        held.push('held')
        await (what === 'a cancel' ? requestCancel(c.ctx, id) : requestRollback(c.ctx, id))
        for (let i = 0; i < 60; i++) {
          const why = await interrupted?.()
          if (why) {
            held.push(`left: ${why}`)
            throw new UserError('CONFLICT', why)
          }
        }
        held.push('timed out')
        throw new UserError('PRECONDITION', 'barrier not reached: router r-stuck behind')
      },
    }
    const env = envOf(c, await c.lock(), effects)
    const done = await runMove(env, await getMove(c.ctx, id))
    expect(done.value.phase).toBe(end)
    expect(held).toEqual(['held', `left: move ${id} ${what === 'a cancel' ? 'was cancelled' : 'is to be rolled back'}`])
    // Left at once: not a failed attempt, nothing retried.
    expect(done.value.attempts).toBe(0)
    expect(env.events.filter((e) => e.type === 'retry')).toEqual([])
    expect(roles((await listShards(c.ctx)).shards[0]!.value)).toEqual(roles(c.shard))
  })

  it('stops with LockLostError when the executor lock is taken away, and writes nothing after', async () => {
    const c = await cluster()
    const id = await recordMove(c)
    const effects = fakeNodes(c)
    let before: {move: bigint; shard: bigint} | undefined
    const env = envOf(c, await c.lock(), {
      ...effects,
      copy: async (e, m) => {
        // Another executor takes over while this one copies.
        await c.store.delete(c.ctx.keys.executorLock)
        await c.store.put(c.ctx.keys.executorLock, JSON.stringify({holder: 'other'}))
        before = {move: (await getMove(c.ctx, id)).modRevision, shard: (await listShards(c.ctx)).shards[0]!.modRevision}
        return effects.copy(e, m)
      },
    })
    await expect(runMove(env, await getMove(c.ctx, id))).rejects.toBeInstanceOf(LockLostError)
    expect((await getMove(c.ctx, id)).modRevision).toBe(before!.move)
    expect((await getMove(c.ctx, id)).value.phase).toBe('copying')
    expect((await listShards(c.ctx)).shards[0]!.modRevision).toBe(before!.shard)
  })

  it('aborts back to the old replicas when a barrier keeps failing, counting attempts on the record', async () => {
    const c = await cluster()
    const id = await recordMove(c)
    const env = envOf(c, await c.lock(), fakeNodes(c, (w) => (w.startsWith('barrier') ? new UserError('PRECONDITION', 'barrier not reached: router r1 behind') : undefined)))
    const end = await runMove(env, await getMove(c.ctx, id))
    expect(end.value.phase).toBe('aborted')
    expect(end.value.attempts).toBe(8)
    expect(end.value.reason).toMatch(/gave up after 8 attempts in joining: barrier not reached/)
    const shard = (await listShards(c.ctx)).shards[0]!.value
    expect(roles(shard)).toEqual(roles(c.shard))
    expect(c.calls.filter((x) => x === `drop:${c.spare}`)).toHaveLength(2) // before joining, and the abort's drop
  })

  it('executePlan --resume runs a recorded move to done on the memory store', async () => {
    const c = await cluster()
    const id = await recordMove(c)
    const result = await fakeClockApply(c.ctx, fakeClock(), {limits: {maxConcurrent: 2, perNode: 1}, effects: fakeNodes(c)})
    expect(result.moves.map((m) => [m.id, m.phase])).toEqual([[id, 'done']])
    expect(result.counts).toEqual({done: 1})
    expect(await c.store.get(c.ctx.keys.executorLock)).toBeUndefined()
  })
})
