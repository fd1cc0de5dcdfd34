import {type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition} from '../../src/executor/moveStore.js'
import {type Move} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'

/** shardOf builds a stable shard with voters on `nodes`. */
export function shardOf(id: number, nodes: string[], epoch = 5): Shard {
  return {id, range: {lo: id * 100, hi: id * 100 + 100}, epoch, replicas: nodes.map((node) => ({node, role: 'voter' as const}))}
}

/** moveOf builds a pending move record. */
export function moveOf(over: Partial<Move> & Pick<Move, 'shard' | 'from' | 'to'>): Move {
  return {
    id: `p-${over.index ?? 0}`,
    plan: 'p',
    index: 0,
    baseEpoch: 5,
    epoch: 5,
    phase: 'pending',
    progress: {bytes: 0, keys: 0, totalBytes: 0, rateBytesPerSec: 0, dataRateBytesPerSec: 0, cursor: null, stalled: false},
    cancelRequested: false,
    rollbackRequested: false,
    reason: null,
    attempts: 0,
    createdAt: 't',
    updatedAt: 't',
    cutoverAt: null,
    copyStartedAt: null,
    ...over,
  }
}

/**
 * copyOnlyEffects: move effects that touch no node. The copy only records the move's step to
 * `verifying` (on the memory store or real etcd), so a run exercises the executor's records,
 * fencing, lock and map transitions alone.
 */
export const copyOnlyEffects: MoveEffects = {barrier: async () => {}, copy: async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'}), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}}

/** markNodesAlive writes an alive key for each node (no process behind it), as the executor's preflight asks of a move's nodes. */
export async function markNodesAlive(ctx: ServiceContext, ids: readonly string[]): Promise<void> {
  for (const id of ids) await ctx.store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
}
