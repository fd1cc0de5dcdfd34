import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type Engine, engineOf} from '../model/cluster.js'
import {type Move, PHASE_TABLE} from '../model/move.js'
import {AliveSchema} from '../model/node.js'
import {markedMoveNext} from './markedMoveRunner.js'
import {getMove} from './moveStore.js'

/**
 * The way out of a move that waits for a source gone for good. After cutover, a destination
 * restarted since it was verified (an empty or older data dir: verifiedDirs.ts) is refilled
 * from the move's source before the move goes on; with the source down, from the staying
 * voters only when no write quorum fits outside them. At rf 1, or when the write floor says
 * some router ran with `w = 1`, none qualify: the move waits for the source, and in `cleanup`
 * no rollback or cancel is accepted and the dead node cannot be removed while it is a replica.
 * Nothing else ends that wait, because ending it loses whatever only the source's copy holds.
 *
 * `moves abandon-source ID --accept-data-loss` is the operator saying the source is gone for
 * good and accepting that loss. It only marks the move (`abandonSourceRequested`); the
 * executor honours it in the move machine (moveMachine.ts `refillWithoutSource`): the
 * destination is refilled from every staying voter (a down one waited for unless the write floor makes the others enough) and then accepted as it is,
 * the fact recorded in the move (`sourceAbandoned`, the reason) and told as an event, and the
 * move goes on to `done` (the down source's copy left on its disk, as any cleanup of a down
 * source does), after which `node remove` accepts the node. A source that is up is never
 * abandoned: the request is refused while `alive/<source>` exists (the lease a serving node
 * holds), the executor checks the lease again when it decides and fences the commit on its
 * absence, and a source that comes back before its copy is dropped is read after all.
 */

/** SourceAbandonVerdict is {@link judgeSourceAbandon}'s answer: mark the move, say it is so already, or refuse (nothing changed). */
export type SourceAbandonVerdict = {kind: 'mark'; withdrawsRollback?: boolean} | {kind: 'already'; message: string} | {kind: 'refuse'; error: UserError}

/** ACCEPT_DATA_LOSS_FLAG is the flag that makes `moves abandon-source` act (named in its refusal). */
export const ACCEPT_DATA_LOSS_FLAG = '--accept-data-loss'

/**
 * judgeSourceAbandon decides a `moves abandon-source` request (pure): `move` as stored, who
 * holds the source's `alive/<id>` (undefined: no lease, the node is not serving), and whether the
 * operator passed {@link ACCEPT_DATA_LOSS_FLAG}, on a cluster of `engine`. In order: a redis
 * cluster's move is refused (a slot migration has no refill); a finished move or a repeated
 * request is "already"; a move not cut over is refused (PRECONDITION: its source is still
 * needed, and it has other ways out); a source that is up is refused (PRECONDITION: the move
 * reads it); without the flag it is refused (BAD_INPUT, naming the flag and the loss); else
 * mark, withdrawing a rollback requested or in flight (it waits for the down source:
 * moveMachine.ts, and could end no other way; one in flight turns forward again).
 */
