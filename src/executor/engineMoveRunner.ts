import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {type Engine, engineOf} from '../model/cluster.js'
import {UserError} from '../errors/errors.js'
import {DEFAULT_REDIS_MOVE_OPTIONS, type RedisMoveOptions, runRedisMove} from '../redis/redisMoveRunner.js'
import {type Move, type MovePhase} from '../model/move.js'
import {type Shard} from '../model/shard.js'
import {resumePhaseOfFailed} from '../redis/failedMoveResume.js'
import {redisMoveLatency} from '../redis/moveLatency.js'
import {connectRedisNode} from '../redis/redisConnection.js'
import {RedisLatencyProbe} from '../redis/redisLatencyProbe.js'
import {type LatencyReading} from './adaptiveThrottle.js'
import {type ExecutorEnv} from './executorEnv.js'
import {type FencedMove} from './moveStore.js'
import {runMove} from './moveRunner.js'
import {worstRouterLatency} from './routerLatency.js'
import {type ConcurrencyLimits} from './scheduler.js'

/**
 * MoveRunnerFn drives one move from its persisted phase to a terminal one (or until the
 * executor stops). An engine whose runner leaves its errors to the executor's loop says how
 * that loop gives up on it and takes it up again:
 * - giveUpWayOut: runs that keep throwing are bounded (judgeRunFailure), then the move is
 *   recorded `failed` with a reason ending in this way out. Unset (kv): the runner handles its
 *   own failures through the move machine, and the loop retries what escapes it.
 * - resumeFailed: the phase `apply --resume` runs a `failed` move in again (undefined: it stays failed).
 */
export type MoveRunnerFn = ((env: ExecutorEnv, move: FencedMove) => Promise<FencedMove>) & {
  /**
   * copySlots: the runner's copies send frames the destination times out on (kv: 16 KiB
   * frames, 30 s), so each must keep the 16KiB/s floor: the executor starts and admits them
   * under the throttles' copy slots (copyAdmission.ts). Unset (redis: MIGRATE batches spent from
   * the executor's own buckets): moves start under the concurrency limits alone.
   */
  copySlots?: boolean
  giveUpWayOut?: string
  resumeFailed?: (move: Move, shard: Shard | undefined, busyShards: ReadonlySet<number>) => MovePhase | undefined
}

/** REDIS_OPTION_FLAGS names each redis move option by the flag that sets it, for refusals. */
const REDIS_OPTION_FLAGS: Record<keyof RedisMoveOptions, string> = {
  allowBigKeys: '--allow-big-keys',
  bigKeyBytes: '--big-key-limit',
  keysPerSec: '--keys-per-sec',
  keysPerBatch: '--batch-keys',
  migrateTimeoutMs: 'the MIGRATE timeout',
}

/**
 * engineOnlyOptionsError is the refusal of redis move options given for a cluster whose
 * engine is kv (they used to be ignored silently: an operator who set --keys-per-sec believed
 * the copy was limited by it), or undefined when there is none to refuse. Pure.
 */
export function engineOnlyOptionsError(engine: Engine, cluster: string, redis: Partial<RedisMoveOptions> | undefined): UserError | undefined {
  if (engine === 'redis' || redis === undefined) return undefined
  const flags = (Object.keys(redis) as (keyof RedisMoveOptions)[]).filter((k) => redis[k] !== undefined).map((k) => REDIS_OPTION_FLAGS[k])
  if (flags.length === 0) return undefined
  return new UserError('BAD_INPUT', `${flags.join(', ')} ${flags.length === 1 ? 'applies' : 'apply'} to redis-engine clusters only, and cluster "${cluster}" is kv; nothing was changed`, 'drop it; a kv copy is limited by --throttle and --node-throttle (bytes/s)')
}

