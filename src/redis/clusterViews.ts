import {isLiveMaster} from './clusterNodes.js'
import {readClusterNodes, withRedisNodeWithin} from './redisConnection.js'
import {type NodeView} from './redisTrouble.js'

/** VIEW_TIMEOUT_MS: a node that has not answered CLUSTER NODES by then counts as not answering (status must not hang on a stopped one). */
export const VIEW_TIMEOUT_MS = 2000

/**
 * readClusterViews asks every address in `addresses` for its `CLUSTER NODES` view (all at
 * once, each bounded by `timeoutMs`), then every master those views name that was not asked
 * yet (a replica that took over a failed master is in no record), until no new one appears.
 * Never throws: a node that does not answer, or answers something else, is listed in
 * `unreachable`.
 */
export async function readClusterViews(addresses: readonly string[], timeoutMs = VIEW_TIMEOUT_MS): Promise<{views: NodeView[]; unreachable: string[]}> {
  const asked = new Set<string>()
  const views: NodeView[] = []
  const unreachable: string[] = []
  let wave = [...new Set(addresses)]
  while (wave.length > 0) {
    for (const a of wave) asked.add(a)
    const answers = await Promise.all(wave.map(async (address) => ({address, nodes: await readView(address, timeoutMs)})))
    for (const a of answers) {
      if (a.nodes) views.push({address: a.address, nodes: a.nodes})
      else unreachable.push(a.address)
    }
    const named = views.flatMap((v) => v.nodes.filter(isLiveMaster).map((n) => n.address))
    wave = [...new Set(named)].filter((a) => !asked.has(a))
  }
  return {views, unreachable}
}

/** readView is one node's parsed CLUSTER NODES, undefined when it does not answer within `timeoutMs`. */
function readView(address: string, timeoutMs: number): Promise<NodeView['nodes'] | undefined> {
  return withRedisNodeWithin(address, timeoutMs, readClusterNodes)
}
