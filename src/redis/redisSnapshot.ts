import {abortableSleep} from '../clock/abortableSleep.js'
import {type ClusterNode} from '../model/node.js'
import {type Shard} from '../model/shard.js'
import {DEFAULT_BIG_KEY_BYTES, type RedisLoadSource, sampleRedisLoad} from './redisSampler.js'
import {type ShardLoadEstimate} from './loadApportion.js'

/** REDIS_OPS_WINDOW_MS: two INFO commandstats readings this far apart give each master's ops/s. */
export const REDIS_OPS_WINDOW_MS = 1000

/**
 * readRedisLoad is the redis engine's part of a snapshot: each master's liveness and each
 * shard's load, measured now (see sampleRedisLoad for what it throws), with default sampling
 * (128 keys per shard: OBJECT FREQ counters of lightly used keys are noisy, and the planner
 * picks the shards that look hottest, so a small sample makes it move the lucky ones and fall
 * short; a 1 s ops window).
 */
export async function readRedisLoad(nodes: readonly ClusterNode[], shards: readonly Shard[]): Promise<{load: ShardLoadEstimate[]; alive: Set<string>; source: RedisLoadSource}> {
  return sampleRedisLoad(nodes, shards, {keysPerShard: 128, opsWindowMs: REDIS_OPS_WINDOW_MS, bigKeyBytes: DEFAULT_BIG_KEY_BYTES, sleep: (ms) => abortableSleep(ms), now: () => Date.now()})
}
