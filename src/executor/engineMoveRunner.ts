import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {engineOf} from '../model/cluster.js'
import {DEFAULT_REDIS_MOVE_OPTIONS, type RedisMoveOptions, runRedisMove} from '../redis/redisMoveRunner.js'
import {type ExecutorEnv} from './executorEnv.js'
import {type FencedMove} from './moveStore.js'
import {runMove} from './moveRunner.js'
import {type ConcurrencyLimits} from './scheduler.js'

/** MoveRunnerFn drives one move from its persisted phase to a terminal one (or until the executor stops). */
export type MoveRunnerFn = (env: ExecutorEnv, move: FencedMove) => Promise<FencedMove>

/**
 * moveRunnerFor picks the move runner of the cluster's engine (docs/redis.md for the redis engine):
 * the kv data plane's replica-replacement runner, or the redis engine's slot migration with
 * `redis` options (defaults when omitted). Throws NOT_FOUND when the cluster does not exist.
 */
export async function moveRunnerFor(ctx: ServiceContext, redis?: Partial<RedisMoveOptions>): Promise<MoveRunnerFn> {
  const meta = await getMeta(ctx)
  if (engineOf(meta.value) === 'redis') {
    const opts = {...DEFAULT_REDIS_MOVE_OPTIONS, ...redis}
    return (env, move) => runRedisMove(env, move, opts)
  }
  return runMove
}

/**
 * engineLimits returns the concurrency limits the cluster's engine needs on top of the
 * operator's: on the redis engine no master is the source of one running move and the
 * target of another (ConcurrencyLimits.oneSidePerNode), the kv engine takes `limits` as they are. Throws
 * NOT_FOUND when the cluster does not exist.
 */
export async function engineLimits(ctx: ServiceContext, limits: ConcurrencyLimits): Promise<ConcurrencyLimits> {
  const meta = await getMeta(ctx)
  return engineOf(meta.value) === 'redis' ? {...limits, oneSidePerNode: true} : limits
}