/** refuseEngineOnlyOptions throws {@link engineOnlyOptionsError} for the cluster's engine, before anything changes. */
export async function refuseEngineOnlyOptions(ctx: ServiceContext, redis: Partial<RedisMoveOptions> | undefined): Promise<void> {
  if (redis === undefined || Object.keys(redis).length === 0) return
  const err = engineOnlyOptionsError(engineOf((await getMeta(ctx)).value), ctx.cluster, redis)
  if (err) throw err
}

/**
 * moveRunnerFor picks the move runner of the cluster's engine (docs/redis.md for the redis engine):
 * the kv data plane's replica-replacement runner, or the redis engine's slot migration with
 * `redis` options (defaults when omitted). Throws NOT_FOUND when the cluster does not exist.
 */
export async function moveRunnerFor(ctx: ServiceContext, redis?: Partial<RedisMoveOptions>): Promise<MoveRunnerFn> {
  const meta = await getMeta(ctx)
  if (engineOf(meta.value) === 'redis') {
    const opts = {...DEFAULT_REDIS_MOVE_OPTIONS, ...redis}
    return Object.assign((env: ExecutorEnv, move: FencedMove) => runRedisMove(env, move, opts), {giveUpWayOut: REDIS_GIVE_UP_WAY_OUT, resumeFailed: resumePhaseOfFailed})
  }
  return Object.assign((env: ExecutorEnv, move: FencedMove) => runMove(env, move), {copySlots: true})
}

/**
 * REDIS_GIVE_UP_WAY_OUT ends the reason of a redis move the executor gave up on: the runner
 * stopped between steps, so at most one slot is open (still served through ASK), and a resume
 * finishes it first.
 */
export const REDIS_GIVE_UP_WAY_OUT = 'a slot of it may be left open: fix what the error names, then `shardctl apply --resume` runs the move again from where it stopped (it finishes that slot first); or close the slot with `shardctl redis fix --seed <live node> --yes` (dry run without --yes)'

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

/** REDIS_PROBE_INTERVAL_MS: how often the redis latency probe PINGs each master of a running move (about 20 round trips a second each). */
const REDIS_PROBE_INTERVAL_MS = 50

/** ROUTER_REPORT_MAX_AGE_MS: a router report older than this is left out (the router stopped serving requests, or is gone and its lease not yet expired). */
const ROUTER_REPORT_MAX_AGE_MS = 5000

/**
 * LatencySignal is what `--throttle auto` adapts the copy rate to: the latency clients feel,
 * as the cluster's engine can measure it.
 */
export interface LatencySignal {
  /** what names the figure in the executor's log, e.g. "routers' client p99". */
  what: string
  /** read returns the newest reading of the clients' p99 (worst over what is measured), given the moves running now; null when nothing was measured. */
  read(running: readonly Move[]): Promise<LatencyReading | null>
  /** close releases what the signal holds (connections, timers). */
  close(): void
}

/**
 * latencySignalFor picks the cluster engine's latency signal: on kv, the worst short-window
 * client p99 the routers report in etcd (`latency/routers/<id>`, a new one every second); on redis, the PING round trips to the source and target masters of
 * the running moves, measured by a RedisLatencyProbe (Redis has no router: a MIGRATE batch
 * blocks both masters, and that is what its clients feel). The caller closes it. Throws
 * NOT_FOUND when the cluster does not exist.
 */
export async function latencySignalFor(ctx: ServiceContext): Promise<LatencySignal> {
  const meta = await getMeta(ctx)
  if (engineOf(meta.value) === 'redis') {
    const probe = new RedisLatencyProbe({now: () => performance.now(), connect: connectRedisNode, intervalMs: REDIS_PROBE_INTERVAL_MS})
    return {what: "masters' PING p99", read: redisMoveLatency(ctx, probe, () => ctx.clock().getTime()), close: () => probe.close()}
  }
  return {what: "routers' client p99", read: () => worstRouterLatency(ctx, ctx.clock().getTime(), ROUTER_REPORT_MAX_AGE_MS), close: () => {}}
}
