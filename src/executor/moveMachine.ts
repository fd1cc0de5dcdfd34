import {type Move, type MovePhase} from '../model/move.js'
import {type Replica, type Shard} from '../model/shard.js'

/**
 * The move state machine (pure). Each function decides, from the move record and the
 * shard as read from etcd, the next phase and the shard-map change that goes with it; the
 * runner commits both in one transaction fenced on the executor lock, the move's revision
 * and the shard's revision. Shard changes always raise the epoch by one.
 *
 * Shard roles through a move of shard S from `src` to `dst` (old set O, new set N):
 *   joining  E+1: O voters + dst `joining`   — writes to O ∪ {dst} (joint quorum), reads O
 *   cutover  E+2: N voters + src `outgoing`  — writes joint, reads N
 *   release  E+3: N voters + src `leaving`   — writes and reads N only
 *   cleanup  E+4: N voters                   — src's copy dropped
 *   abort        : O voters (dst removed)    — at a new epoch; then dst's copy is dropped
 *
 * Dropping a copy is a step of its own: a transition that names `dropFirst` may only be
 * committed once that node holds nothing in the shard's range, so a move never ends (or a
 * node never joins) while stray data of the range sits on it (ARCHITECTURE "Versioned
 * records": no node keeps data for a range it holds no role for).
 */

/** ShardChange is the shard value to write with a transition (epoch already raised). */
export type ShardChange = Shard

/**
 * Transition is what a step decided: the phase to persist, an optional shard change, and a
 * reason. `dropFirst` names a node whose copy of the shard's range must be dropped (and the
 * drop confirmed) before the transition is committed.
 */
export interface Transition {
  phase: MovePhase
  shard?: ShardChange
  reason?: string
  dropFirst?: string
}

function withReplicas(shard: Shard, replicas: Replica[]): Shard {
  return {...shard, epoch: shard.epoch + 1, replicas}
}

function roleOf(shard: Shard, node: string): Replica['role'] | undefined {
  return shard.replicas.find((r) => r.node === node)?.role
}

/**
 * checkMove validates a pending move against the current shard: same epoch as planned,
 * `from` a voter, `to` not yet a replica. Returns `checked`, or `skipped` with the reason
 * (the plan is stale for this shard).
 */
export function checkMove(move: Move, shard: Shard | undefined, nodeExists: (id: string) => boolean): Transition {
  if (!shard) return {phase: 'skipped', reason: `shard ${move.shard} no longer exists`}
  if (shard.epoch !== move.baseEpoch) return {phase: 'skipped', reason: `shard ${move.shard} changed since the plan (epoch ${shard.epoch}, plan expected ${move.baseEpoch})`}
  if (!nodeExists(move.to)) return {phase: 'skipped', reason: `destination node "${move.to}" does not exist`}
  if (roleOf(shard, move.from) !== 'voter') return {phase: 'skipped', reason: `node "${move.from}" is not a voter of shard ${move.shard}`}
  if (roleOf(shard, move.to) !== undefined) return {phase: 'skipped', reason: `node "${move.to}" already holds shard ${move.shard}`}
  if (shard.replicas.some((r) => r.role !== 'voter')) return {phase: 'skipped', reason: `shard ${move.shard} is in the middle of another change`}
  return {phase: 'checked'}
}

/**
 * beginJoining adds `to` as a joining replica (epoch +1). Requires the shard as checked.
 * The destination must first hold nothing in the range (`dropFirst`): leftovers of an
 * earlier aborted move would otherwise be merged back into the shard.
 */
export function beginJoining(move: Move, shard: Shard): Transition {
  if (roleOf(shard, move.to) === 'joining') return {phase: 'joining'} // already done (resume)
  return {phase: 'joining', shard: withReplicas(shard, [...shard.replicas, {node: move.to, role: 'joining'}]), dropFirst: move.to}
}

/** beginCutover makes `to` a voter and `from` outgoing (epoch +1): reads flip to the new set. */
export function beginCutover(move: Move, shard: Shard): Transition {
  if (roleOf(shard, move.to) === 'voter' && roleOf(shard, move.from) === 'outgoing') return {phase: 'cutover'}
  if (roleOf(shard, move.to) !== 'joining' || roleOf(shard, move.from) !== 'voter') {
    return {phase: 'aborting', reason: `shard ${move.shard} changed under the move (roles ${describe(shard)})`}
  }
  return {
    phase: 'cutover',
    shard: withReplicas(
      shard,
      shard.replicas.map((r) => (r.node === move.to ? {node: r.node, role: 'voter' as const} : r.node === move.from ? {node: r.node, role: 'outgoing' as const} : r)),
    ),
  }
}

