import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {drainNode} from '../../src/executor/drainNode.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition, getMove, requestCancel} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/**
 * What `node drain` tells the operator when the run ends with the node still holding data,
 * on the memory store with fake node effects: the advice must be something that finishes
 * the drain.
 */
describe('drainNode when replicas are left on the node', () => {
  it('after a move was cancelled (aborted, nothing left to resume) says to rerun the drain, not `apply --resume`', async () => {
    let now = 1_000_000
    const store = new MemoryStore()
    const ctx = makeServiceContext(store, {cluster: 'drain'}, () => new Date(now))
    await initCluster(ctx, {shards: 8, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
    const shards = (await listShards(ctx)).shards.map((s) => s.value)
    const node = shards[0]!.replicas[0]!.node
    const held = shards.filter((s) => s.replicas.some((r) => r.node === node)).length
    for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))

    let cancelled: string | undefined
    const effects: MoveEffects = {
      barrier: async () => {},
      // The operator cancels the first move while it copies (`moves cancel ID`); the others copy.
      copy: async (env, m) => {
        if (cancelled === undefined) {
          cancelled = m.value.id
          await requestCancel(env.ctx, m.value.id)
          return getMove(env.ctx, m.value.id)
        }
        return commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'})
      },
      verify: async () => {},
      drain: async () => {},
      drop: async () => 0,
      catchUp: async () => {},
    }
    const input = {limits: {maxConcurrent: 1, perNode: 1}, throttle: null, nodeThrottle: null, options: DEFAULT_EXECUTOR_OPTIONS, confirm: async () => true, holder: 'test'}
    const drained = await drainNode(ctx, node, input, {now: () => now, sleep: async (ms) => void (now += ms), emit: () => {}, effects}, new AbortController().signal)

    expect(cancelled).toBeDefined()
    expect(drained.result?.counts).toEqual({done: held - 1, aborted: 1})
    expect(drained.remaining).toBe(1)
    // Nothing is left for `apply --resume`: it would only say "nothing to resume".
    expect(drained.message).not.toContain('apply --resume')
    expect(drained.message).toBe(`node ${node} still holds 1 replica(s) (moves 1 aborted: see \`shardctl moves list\`); rerun \`shardctl node drain ${node}\` to plan them again`)
  })
})
