import {UserError} from '../errors/errors.js'
import {type RedisClusterNode, isLiveMaster, parseClusterNodes} from './clusterNodes.js'
import {clusterCommand, withRedisNode} from './redisConnection.js'

/** RedisTopology is what one node of a Redis Cluster says the cluster looks like. */
export interface RedisTopology {
  /** seen is the address that answered. */
  seen: string
  nodes: RedisClusterNode[]
  masters: RedisClusterNode[]
}

/**
 * discoverTopology reads `CLUSTER NODES` from `seed` (a master or replica of the cluster).
 * Throws UserError(NODE_UNREACHABLE) when it does not answer, UserError(BAD_INPUT) when it is
 * not in cluster mode.
 */
export async function discoverTopology(seed: string): Promise<RedisTopology> {
  return withRedisNode(seed, async (r) => {
    let text: string
    try {
      text = String(await clusterCommand(r, 'NODES'))
    } catch (err) {
      throw new UserError('BAD_INPUT', `redis at ${seed} refused CLUSTER NODES: ${(err as Error).message}`, 'shardctl drives Redis Cluster: start redis-server with --cluster-enabled yes and create the cluster first')
    }
    const nodes = parseClusterNodes(text)
    return {seen: seed, nodes, masters: nodes.filter(isLiveMaster)}
  })
}

/** openSlots lists every slot some master marks MIGRATING or IMPORTING, with who says what. */
export function openSlots(nodes: readonly RedisClusterNode[]): {slot: number; node: string; state: 'migrating' | 'importing'; peer: string}[] {
  const out: {slot: number; node: string; state: 'migrating' | 'importing'; peer: string}[] = []
  for (const n of nodes) {
    for (const [slot, peer] of n.migrating) out.push({slot, node: n.id, state: 'migrating', peer})
    for (const [slot, peer] of n.importing) out.push({slot, node: n.id, state: 'importing', peer})
  }
  return out.sort((a, b) => a.slot - b.slot)
}
