import {listAlive} from '../cluster/clusterRepo.js'
import {UserError} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {readReplicas} from '../model/shard.js'
import {readClaims} from './claimReads.js'
import {chooseCopySources} from './copySources.js'
import {type ExecutorEnv} from './executorEnv.js'
import {readShard} from './moveStore.js'
import {MoveFailure} from './retryPolicy.js'
import {dataDirChanged} from './verifiedDirs.js'
import {writeQuorumsEver} from './writeQuorumFloor.js'

/**
 * liveCopySources picks, from etcd as it is now, the replicas a move's destination may be
 * filled from (`copying`), compared with (`verifying`) or, after cutover, refilled from (`refilling`, verifiedDirs.ts): the move's source when it is up
 * (every write acknowledged before the barrier is on it or on every other old voter);
 * otherwise the other voters of the old set that chooseCopySources allows under the
 * smallest write quorum any router may have acknowledged a write with: the registered
 * routers' `--w` and the cluster's write floor, which every router lowers before it
 * registers (writeQuorumsEver in writeQuorumFloor.ts). Both steps need the same rule: the copy
 * must not miss an acknowledged write, and verification is what carries over the writes a
 * learning destination missed, so comparing it with too few replicas (none at all, at rf 1)
 * would let a write acknowledged by the source alone be lost at cutover. Throws
 * UserError(PRECONDITION) when it must wait for the source (retried; the move aborts after
 * its retries, which is safe: the old set still holds everything). With `withoutSource` the source
 * is never chosen, up or not (its copy may be dropped).
 *
 * An old voter up on another data dir than when its copy was last known (a replaced disk served with
 * --accept-empty-data) lost every write it acknowledged: it is not counted as a holder (session 42; until then a copy
 * and its verification with the source down read it, and a write acknowledged by the source and it alone was lost at
 * cutover). Known when the copy began (`copyDirs`) for `copying` and `verifying`, at the cutover (`stayingDirs`) for a
 * refill; a move recorded without them is not judged.
 */
export async function liveCopySources(env: ExecutorEnv, move: Move, step: 'copying' | 'verifying' | 'refilling', opts: {withoutSource?: boolean} = {}): Promise<string[]> {
  const up = await listAlive(env.ctx)
  if (!opts.withoutSource && up.has(move.from)) return [move.from]
  // withoutSource: the source's copy may be dropped (a refill in `cleanup` after its drop was recorded, decided with it
  // down): never read, even if it is up by now, as the rule stands with it down.
  const alive = opts.withoutSource ? new Set([...up].filter((n) => n !== move.from)) : up
  const shard = await readShard(env.ctx, move.shard)
  if (!shard) throw new MoveFailure(`shard ${move.shard} disappeared`)
  // Every router that ever ran counts, registered now or gone: a write it acknowledged may be on the source alone.
  const routerW = await writeQuorumsEver(env, move)
  const oldSet = readReplicas(shard.value)
  const d = chooseCopySources({shard: move.shard, from: move.from, to: move.to, oldSet, alive, routerW, replaced: await replacedVoters(env, move, oldSet, step)})
  // Before cutover the wait is a counted retry: the move aborts back to its old set if the source stays down. A refill after cutover cannot abort (refillSources says what ends it).
  if (d.kind === 'wait') throw new UserError('PRECONDITION', step === 'refilling' ? d.reason : `${d.reason} (the move aborts if it stays down)`, 'restart the source node; the move resumes, or aborts after its retries (w counts every router that ever ran: the cluster\'s write floor, docs/moves.md "The write floor")')
  env.emit({type: 'info', message: `move ${move.id}: source ${move.from} is down; ${step === 'copying' ? 'copying from' : step === 'verifying' ? 'verifying against' : `refilling ${move.to} from`} ${d.sources.join(', ')}`, at: new Date(env.now()).toISOString()})
  return d.sources
}

/** replacedVoters lists the old voters (but the source and destination) up on another data dir than the move recorded for them (see liveCopySources). */
async function replacedVoters(env: ExecutorEnv, move: Move, oldSet: readonly string[], step: 'copying' | 'verifying' | 'refilling'): Promise<{nodes: string[]; since: string} | undefined> {
  const recorded = step === 'refilling' ? move.stayingDirs : move.copyDirs
  if (recorded === undefined) return undefined
  const voters = oldSet.filter((n) => n !== move.from && n !== move.to)
  const claims = await readClaims(env, voters)
  return {nodes: voters.filter((n) => dataDirChanged(recorded, n, claims)), since: step === 'refilling' ? 'at the cutover' : 'when the copy began'}
}
