import {type ClusterMeta, engineOf} from '../model/cluster.js'
import {pingRedisNodes} from '../redis/redisLiveness.js'
import {listAlive, listNodes} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'

/**
 * listLiveNodes returns the ids of the cluster's nodes that are up, the way its engine knows:
 * kv nodes by their leased `alive/<id>` keys; redis masters by answering PING now (no
 * shardctl process runs beside them to hold a lease).
 */
export async function listLiveNodes(ctx: ServiceContext, meta: ClusterMeta): Promise<Set<string>> {
  if (engineOf(meta) !== 'redis') return listAlive(ctx)
  return pingRedisNodes((await listNodes(ctx)).map((n) => n.value))
}
