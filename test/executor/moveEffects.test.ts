import {describe, expect, it} from 'vitest'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {nodeMoveEffects, nodeRetryMs} from '../../src/executor/moveEffects.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type ReplicaRole, type Shard} from '../../src/model/shard.js'
import {shardOf, sourceDownWorld} from './fixtures.js'

const options = {...DEFAULT_EXECUTOR_OPTIONS, nodeRetryMs: 5_000, nodeRetryReplicatedMs: 30_000}
/** withDestination is `voters` plus the destination `d` in `role`, `extra` replicas besides. */
const withDestination = (voters: string[], role: ReplicaRole, extra: Shard['replicas'] = []): Shard => {
  const s = shardOf(1, voters)
  return {...s, replicas: [...s.replicas, ...extra, {node: 'd', role}]}
}

describe('nodeRetryMs: how long a move rides out an unreachable node', () => {
  it('is short at rf 1 only once the destination counts (joining, or after cutover): every write then waits on it', () => {
    expect(nodeRetryMs(options, withDestination(['a'], 'joining'), 'd')).toBe(5_000)
    expect(nodeRetryMs(options, {...shardOf(1, ['d']), replicas: [{node: 'd', role: 'voter'}, {node: 'a', role: 'outgoing'}]}, 'd')).toBe(5_000)
  })

  it('is the long window at rf 1 while the destination learns (the whole copy): writes are acknowledged by the source alone', () => {
    expect(nodeRetryMs(options, withDestination(['a'], 'learning'), 'd')).toBe(30_000)
    // Not a replica (yet or any more): nothing waits on it either.
    expect(nodeRetryMs(options, shardOf(1, ['a']), 'd')).toBe(30_000)
  })

  it('is the long window at rf ≥ 2 whatever the destination is: writes go on without one node', () => {
    for (const role of ['learning', 'joining'] as const) expect(nodeRetryMs(options, withDestination(['a', 'b', 'c'], role), 'd')).toBe(30_000)
  })
})

describe('the drain step once the executor stops', () => {
  it('stops polling the source for requests in flight (a stopped executor sleeps no time: it polled in a tight loop until the drain deadline)', async () => {
    const w = await sourceDownWorld(3, 'draining', (s) => s, {alive: ({from, to, others}) => [from, to, ...others]})
    let polls = 0
    const busySource = {inflight: async () => ((polls += 1), {inflight: 1})} as unknown as NodeClient
    const env: ExecutorEnv = {...w.env, client: async () => busySource, stopped: () => true}
    await nodeMoveEffects(env, async (_e, m) => m).drain(w.move)
    // One look, then out: the runner commits nothing after a stop, and the next executor drains again.
    expect(polls).toBe(1)
  })
})
