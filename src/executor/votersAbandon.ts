import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError} from '../errors/errors.js'
import {type Engine, engineOf} from '../model/cluster.js'
import {type Move, PHASE_TABLE} from '../model/move.js'
import {NodeClaimSchema} from '../model/node.js'
import {ownValue} from '../model/ownKey.js'
import {readReplicas, type Shard} from '../model/shard.js'
import {markedMoveNext} from './markedMoveRunner.js'
import {getMove, readShard} from './moveStore.js'
import {ACCEPT_DATA_LOSS_FLAG} from './sourceAbandon.js'
import {dataDirOf, dirToken} from './verifiedDirs.js'

/**
 * The way out of a move in `cleanup` that waits for staying voters that are down. A destination
 * that restarted on another data dir after the source's drop was sent is refilled from what
 * remains of the source's copy and from the staying voters; when the write floor says the voters
 * up may miss an acknowledged write (rf 3 with a `w = 1` router, say), a voter that is down may
 * hold one the destination lost, so the refill waits for it (moveMachine.ts refillAfterDrop).
 * Nothing else ends that wait: no rollback or cancel is accepted in `cleanup`, and the source is
 * up, so `moves abandon-source` refuses it. Until session 40 a voter that never came back kept
 * the move there for ever, and nothing named a way out.
 *
 * `moves abandon-voters ID --accept-data-loss` is the operator saying those voters are gone for
 * good and accepting that what only they held with the destination's lost dir is lost. It only
 * marks the move (`abandonVotersRequested`, with the voters and their last claims in
 * `abandonVotersDirs`); the executor honours it for those voters only while they hold no lease (the
 * commit is fenced on it), refills the destination from what is up and records a warning of possible
 * data loss naming them, consuming the mark. Every one back up on its data dir before that withdraws
 * the mark (they are read: votersMark.ts votersMarkOutlived; so does one back on its data dir and down again); a refill that ends without it consumes it.
 *
 * A refill without an abandoned source (`moves abandon-source`, moveMachine.ts refillWithoutSource)
 * waits for staying voters down the same way, in any phase after cutover: at w = 1 it waited for ever
 * until session 41, which made this mark apply there too.
 */

/** VotersAbandonVerdict is {@link judgeVotersAbandon}'s answer: mark the move, say it is so already, or refuse (nothing changed). */
export type VotersAbandonVerdict = {kind: 'mark'; down: string[]} | {kind: 'already'; message: string} | {kind: 'refuse'; error: UserError}

/** VotersAbandonFacts is what {@link judgeVotersAbandon} weighs besides the move: its shard, who is up, the destination's claim now. */
export interface VotersAbandonFacts {
  shard: Shard | undefined
  alive: ReadonlySet<string>
  /** destinationClaim: the destination's `claims/<id>` as `<dataDirId>/<instance>` (undefined: none). */
  destinationClaim: string | undefined
  acceptDataLoss: boolean
  engine?: Engine
  /** sourceAlive: the move's source holds its `alive/<id>` lease (an abandoned source that is up is read, not gone without). */
  sourceAlive?: boolean
}

/**
 * judgeVotersAbandon decides a `moves abandon-voters` request (pure). In order: a redis move is
 * refused (no refill); a finished move is "already"; a repeated request is "already"; a move not in
 * `cleanup` is refused (PRECONDITION: only there does a refill wait for staying voters after the
 * source's drop), unless its source is abandoned (`moves abandon-source`) and down, where any phase
 * cut over and going forward is judged (a refill without the source waits for voters down there,
 * whatever the drop and whichever data dir the destination came back on: the next two checks do not
 * apply); a destination on the claim it was verified under is refused (PRECONDITION: no
 * refill waits), as are a drop not recorded yet (`sourceDropSentAt` null: the refill reads the source's whole copy) and a
 * destination back on its verified data dir (it kept its copy): no refill waits for voters there either; no staying voter
 * down is refused (PRECONDITION: nothing to abandon); without the
 * flag it is refused (BAD_INPUT, naming the flag and the loss); else mark, naming the voters down.
 */
