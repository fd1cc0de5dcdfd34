import {type ClusterMeta, engineOf} from '../model/cluster.js'
import {listAlive, listNodes} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'

/**
 * listLiveNodes returns the ids of the cluster's nodes that are up, the way its engine knows:
 * kv nodes by their leased `alive/<id>` keys; redis masters by answering PING now (no
 * shardctl process runs beside them to hold a lease).
 * The redis client is imported only for a redis cluster: status views of a kv cluster must
 * not pay ioredis's load time (about 0.2 s CPU) on every start-up.
 */
export async function listLiveNodes(ctx: ServiceContext, meta: ClusterMeta): Promise<Set<string>> {
  if (engineOf(meta) !== 'redis') return listAlive(ctx)
  const {pingRedisNodes} = await import('../redis/redisLiveness.js')
  return pingRedisNodes((await listNodes(ctx)).map((n) => n.value))
}
