import {type InitClusterResult, writeNewCluster} from '../cluster/initCluster.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {openSlots, discoverTopology} from './discovery.js'
import {redisLayout} from './redisLayout.js'
import {SLOT_COUNT} from './slotMap.js'

/** InitRedisInput: where the Redis Cluster is and how finely to cut its slots into shards. */
export interface InitRedisInput {
  seed: string
  slotsPerShard: number
  force: boolean
}

/**
 * initRedisCluster discovers a Redis Cluster through `seed` (CLUSTER NODES) and records it
 * as a shardctl cluster with engine `redis`: its live masters as nodes, contiguous slot
 * runs as shards (see {@link redisLayout}), rf 1. Refuses (PRECONDITION, nothing written)
 * when the cluster does not cover all slots or has slots left open mid-migration, naming
 * the fix; ALREADY_EXISTS / LOCK_HELD as `cluster init`.
 */
export async function initRedisCluster(ctx: ServiceContext, input: InitRedisInput): Promise<InitClusterResult> {
  if (!Number.isInteger(input.slotsPerShard) || input.slotsPerShard < 1 || input.slotsPerShard > SLOT_COUNT) throw new UserError('BAD_INPUT', `--slots-per-shard must be an integer in 1..${SLOT_COUNT}, got ${input.slotsPerShard}`, 'e.g. --slots-per-shard 128')
  const topo = await discoverTopology(input.seed)
  const open = openSlots(topo.nodes)
  if (open.length > 0) throw new UserError('PRECONDITION', `redis cluster at ${input.seed} has ${open.length} slot(s) mid-migration (first: slot ${open[0]!.slot})`, 'close them first: `shardctl redis fix --seed HOST:PORT --yes`')
  const now = ctx.clock().toISOString()
  let layout
  try {
    layout = redisLayout(topo.masters, input.slotsPerShard, now)
  } catch (err) {
    throw new UserError('PRECONDITION', `redis cluster at ${input.seed} cannot be recorded: ${(err as Error).message}`, 'check it with `redis-cli --cluster check HOST:PORT` and let it settle')
  }
  return writeNewCluster(ctx, {...layout, rf: 1, force: input.force, now, extraMeta: {engine: 'redis', redisSeed: input.seed}})
}