export function judgeVotersAbandon(move: Move, f: VotersAbandonFacts): VotersAbandonVerdict {
  const {id, from, to, phase} = move
  const refuse = (message: string, hint: string, code: 'PRECONDITION' | 'BAD_INPUT' = 'PRECONDITION'): VotersAbandonVerdict => ({kind: 'refuse', error: new UserError(code, message, hint)})
  if ((f.engine ?? 'kv') !== 'kv') return refuse(`move ${id} is a ${f.engine} slot migration, which never refills a destination; nothing was abandoned`, `see \`shardctl moves show ${id}\` for what it waits for`)
  if (PHASE_TABLE[phase].terminal) return {kind: 'already', message: `move ${id} already finished (${phase}): nothing to abandon`}
  if (move.abandonVotersRequested !== undefined) return {kind: 'already', message: `move ${id}'s down staying voters are already abandoned (requested at ${move.abandonVotersRequested})`}
  // A refill without an abandoned source (down) waits for staying voters down in any phase after cutover going forward
  // (moveMachine.ts refillWithoutSource); one after the drop only in `cleanup`. Until session 41 only the latter was judged.
  const withoutSource = move.abandonSourceRequested !== undefined && f.sourceAlive !== true
  const info = PHASE_TABLE[phase]
  if (withoutSource ? !(info.cutOver && info.track === 'forward') : phase !== 'cleanup') {
    return refuse(`move ${id} is in ${phase}, not ${withoutSource ? 'cut over and going forward' : 'cleanup'}: no refill of it waits for staying voters${withoutSource ? '' : " after its source's drop"}, and nothing was abandoned`, `see \`shardctl moves show ${id}\` for what it waits for`)
  }
  const verified = ownValue(move.verifiedDirs, to)
  if (verified === undefined || f.destinationClaim === undefined || f.destinationClaim === verified) {
    return refuse(`move ${id}'s destination ${to} serves the data dir and process it was verified under: no refill waits, and nothing was abandoned`, `see \`shardctl moves show ${id}\` for what it waits for`)
  }
  // Only a refill after the drop was recorded (moveMachine.ts sourceDropMaySent) waits for voters, and only with the
  // destination on another data dir: before the record it is refilled from the source's whole copy, and on its verified
  // dir it kept its copy. A mark nothing honours would stay on the move and be honoured at a later restart, unjudged.
  if (!withoutSource && move.sourceDropSentAt === null) {
    return refuse(`move ${id}'s source ${from} was not sent its drop yet: ${to} is refilled from ${from}'s whole copy and waits for no staying voter; nothing was abandoned`, `see \`shardctl moves show ${id}\` for what it waits for`)
  }
  // Without the source the refill waits for the voters down on the same dir too (it reads no copy of the source's).
  if (!withoutSource && dataDirOf(f.destinationClaim) === dataDirOf(verified)) {
    return refuse(`move ${id}'s destination ${to} is back on the data dir it was verified on (a new process): it kept its copy, and its refill waits for no staying voter; nothing was abandoned`, `see \`shardctl moves show ${id}\` for what it waits for`)
  }
  const staying = f.shard ? readReplicas(f.shard).filter((n) => n !== from && n !== to) : []
  const down = staying.filter((n) => !f.alive.has(n)).sort()
  if (down.length === 0) return refuse(`every staying voter of move ${id}'s shard ${move.shard} is up (${staying.join(', ') || 'none'}): nothing to abandon, and nothing was changed`, `the executor refills ${to} from them; see \`shardctl moves show ${id}\``)
  if (!f.acceptDataLoss) {
    return refuse(
      `abandoning ${down.join(', ')} (down) for move ${id}'s refill of ${to} loses every acknowledged record only they held besides ${to}'s lost data dir; pass ${ACCEPT_DATA_LOSS_FLAG} to do it; nothing was changed`,
      `if ${down.join(', ')} may come back, start ${down.length === 1 ? 'it' : 'them'} instead: the refill reads ${down.length === 1 ? 'it' : 'them'} and the move goes on`,
      'BAD_INPUT',
    )
  }
  return {kind: 'mark', down}
}

/** VotersAbandonResult is `moves abandon-voters`'s result (its `--json` output). */
export interface VotersAbandonResult {
  id: string
  /** voters: the staying voters down when the move was marked. */
  voters: string[]
  changed: boolean
  message: string
}

/**
 * requestVotersAbandon marks move `id`'s down staying voters abandoned (judgeVotersAbandon), in
 * one transaction that compares the move's revision and their `alive/<id>` keys being absent, so a
 * voter that registers meanwhile, or a move that changed, is judged again (retried). Throws the
 * verdict's UserError when refused (nothing changed), NOT_FOUND for an unknown move, CONFLICT when
 * the move kept changing.
 */
export async function requestVotersAbandon(ctx: ServiceContext, id: string, opts: {acceptDataLoss: boolean}): Promise<VotersAbandonResult> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const m = await getMove(ctx, id)
    const [meta, shard, claim] = await Promise.all([getMeta(ctx), readShard(ctx, m.value.shard), ctx.store.getTyped(ctx.keys.claim(m.value.to), NodeClaimSchema)])
    const staying = shard ? readReplicas(shard.value).filter((n) => n !== m.value.from && n !== m.value.to) : []
    const held = await Promise.all(staying.map(async (n) => ((await ctx.store.get(ctx.keys.alive(n))) ? n : undefined)))
    const alive = new Set(held.filter((n) => n !== undefined))
    const sourceAlive = (await ctx.store.get(ctx.keys.alive(m.value.from))) !== undefined
    const verdict = judgeVotersAbandon(m.value, {shard: shard?.value, alive, destinationClaim: dirToken(claim?.value), acceptDataLoss: opts.acceptDataLoss, engine: engineOf(meta.value), sourceAlive})
    if (verdict.kind === 'refuse') throw verdict.error
    if (verdict.kind === 'already') return {id, voters: [], changed: false, message: verdict.message}
    const now = ctx.clock().toISOString()
    // Each voter's last claim: one back on that data dir before the refill honoured the mark counts again (moveMachine.ts).
    const dirs = await Promise.all(verdict.down.map(async (n) => [n, dirToken((await ctx.store.getTyped(ctx.keys.claim(n), NodeClaimSchema).catch(() => undefined))?.value) ?? null] as const))
    const next: Move = {...m.value, abandonVotersRequested: now, abandonVotersDirs: Object.fromEntries(dirs), updatedAt: now}
    const absent = verdict.down.map((n) => ({key: ctx.keys.alive(n), modRevision: 0n}))
    const rev = await ctx.store.commit({compares: [{key: m.key, modRevision: m.modRevision}, ...absent], puts: [{key: m.key, value: JSON.stringify(next)}]})
    if (rev === undefined) continue
    const who = await markedMoveNext(ctx, id, 'the refill without them', 'within a few seconds')
    return {
      id,
      voters: verdict.down,
      changed: true,
      message: `move ${id}: ${verdict.down.join(', ')} (down) marked abandoned (${ACCEPT_DATA_LOSS_FLAG}); while they hold no lease, the refill of ${m.value.to} goes on from what is up and the move records a warning of possible data loss: ${who}`,
    }
  }
  throw new UserError('CONFLICT', `move ${id} or its voters' leases kept changing; nothing was abandoned`, 'try again')
}
