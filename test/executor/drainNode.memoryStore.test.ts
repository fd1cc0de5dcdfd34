import {describe, expect, it} from 'vitest'
import {getNode, listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {drainNode} from '../../src/executor/drainNode.js'
import {executePlan} from '../../src/executor/executePlan.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition, getMove, listMoves, requestCancel} from '../../src/executor/moveStore.js'
import {isTerminal} from '../../src/model/move.js'
import {UserError} from '../../src/errors/errors.js'
import {acquireLock} from '../../src/etcd/leaseLock.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockDeps} from './fixtures.js'

/** twoNodeCluster is an 8-shard, rf 1 cluster of two live nodes on the memory store, with a fake clock whose sleep advances it. */
async function twoNodeCluster(): Promise<{ctx: ReturnType<typeof makeServiceContext>; clock: ReturnType<typeof fakeClockDeps>}> {
  const clock = fakeClock()
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'drain'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 8, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  return {ctx, clock: fakeClockDeps(clock)}
}

/** effectsCopying are node effects that do nothing but `copy` (the test's). */
function effectsCopying(copy: MoveEffects['copy']): MoveEffects {
  return {barrier: async () => {}, copy, verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}}
}

/** DRAIN_INPUT: one move at a time, no throttle, confirmed. */
const DRAIN_INPUT = {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}

/**
 * What `node drain` tells the operator when the run ends with the node still holding data,
 * on the memory store with fake node effects: the advice must be something that finishes
 * the drain.
 */
describe('drainNode when replicas are left on the node', () => {
  it('after a move was cancelled (aborted, nothing left to resume) says to rerun the drain, not `apply --resume`', async () => {
    const {ctx, clock} = await twoNodeCluster()
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const node = shards[0]!.replicas[0]!.node
    const held = shards.filter((s) => s.replicas.some((r) => r.node === node)).length

    let cancelled: string | undefined
    // The operator cancels the first move while it copies (`moves cancel ID`); the others copy.
    const effects = effectsCopying(async (env, m) => {
      if (cancelled === undefined) {
        cancelled = m.value.id
        await requestCancel(env.ctx, m.value.id)
        return getMove(env.ctx, m.value.id)
      }
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'})
    })
    const drained = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects}, new AbortController().signal)

    expect(cancelled).toBeDefined()
    expect(drained.result?.counts).toEqual({done: held - 1, aborted: 1})
    expect(drained.remaining).toBe(1)
    // Nothing is left for `apply --resume`: it would only say "nothing to resume".
    expect(drained.message).not.toContain('apply --resume')
    // The node stays draining (an autopilot would empty it): the way to abandon the drain is named too.
    expect(drained.message).toBe(`node ${node} still holds 1 replica(s) (moves 1 aborted: see \`shardctl moves list\`) and stays draining; rerun \`shardctl node drain ${node}\` to plan them again, or \`shardctl node uncordon ${node}\` to abandon the drain`)
  })

})

describe('executePlan of a plan applied already', () => {
  it('runs nothing and says so, rather than a summary that reads as fresh work', async () => {
    const {ctx, clock} = await twoNodeCluster()
    const node = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    let copies = 0
    const effects = effectsCopying(async (env, m) => {
      copies++
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'})
    })
    const deps = (events: ExecutorEvent[]) => ({...clock, emit: (e: ExecutorEvent) => events.push(e), effects})
    const first = await drainNode(ctx, node, DRAIN_INPUT, deps([]), new AbortController().signal)
    const moved = copies
    expect(moved).toBeGreaterThan(0)

    const events: ExecutorEvent[] = []
    const again = await executePlan(ctx, {...DRAIN_INPUT, plan: first.plan!}, deps(events), new AbortController().signal)
    expect(copies).toBe(moved)
    expect(again.counts).toEqual({done: moved})
    const info = events.filter((e) => e.type === 'info').map((e) => (e as {message: string}).message)
    expect(info).toContain(`plan ${first.plan!.id} was applied already: every one of its ${moved} recorded move(s) has finished; nothing to run (the moves and bytes below are that run's)`)
  })
})

/**
 * An interrupted `node drain` (Ctrl-C while a move copies) tells the operator to finish with
 * what finishes it. The planner leaves a shard mid-move to a later plan (and apply's preflight
 * marks another plan's started move's shard stale), so a rerun of the drain cannot finish that
 * move: the advice must be `apply --resume`, and a rerun must say so rather than blame capacity.
 */
