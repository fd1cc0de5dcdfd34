import {listNodes, listShards} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {listMoves} from '../executor/moveStore.js'
import {type ClusterMeta} from '../model/cluster.js'
import {checkWarnings, isTerminal, lossWarnings, type Move, type MoveWarning, warningNode} from '../model/move.js'
import {readClusterViews} from './clusterViews.js'
import {redisTrouble, type RedisTrouble} from './redisTrouble.js'
import {slotsOfRange} from './slotMap.js'

/**
 * redisClusterTrouble is the Redis part of `cluster status`: it reads etcd's records (masters,
 * shards, moves not terminal, every move's unacknowledged warnings of data loss and those that wait for a check, the executor lock) and the `CLUSTER NODES` view of every recorded
 * master, the recorded seed and every master their views name (see readClusterViews), and
 * hands them to the pure {@link redisTrouble}. Bounded in time (each node by VIEW_TIMEOUT_MS);
 * throws only what reading etcd throws.
 */
export async function redisClusterTrouble(ctx: ServiceContext, meta: ClusterMeta): Promise<RedisTrouble> {
  const [nodes, {shards}, moves, lock] = await Promise.all([listNodes(ctx), listShards(ctx), listMoves(ctx), ctx.store.get(ctx.keys.executorLock)])
  const recordedNodes = nodes.map((n) => ({id: n.value.id, address: n.value.address}))
  const {views} = await readClusterViews([...(meta.redisSeed ? [meta.redisSeed] : []), ...recordedNodes.map((n) => n.address)])
  return redisTrouble({
    views,
    recordedNodes,
    recordedShards: shards.map((s) => ({id: s.value.id, ...slotsOfRange(s.value.range), owner: s.value.replicas[0]?.node ?? ''})),
    movingShards: new Set(moves.filter((m) => !isTerminal(m.value.phase)).map((m) => m.value.shard)),
    executorRunning: lock !== undefined,
    seed: meta.redisSeed,
    lossWarnings: moves.flatMap((m) => lossWarnings(m.value).map(warningItem(m.value))),
    checkWarnings: moves.flatMap((m) => checkWarnings(m.value).map(warningItem(m.value))),
  })
}

/** warningItem is a warning of move `m` as RedisTroubleInput lists it. */
function warningItem(m: Move): (w: MoveWarning) => {move: string; shard: number; phase: string; node: string | null; at: string; text: string} {
  return (w) => ({move: m.id, shard: m.shard, phase: m.phase, node: warningNode(w), at: w.at, text: w.text})
}