/** beginRelease marks `from` leaving (epoch +1): it gets no more requests. */
export function beginRelease(move: Move, shard: Shard): Transition {
  if (roleOf(shard, move.from) === 'leaving') return {phase: 'release'}
  return {phase: 'release', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.from ? {node: r.node, role: 'leaving' as const} : r)))}
}

/** finishCleanup removes `from` from the replica set (epoch +1); its data was dropped. */
export function finishCleanup(move: Move, shard: Shard): Transition {
  if (roleOf(shard, move.from) === undefined) return {phase: 'done'}
  return {phase: 'done', shard: withReplicas(shard, shard.replicas.filter((r) => r.node !== move.from))}
}

/**
 * abortMove decides the next step of an abort, in two transitions: while the destination
 * is still listed, remove it (epoch +1, phase stays `aborting`: writes go back to the old
 * set at once); once it is gone, `aborted` — after its copy is dropped (`dropFirst`).
 * Only valid before cutover; after cutover a move finishes (or is rolled back). Throws
 * when the destination is already more than joining (an invariant the runner reports).
 */
export function abortMove(move: Move, shard: Shard | undefined, reason: string): Transition {
  if (!shard) return {phase: 'aborted', reason}
  // A move that never changed the shard (cancelled before joining) sent the destination
  // nothing: no drop to wait for, even when the destination is down.
  if (roleOf(shard, move.to) === undefined) return move.epoch === move.baseEpoch ? {phase: 'aborted', reason} : {phase: 'aborted', reason, dropFirst: move.to}
  if (roleOf(shard, move.to) !== 'joining') throw new Error(`cannot abort move ${move.id}: ${move.to} is already ${roleOf(shard, move.to)} of shard ${move.shard}`)
  return {phase: 'aborting', reason, shard: withReplicas(shard, shard.replicas.filter((r) => r.node !== move.to))}
}

/** canAbort tells whether a move may still be aborted cleanly (it has not cut over). */
export function canAbort(phase: MovePhase): boolean {
  return phase === 'pending' || phase === 'checked' || phase === 'joining' || phase === 'copying' || phase === 'verifying' || phase === 'aborting'
}

/** describe renders a shard's replica roles for messages, e.g. `n1:voter n4:joining`. */
export function describe(shard: Shard): string {
  return shard.replicas.map((r) => `${r.node}:${r.role}`).join(' ')
}

/** ROLLBACK_PHASES are the phases in which a rollback request is honoured: cut over, source copy still there. */
export const ROLLBACK_PHASES: ReadonlySet<MovePhase> = new Set(['cutover', 'release', 'draining'])

/**
 * beginRollback starts flipping a cut-over move back. From `cutover` (source still
 * written, as `outgoing`) reads can flip back at once; from `release`/`draining` the
 * source missed writes, so it first re-joins the write set (`rb-joining`, epoch +1) and is
 * caught up by digest repair before the flip.
 */
export function beginRollback(move: Move, shard: Shard): Transition {
  const src = roleOf(shard, move.from)
  if (src === 'outgoing' || src === 'joining') return rollbackCutover(move, shard)
  if (src === 'leaving') return {phase: 'rb-joining', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.from ? {node: r.node, role: 'joining' as const} : r)))}
  throw new Error(`cannot roll back move ${move.id}: ${move.from} is ${src ?? 'no longer a replica'} of shard ${move.shard}`)
}

/** rollbackCutover flips reads back to the old set: source voter again, destination write-only (joining). */
export function rollbackCutover(move: Move, shard: Shard): Transition {
  if (roleOf(shard, move.from) === 'voter' && roleOf(shard, move.to) === 'joining') return {phase: 'rb-cutover'}
  return {
    phase: 'rb-cutover',
    shard: withReplicas(
      shard,
      shard.replicas.map((r) => (r.node === move.from ? {node: r.node, role: 'voter' as const} : r.node === move.to ? {node: r.node, role: 'joining' as const} : r)),
    ),
  }
}

/**
 * finishRollback ends a rollback in two transitions: remove the destination (never read
 * since the flip) from the replica set (epoch +1, phase stays `rb-cutover`); once it is
 * gone, `rolledback` — after its copy is dropped (`dropFirst`). The shard is as before the move.
 */
export function finishRollback(move: Move, shard: Shard): Transition {
  if (roleOf(shard, move.to) === undefined) return {phase: 'rolledback', reason: 'rolled back by operator', dropFirst: move.to}
  return {phase: 'rb-cutover', shard: withReplicas(shard, shard.replicas.filter((r) => r.node !== move.to))}
}
