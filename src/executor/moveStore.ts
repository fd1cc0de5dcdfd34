import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, isUserError} from '../errors/errors.js'
import {type Compare, type Typed} from '../etcd/etcdStore.js'
import {type Move, MoveSchema, openWarnings, PHASE_TABLE, warningNode} from '../model/move.js'
import {type Shard, ShardSchema} from '../model/shard.js'
import {shardWritePuts} from '../cluster/shardCensus.js'
import {type Transition} from './moveMachine.js'
import {phaseFaultAt} from './phaseFault.js'
import {rollbackRefusal} from './rollbackRefusal.js'

/** FencedMove is a move as read from etcd, with the revision a fenced write compares. */
export type FencedMove = Typed<Move>

/** listMoves returns every move record of the cluster in key order. */
export async function listMoves(ctx: ServiceContext): Promise<FencedMove[]> {
  return (await ctx.store.listTyped(ctx.keys.movesPrefix, MoveSchema)).items
}

/** getMove reads one move. Throws UserError(NOT_FOUND) naming it when absent. */
export async function getMove(ctx: ServiceContext, id: string): Promise<FencedMove> {
  const m = await ctx.store.getTyped(ctx.keys.move(id), MoveSchema)
  if (!m) throw new UserError('NOT_FOUND', `move "${id}" does not exist in cluster "${ctx.cluster}"`, 'list moves with `shardctl moves list`')
  return m
}

/** readShard reads a shard with its revision (undefined when absent). */
export async function readShard(ctx: ServiceContext, id: number): Promise<Typed<Shard> | undefined> {
  return ctx.store.getTyped(ctx.keys.shard(id), ShardSchema)
}

/**
 * LockLostError: a fenced write failed because the executor lock is no longer ours.
 * The executor must stop at once; another executor may be running.
 */
export class LockLostError extends UserError {
  /** `message`: what was not done and why (default: a fenced write). */
  constructor(key: string, message = `the executor lost its lock (${key}); stopping before it can do harm`) {
    super('LOCK_HELD', message, 'run `shardctl apply --resume` to continue from the last persisted phase')
  }
}

/** FencedShardWrite is a shard change to commit with a move: the new value, the revision it replaces and the value at that revision (for the census). */
export interface FencedShardWrite {
  value: Shard
  expected: bigint
  before: Shard
}

/**
 * commitMoveTransition writes the move's next phase (and the shard change that goes with
 * it) in one transaction that compares the executor lock's create revision (fencing), the
 * move's mod revision, when the shard changes, the shard's mod revision, and `also` (the
 * claims a transition recording `verifiedDirs` compares on: verifiedDirs.ts). Returns the
 * move as stored. Throws LockLostError when fenced out, UserError(CONFLICT) when the move
 * or shard changed concurrently (the caller re-reads and decides again). Every phase
 * change of a move passes here, so a test's phase fault (phaseFault.ts) fires here too.
 */
export async function commitMoveTransition(ctx: ServiceContext, fence: Compare, current: FencedMove, patch: Partial<Move>, shard?: FencedShardWrite, also: readonly Compare[] = []): Promise<FencedMove> {
  const next: Move = MoveSchema.parse({...current.value, ...patch, updatedAt: ctx.clock().toISOString()})
  const compares: Compare[] = [fence, {key: current.key, modRevision: current.modRevision}, ...also]
  const puts = [{key: current.key, value: JSON.stringify(next)}]
  if (shard) {
    // The census delta is exact because the shard's revision is compared: `before` is what is stored.
    compares.push({key: ctx.keys.shard(shard.value.id), modRevision: shard.expected})
    puts.push(...shardWritePuts(ctx, [{before: shard.before, after: shard.value}]))
  }
  phaseFaultAt('before', current.value.phase, patch.phase)
  const rev = await ctx.store.commit({compares, puts})
  if (rev !== undefined) phaseFaultAt('after', current.value.phase, patch.phase)
  if (rev === undefined) {
    const lock = await ctx.store.get(fence.key)
    if (!lock || ('createRevision' in fence && lock.createRevision !== fence.createRevision)) throw new LockLostError(fence.key)
    throw new UserError('CONFLICT', `move ${current.value.id} or shard ${current.value.shard} changed concurrently`, 'the executor re-reads and retries')
  }
  return {...current, value: next, modRevision: rev}
}

