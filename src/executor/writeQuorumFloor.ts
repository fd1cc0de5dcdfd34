import {type Move} from '../model/move.js'
import {readReplicas, type Shard} from '../model/shard.js'
import {parseRouterRecord} from '../router/routerRegistration.js'
import {effectiveWriteQuorum} from './copySources.js'
import {type ExecutorEnv} from './executorEnv.js'

/**
 * routerWrites lists the `--w` of every registered router, as chooseCopySources reads them:
 * a number, null (a majority) or undefined (an entry that does not say or cannot be read:
 * it may be a `--w 1` router).
 */
export async function routerWrites(env: Pick<ExecutorEnv, 'ctx'>): Promise<(number | null | undefined)[]> {
  const {items} = await env.ctx.store.list(env.ctx.keys.routersPrefix)
  return items.map((kv) => parseRouterRecord(kv.value)?.w)
}

/**
 * floorPatch records, on a move, the smallest write quorum a router registered while the move
 * ran may have acknowledged a write of its shard with (`writeQuorumFloor`), when what the
 * routers registered now allow is below what the move holds; undefined when nothing changes.
 *
 * Why: with the destination learning during the copy, a write acknowledged by a `--w 1`
 * router may live on the source alone until verification carries it over. When the source is
 * down, verification (like the copy) falls back to the other old voters only when no write
 * quorum fits outside them, and a router that acknowledged such a write and has stopped since
 * is no longer registered to say how small its quorum was (session 28's lost-write hunt). The
 * executor samples the routers at the move's barriers and while it copies, and the fallback
 * counts the smallest quorum it saw. A sample, not a proof: a router that came and went between
 * two samples a second apart is still missed.
 */
export async function floorPatch(env: Pick<ExecutorEnv, 'ctx'>, move: Move, shard: Shard): Promise<Pick<Move, 'writeQuorumFloor'> | undefined> {
  const w = effectiveWriteQuorum(readReplicas(shard).length, await routerWrites(env))
  return move.writeQuorumFloor !== undefined && move.writeQuorumFloor <= w ? undefined : {writeQuorumFloor: w}
}
