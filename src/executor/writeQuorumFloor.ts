import {type Move} from '../model/move.js'
import {clusterWriteQuorums} from '../router/clusterWriteQuorums.js'
import {type ExecutorEnv} from './executorEnv.js'

/**
 * writeQuorumsEver lists every write quorum a write of `move`'s shard may have been
 * acknowledged with, for the copy's and the verification's fallback from a down source
 * (liveCopySources): the routers registered now and the cluster's write floor (the smallest
 * quorum any router ever ran with; an absent one counts as w = 1: clusterWriteQuorums)
 * and, on a move recorded by an earlier build, the smallest quorum that build sampled
 * (`writeQuorumFloor`).
 *
 * Why the floor, not the routers registered now: with the destination learning during the
 * copy, a write acknowledged by a `--w 1` router may live on the source alone until
 * verification carries it over, and a router that acknowledged it and has stopped is no
 * longer registered to say so (session 28's lost-write hunt). Sampling the registrations
 * during the move missed routers that came and went between two samples, and routers gone
 * before the move began (whose writes can be on the source alone too). Every router lowers
 * the floor before it registers, so it covers them all. The floor is read after the
 * registrations: a router that registers in between lowered it first.
 */
export async function writeQuorumsEver(env: Pick<ExecutorEnv, 'ctx'>, move: Move): Promise<(number | null | undefined)[]> {
  return [...(await clusterWriteQuorums(env.ctx)), ...(move.writeQuorumFloor === undefined ? [] : [move.writeQuorumFloor])]
}