/** transitionPatch turns a machine Transition into the move fields to write. */
export function transitionPatch(t: Transition, now: Date): Partial<Move> {
  return {
    phase: t.phase,
    ...(t.shard ? {epoch: t.shard.epoch} : {}),
    ...(t.reason !== undefined ? {reason: t.reason} : {}),
    ...(t.phase === 'cutover' ? {cutoverAt: now.toISOString()} : {}),
  }
}

/**
 * requestCancel marks a move for cancellation (CAS, retried). A running executor sees it
 * within a second and aborts the move: it is accepted only in the phases the phase table
 * marks `cancel: 'accept'` (before cutover), exactly those in which the move machine honours
 * it, and the CAS on the move's revision means a cutover cannot slip in between. Finished
 * moves report "already" (as does a move already aborting or being cancelled); a move that
 * has cut over or is being rolled back cannot be cancelled: refused (PRECONDITION, exit 1)
 * with what to do instead, changing nothing.
 */
export async function requestCancel(ctx: ServiceContext, id: string): Promise<{changed: boolean; message: string}> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const m = await getMove(ctx, id)
    const phase = m.value.phase
    switch (PHASE_TABLE[phase].cancel) {
      case 'finished':
        return {changed: false, message: `move ${id} already finished (${phase})`}
      case 'refuse-cut-over':
        throw new UserError('PRECONDITION', `move ${id} has cut over (phase ${phase}) and cannot be cancelled; it will finish`, `roll it back with \`shardctl moves rollback ${id}\` (before cleanup), or after it is done plan a move back`)
      case 'refuse-rolling-back':
        throw new UserError('PRECONDITION', `move ${id} is being rolled back (phase ${phase}) and cannot be cancelled; the rollback finishes it`, 'wait for it: `shardctl moves show ' + id + '`')
      case 'already-aborting':
        return {changed: false, message: `move ${id} is already being aborted${m.value.reason ? ` (${m.value.reason})` : ''}`}
      case 'accept':
        break
    }
    if (m.value.cancelRequested) return {changed: false, message: `move ${id} is already being cancelled`}
    const next = {...m.value, cancelRequested: true, updatedAt: ctx.clock().toISOString()}
    try {
      await ctx.store.update(m.key, JSON.stringify(next), m.modRevision)
      return {changed: true, message: `move ${id} marked for cancellation`}
    } catch (err) {
      if (!isUserError(err, 'CONFLICT')) throw err
    }
  }
  throw new UserError('CONFLICT', `move ${id} kept changing; try again`)
}

/**
 * requestRollback asks the executor to flip a cut-over move back to its source (CAS,
 * retried). Honoured after cutover while the source still has its copy (cutover,
 * release, draining — the cleanup grace); refused (PRECONDITION) before cutover (cancel
 * instead) and after cleanup (the copy is gone: plan a move back). Repeats say "already".
 * Also refused (rollbackRefusal) while the source holds no `alive/<id>` lease or is marked
 * abandoned: a rollback reads the source and flips reads back to it, so it would wait for a
 * source that is down, for ever if it is gone. The request compares `alive/<source>` as read,
 * so a source that goes down meanwhile is judged again.
 */
