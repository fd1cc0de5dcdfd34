import {engineOf} from '../model/cluster.js'
import {type ClusterSnapshot, ClusterSnapshotSchema, shardMapFingerprint} from '../model/snapshot.js'
import {readRedisLoad} from '../redis/redisSnapshot.js'
import {getConstraints, getMeta, listAlive, listNodes, listShards, listStats} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'

/**
 * readSnapshot reads the cluster's nodes, shards (at one revision), liveness, published
 * load and constraints into one validated {@link ClusterSnapshot}. Load figures for shards a
 * node no longer holds (stats lag the shard map) are dropped, not errors. For the redis
 * engine, liveness and load are measured from the Redis masters instead (see readRedisLoad).
 */
export async function readSnapshot(ctx: ServiceContext): Promise<ClusterSnapshot> {
  const meta = await getMeta(ctx)
  const [{shards, revision}, nodes, alive, stats, constraints] = await Promise.all([listShards(ctx), listNodes(ctx), listAlive(ctx), listStats(ctx), getConstraints(ctx)])
  const held = new Set(shards.flatMap((s) => s.value.replicas.map((r) => `${s.value.id}@${r.node}`)))
  const load = stats.flatMap((st) => st.shards.filter((l) => held.has(`${l.shard}@${st.node}`)).map((l) => ({node: st.node, ...l})))
  const shardValues = shards.map((s) => s.value)
  const redis = engineOf(meta.value) === 'redis' ? await readRedisLoad(nodes.map((n) => n.value), shardValues) : undefined
  return ClusterSnapshotSchema.parse({
    version: 1,
    cluster: meta.value,
    revision: revision.toString(),
    fingerprint: shardMapFingerprint(shardValues),
    nodes: nodes.map((n) => ({...n.value, alive: (redis?.alive ?? alive).has(n.value.id)})),
    shards: shardValues,
    load: redis?.load ?? load,
    constraints,
    ...(redis ? {loadSource: redis.source} : {}),
  })
}