export function judgeSourceAbandon(move: Move, sourceLease: string | undefined, acceptDataLoss: boolean, engine: Engine = 'kv'): SourceAbandonVerdict {
  const {id, from, to, phase} = move
  const info = PHASE_TABLE[phase]
  if (engine !== 'kv') return {kind: 'refuse', error: new UserError('PRECONDITION', `move ${id} is a ${engine} slot migration, which never refills a destination from its source; nothing was abandoned`, `see \`shardctl moves show ${id}\` for what it waits for`)}
  if (info.terminal) return {kind: 'already', message: `move ${id} already finished (${phase})${move.sourceAbandoned ? ` without its source ${from}` : ''}: nothing to abandon`}
  if (move.abandonSourceRequested !== undefined) return {kind: 'already', message: `move ${id}'s source ${from} is already abandoned (requested at ${move.abandonSourceRequested})`}
  if (!info.cutOver) {
    return {
      kind: 'refuse',
      error: new UserError('PRECONDITION', `move ${id} has not cut over (phase ${phase}): its source ${from} is still read, and nothing was abandoned`, `cancel it instead (\`shardctl moves cancel ${id}\`): it aborts back to its old replicas, as it does by itself after its retries while ${from} stays down`),
    }
  }
  if (info.track !== 'forward' && info.track !== 'rollback') {
    return {kind: 'refuse', error: new UserError('PRECONDITION', `move ${id} is not going forward or rolling back (phase ${phase}); nothing was abandoned`, `see \`shardctl moves show ${id}\``)}
  }
  if (sourceLease !== undefined) {
    return {
      kind: 'refuse',
      error: new UserError(
        'PRECONDITION',
        `node ${from} is up (alive/${from}: ${sourceLease}): move ${id} reads its copy, and nothing was abandoned`,
        `a source that holds its lease is never abandoned; if its machine is gone for good, run this again once its lease has lapsed (\`shardctl node list\` shows it down)`,
      ),
    }
  }
  if (!acceptDataLoss) {
    return {
      kind: 'refuse',
      error: new UserError(
        'BAD_INPUT',
        `abandoning the source ${from} of move ${id} loses every record only its copy holds (what ${to} lacks when no other copy has it: at rf 1, or with a w = 1 write floor); pass ${ACCEPT_DATA_LOSS_FLAG} to do it; nothing was changed`,
        `if ${from} may come back, start it instead: the move refills ${to} from it and goes on`,
      ),
    }
  }
  // A rollback requested but not begun waits for the down source (moveMachine.ts): abandoning
  // the source withdraws it, since it could only end by the source coming back.
  // A rollback in flight waits for it too, keeping the destination's copy: the mark turns the move forward again.
  return move.rollbackRequested || info.track === 'rollback' ? {kind: 'mark', withdrawsRollback: true} : {kind: 'mark'}
}

/** SourceAbandonResult is `moves abandon-source`'s result (its `--json` output). */
export interface SourceAbandonResult {
  id: string
  source: string
  changed: boolean
  message: string
}

/**
 * requestSourceAbandon marks move `id`'s source abandoned (judgeSourceAbandon), in one
 * transaction that compares the move's revision and `alive/<source>` being absent, so a source
 * that registers meanwhile, or a move that changed, is judged again (retried). Throws the
 * verdict's UserError when refused (nothing changed), NOT_FOUND for an unknown move, CONFLICT
 * when the move kept changing.
 */
export async function requestSourceAbandon(ctx: ServiceContext, id: string, opts: {acceptDataLoss: boolean}): Promise<SourceAbandonResult> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const m = await getMove(ctx, id)
    const aliveKey = ctx.keys.alive(m.value.from)
    const verdict = judgeSourceAbandon(m.value, await leaseHolder(ctx, aliveKey), opts.acceptDataLoss, engineOf((await getMeta(ctx)).value))
    if (verdict.kind === 'refuse') throw verdict.error
    if (verdict.kind === 'already') return {id, source: m.value.from, changed: false, message: verdict.message}
    const now = ctx.clock().toISOString()
    const next: Move = {...m.value, abandonSourceRequested: now, updatedAt: now, ...(verdict.withdrawsRollback ? {rollbackRequested: false} : {})}
    const rev = await ctx.store.commit({compares: [{key: m.key, modRevision: m.modRevision}, {key: aliveKey, modRevision: 0n}], puts: [{key: m.key, value: JSON.stringify(next)}]})
    if (rev === undefined) continue
    const who = await markedMoveNext(ctx, id, 'the abandonment', 'within a few seconds')
    return {
      id,
      source: m.value.from,
      changed: true,
      message: `move ${id}: source ${m.value.from} marked abandoned (${ACCEPT_DATA_LOSS_FLAG})${verdict.withdrawsRollback ? `; the rollback to it, which waited for ${m.value.from}, is withdrawn and the move finishes on ${m.value.to} (a rollback that already removed ${m.value.to} from the shard finishes rolled back instead, keeping ${m.value.to}'s copy until a replica of the shard is up)` : ''}; while it holds no lease, a refill of ${m.value.to} goes on without it, recording it in the move: ${who}`,
    }
  }
  throw new UserError('CONFLICT', `move ${id} or its source's lease kept changing; nothing was abandoned`, 'try again')
}

/** leaseHolder describes who holds `alive/<id>` (undefined: absent). A value that does not parse is still a held lease: the node is judged up. */
async function leaseHolder(ctx: ServiceContext, key: string): Promise<string | undefined> {
  try {
    const alive = await ctx.store.getTyped(key, AliveSchema)
    return alive ? `pid ${alive.value.pid} at ${alive.value.address}, started ${alive.value.startedAt}` : undefined
  } catch (err) {
    if (!isUserError(err, 'CORRUPT_VALUE')) throw err
    return 'held, with a value that does not parse'
  }
}