export async function requestRollback(ctx: ServiceContext, id: string): Promise<{changed: boolean; message: string}> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const m = await getMove(ctx, id)
    const phase = m.value.phase
    const answer = PHASE_TABLE[phase].rollback
    if (answer === 'already' || m.value.rollbackRequested) return {changed: false, message: `move ${id} is already ${phase === 'rolledback' ? 'rolled back' : 'being rolled back'}`}
    if (answer === 'refuse-source-gone') throw new UserError('PRECONDITION', `move ${id} has finished and its source copy is gone`, `plan a move back instead (e.g. constraints, or apply a plan moving shard ${m.value.shard} to ${m.value.from}); keep copies longer with \`apply --cleanup-grace 10m\``)
    if (answer === 'refuse-not-cut-over') throw new UserError('PRECONDITION', `move ${id} has not cut over (phase ${phase})`, `cancel it instead: \`shardctl moves cancel ${id}\``)
    const aliveKey = ctx.keys.alive(m.value.from)
    const alive = await ctx.store.get(aliveKey)
    const refused = rollbackRefusal(m.value, alive !== undefined)
    if (refused) throw refused
    const next = {...m.value, rollbackRequested: true, updatedAt: ctx.clock().toISOString()}
    const rev = await ctx.store.commit({compares: [{key: m.key, modRevision: m.modRevision}, {key: aliveKey, modRevision: alive!.modRevision}], puts: [{key: m.key, value: JSON.stringify(next)}]})
    if (rev !== undefined) return {changed: true, message: `move ${id} marked for rollback`}
  }
  throw new UserError('CONFLICT', `move ${id} kept changing; try again`)
}

/**
 * acknowledgeWarnings marks every warning of move `id` that waits for an operator and is not
 * acknowledged yet (openWarnings: of possible data loss, and those that report no loss but wait
 * for a check, a redis slot held open or a restart window nobody could judge) acknowledged at
 * the clock's time (CAS on the move's revision, retried, so an executor's write meanwhile is
 * kept): the operator has checked the keys the warning names. `cluster status` and `top` stop
 * listing them, `apply` no longer exits POSSIBLE_DATA_LOSS for them, the autopilot plans moves
 * onto and off their masters (redis) again, and a redis slot held open (sourceRestart.ts
 * uncheckedHold) is finished with the source's copies by the next run; `moves show` still
 * prints them, with the time. Returns how many it marked (0: none was left; nothing written).
 * NOT_FOUND for an unknown move.
 */
export async function acknowledgeWarnings(ctx: ServiceContext, id: string): Promise<{acknowledged: number; message: string}> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const m = await getMove(ctx, id)
    const open = openWarnings(m.value)
    if (open.length === 0) return {acknowledged: 0, message: `move ${id} has no unacknowledged warning of possible data loss or waiting for a check${(m.value.warnings ?? []).length > 0 ? ' (`moves show` prints its warnings)' : ''}`}
    const at = ctx.clock().toISOString()
    const warnings = (m.value.warnings ?? []).map((w) => (open.includes(w) ? {...w, acknowledgedAt: at} : w))
    try {
      await ctx.store.update(m.key, JSON.stringify({...m.value, warnings, updatedAt: at}), m.modRevision)
      const losses = open.filter((w) => w.mayHaveLostData)
      // Only a redis master's loss warning names a node the autopilot held off (a kv loss warning names none: moveLossWarning.ts).
      const held = [...new Set(losses.flatMap((w) => warningNode(w) ?? []))]
      const checks = open.length - losses.length
      const what = [losses.length > 0 ? `${losses.length} warning(s) of possible data loss` : '', checks > 0 ? `${checks} warning(s) that waited for a check (no loss)` : ''].filter((x) => x !== '').join(' and ')
      return {acknowledged: open.length, message: `move ${id}: ${what} acknowledged; they are no longer listed as trouble (\`cluster status\`, \`top\`)${held.length > 0 ? ` and the autopilot plans moves onto and off ${held.join(', ')} again` : ''}`}
    } catch (err) {
      if (!isUserError(err, 'CONFLICT')) throw err
    }
  }
  throw new UserError('CONFLICT', `move ${id} kept changing; try again`)
}