describe('node drain rerun after an interrupted drain', () => {
  it('given a drain stopped while a move copies, when the drain is rerun, then it drains the node or refuses naming the interrupted move and `apply --resume` (not "add capacity")', async () => {
    const {ctx, clock} = await twoNodeCluster()
    const node = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    const stop = new AbortController()
    let copies = 0
    const effects = effectsCopying(async (env, m) => {
      copies++
      // The first drain is stopped during its first copy: that move stays mid-way (copying).
      if (copies === 1) {
        stop.abort()
        return m
      }
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'})
    })
    const first = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects}, stop.signal)
    expect(first.remaining).toBeGreaterThan(0)
    const unfinished = (await listMoves(ctx)).filter((m) => !isTerminal(m.value.phase))
    expect(unfinished.map((m) => m.value.phase)).toContain('copying')

    // The rerun the message offered must lead somewhere: finish the drain, or refuse naming the
    // interrupted move and the way out (`apply --resume`), not "add capacity or nodes" (there is room).
    const second = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects}, new AbortController().signal).catch((err: unknown) => err as UserError)
    if (second instanceof UserError) {
      const copying = unfinished.find((m) => m.value.phase === 'copying')!.value
      expect(`${second.message} ${second.hint}`).toContain('apply --resume')
      expect(second.message).toContain(copying.id)
      expect(second.hint).not.toMatch(/add capacity/)
      // Refused: the node is left as the interrupted drain left it (draining), nothing new recorded.
      expect((await listMoves(ctx)).length).toBe((await listMoves(ctx)).filter((m) => m.value.plan === first.plan!.id).length)
    } else expect(second.remaining).toBe(0)
  })

  it('given an executor holding the lock, when the drain is refused over unfinished moves, then its hint says to wait for that executor, not to run `apply --resume` (refused while the lock is held)', async () => {
    const {ctx, clock} = await twoNodeCluster()
    const node = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    const stop = new AbortController()
    const first = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects: effectsCopying(async (_env, m) => (stop.abort(), m))}, stop.signal)
    expect(first.remaining).toBeGreaterThan(0)
    // Another executor runs now (an operator's apply of another plan): it holds the lock.
    const lock = await acquireLock(ctx.store, ctx.keys.executorLock, 'shardctl apply plans/other.json')
    try {
      const err = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects: effectsCopying(async (_env, m) => m)}, new AbortController().signal).then(
        () => expect.fail('the drain ran while another executor held the lock'),
        (e: unknown) => e as UserError,
      )
      expect(err).toBeInstanceOf(UserError)
      expect(err).toMatchObject({code: 'PRECONDITION', message: expect.stringMatching(/cannot be drained yet: 1 of its shard\(s\) are in unfinished moves/)})
      expect(err.hint).toMatch(/^they may be the moves shardctl apply plans\/other\.json \(pid \d+ on [^)]+\) runs \(it holds the executor lock, so `apply --resume` would be refused\): wait for it to end/)
      expect(err.hint).not.toMatch(/^finish them with `shardctl apply --resume`/)
    } finally {
      await lock.release()
    }
    // With no executor running, `apply --resume` is the way to finish them.
    const again = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects: effectsCopying(async (_env, m) => m)}, new AbortController().signal).catch((e: unknown) => e as UserError)
    expect(again).toMatchObject({code: 'PRECONDITION', hint: expect.stringMatching(/^finish them with `shardctl apply --resume`/)})
  })

  it('given a drain stopped while a move copies, then its message offers apply --resume only (a rerun skips shards mid-move)', async () => {
    const {ctx, clock} = await twoNodeCluster()
    const node = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    const stop = new AbortController()
    const effects = effectsCopying(async (_env, m) => (stop.abort(), m))

    const first = await drainNode(ctx, node, DRAIN_INPUT, {...clock, emit: () => {}, effects}, stop.signal)
    expect(first.message).toContain('apply --resume')
    expect(first.message).not.toContain('rerun')
  })
})

/**
 * Ctrl-C (the drain's abort signal) while the drain's confirmation is answered: `apply` stops
 * before it splits or records anything ("stopped before this run split, recorded or started
 * anything"). A drain that started nothing puts the node's state back (as a declined one does),
 * so no one else (the autopilot heals draining nodes) empties a node the operator stopped draining.
 */
describe('drainNode stopped before anything started', () => {
  it('given Ctrl-C while the confirmation is answered (yes), when the drain returns, then nothing is recorded and the node is active again', async () => {
    const {ctx, clock} = await twoNodeCluster()
    const node = (await listShards(ctx)).shards[0]!.value.replicas[0]!.node
    const ctrlC = new AbortController()
    const effects = effectsCopying(async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'}))
    const drained = await drainNode(ctx, node, {...DRAIN_INPUT, confirm: async () => (ctrlC.abort(), true)}, {...clock, emit: () => {}, effects}, ctrlC.signal)
    expect(drained.result?.stopped).toBe(true)
    expect(await listMoves(ctx)).toEqual([])
    expect((await getNode(ctx, node)).value.state).toBe('active')
    expect(drained.message).toMatch(/stopped before it recorded or started any move; node \S+ is active again/)
  })
})
