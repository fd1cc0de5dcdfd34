import {BugError} from '../errors/errors.js'
import {closedDestination} from '../model/closedDestination.js'
import {type KeptCopyRepair, type Move, type MovePhase, type MoveWarning, PHASE_TABLE, phasesWhere, type SourceAbandoned, withWarnings} from '../model/move.js'
import {droppedSourceWarning, keptCopyLostWarning, sourceAbandonedWarning, sourceAbandonedWarningKey, sourceReturnedWarnings} from '../model/moveLossWarning.js'
import {copyDirOf, copyReplaced, repairedVotersLost} from './keptCopyVerdict.js'
import {chooseCopySources} from './copySources.js'
import {type NodeState} from '../model/node.js'
import {readReplicas, type Replica, type Shard, writeReplicas} from '../model/shard.js'
import {abortable, type Failure, judgeFailure, RETRY_POLICY} from './retryPolicy.js'
import {destinationCopyKeep} from './destinationCopyKeep.js'
import {type DestinationDownFacts, destinationDownMessage} from './destinationDownText.js'
import {effectiveWriteQuorum} from '../model/writeFloor.js'
import {votersMarkCovers, votersMarkOutlived, votersMarkWithdrawal} from './votersMark.js'
import {changedSince, claimFences, dataDirChanged, dataDirOf, type ObservedClaim, verifiedKey, verifiedNow} from './verifiedDirs.js'
import {ownValue} from '../model/ownKey.js'

/**
 * The move state machine (pure). Each function decides, from the move record and the
 * shard as read from etcd, the next phase and the shard-map change that goes with it; the
 * runner commits both in one transaction fenced on the executor lock, the move's revision
 * and the shard's revision. Shard changes always raise the epoch by one.
 *
 * Shard roles through a move of shard S from `src` to `dst` (old set O, new set N):
 *   joining    E+1: O voters + dst `learning` — writes to O ∪ {dst}, acknowledged on O's quorum alone; reads O
 *   (copying)       unchanged
 *   promoting  E+2: O voters + dst `joining`  — writes to O ∪ {dst} (joint quorum), reads O; barrier on E+2
 *   (verifying)     unchanged                 — barrier again (cheap), then verification repairs what dst missed
 *   cutover    E+3: N voters + src `outgoing` — writes joint, reads N
 *   release    E+4: N voters + src `leaving`  — writes and reads N only
 *   cleanup    E+5: N voters                  — src's copy dropped
 *   abort          : O voters (dst removed)   — at a new epoch; then dst's copy is dropped
 *
 * Why the destination learns first: a joint quorum during the copy puts the destination's
 * writer, busy committing copy batches, in the path of every client write (at rf 1 each
 * write waits for it). While it learns, its answers are not awaited; once it is promoted
 * (E+2) and every router and replica is at E+2 (the barrier), every new write reaches it
 * through the joint quorum, and every write acknowledged before is on the source (or on
 * every other old voter, which stay) — verification, which compares the destination with
 * the source after that barrier, carries over whatever the learner missed.
 *
 * Why `promoting` is a phase of its own: `verifying` once meant "joint quorum since joining,
 * barrier done" (before destinations learned). An executor of that build resuming a record
 * that says `verifying` verifies and cuts over without the E+2 barrier, so a router still at
 * E+1 could acknowledge a write on the source alone after verification compared its bucket:
 * lost at cutover. A record is therefore only ever committed as `verifying` after the E+2
 * barrier passed, and the promotion runs under a name older builds refuse to parse.
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
 * `from` a voter, `to` not yet a replica and (by `stateOf`) neither cordoned nor draining.
 * Returns `checked`, or `skipped` with the reason (the plan is stale for this shard, or its
 * destination was closed since: closedDestination.ts).
 */
export function checkMove(move: Move, shard: Shard | undefined, nodeExists: (id: string) => boolean, stateOf: (id: string) => NodeState | undefined = () => undefined): Transition {
  if (!shard) return {phase: 'skipped', reason: `shard ${move.shard} no longer exists`}
  if (shard.epoch !== move.baseEpoch) return {phase: 'skipped', reason: `shard ${move.shard} changed since the plan (epoch ${shard.epoch}, plan expected ${move.baseEpoch})`}
  if (!nodeExists(move.to)) return {phase: 'skipped', reason: `destination node "${move.to}" does not exist`}
  const closed = closedDestination(move.to, stateOf(move.to))
  if (closed) return {phase: 'skipped', reason: closed}
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
  const role = roleOf(shard, move.to)
  if (role === 'learning' || role === 'joining') return {phase: 'joining'} // already done (resume)
  return {phase: 'joining', shard: withReplicas(shard, [...shard.replicas, {node: move.to, role: 'learning'}]), dropFirst: move.to}
}

/**
 * promoteDestination makes the learning destination `joining` (epoch +1): from then on its
 * answer counts (joint quorum). The phase stays `promoting`: the barrier on the new epoch
 * follows, and only then `verifying`. A destination that is already joining (promoted, or a
 * move begun before destinations learned) needs nothing; any other shape aborts.
 */
export function promoteDestination(move: Move, shard: Shard): Transition {
  const dst = roleOf(shard, move.to)
  if (dst === 'joining' && roleOf(shard, move.from) === 'voter') return {phase: 'promoting'}
  if (dst !== 'learning' || roleOf(shard, move.from) !== 'voter') return {phase: 'aborting', reason: `shard ${move.shard} changed under the move (roles ${describe(shard)})`}
  return {phase: 'promoting', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.to ? {node: r.node, role: 'joining' as const} : r)))}
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
 * when the destination is already more than learning or joining (an invariant the runner reports).
 */
export function abortMove(move: Move, shard: Shard | undefined, reason: string): Transition {
  if (!shard) return {phase: 'aborted', reason}
  // A move that never changed the shard (cancelled before joining) sent the destination
  // nothing: no drop to wait for, even when the destination is down.
  if (roleOf(shard, move.to) === undefined) return move.epoch === move.baseEpoch ? {phase: 'aborted', reason} : {phase: 'aborted', reason, dropFirst: move.to}
  const dst = roleOf(shard, move.to)
  if (dst !== 'learning' && dst !== 'joining') throw new BugError(`cannot abort move ${move.id}: ${move.to} is already ${roleOf(shard, move.to)} of shard ${move.shard}`)
  return {phase: 'aborting', reason, shard: withReplicas(shard, shard.replicas.filter((r) => r.node !== move.to))}
}

/** canAbort tells whether a move may still be aborted cleanly (it has not cut over and is not finished; `aborting` included). */
export function canAbort(phase: MovePhase): boolean {
  return phase === 'aborting' || abortable(phase)
}

/** describe renders a shard's replica roles for messages, e.g. `n1:voter n4:joining`. */
export function describe(shard: Shard): string {
  return shard.replicas.map((r) => `${r.node}:${r.role}`).join(' ')
}

/** rollbackWaitMessage says why a requested rollback has not begun: its source is down; and how the wait ends. */
function rollbackWaitMessage(move: Move): string {
  return `move ${move.id} is to be rolled back to its source ${move.from}, which is down (no alive/${move.from} lease): the rollback waits for it and the move holds where it is; start ${move.from}, or if it is gone for good \`shardctl moves abandon-source ${move.id} --accept-data-loss\` withdraws the rollback and lets the move finish`
}

/** ROLLBACK_PHASES are the phases in which a rollback request is honoured: cut over, source copy still there. */
export const ROLLBACK_PHASES: ReadonlySet<MovePhase> = new Set(phasesWhere((i) => i.rollback === 'accept'))

/**
 * beginRollback starts flipping a cut-over move back. From `cutover` (source still
 * written, as `outgoing`) reads can flip back at once; from `release`/`draining` the
 * source missed writes, so it first re-joins the write set (`rb-joining`, epoch +1) and is
 * caught up by digest repair before the flip.
 */
export function beginRollback(move: Move, shard: Shard, sourceChanged = false): Transition {
  const src = roleOf(shard, move.from)
  // An outgoing source restarted since verification (on an empty or older dir, served with
  // --accept-empty-data) lacks what was verified: it re-joins and is caught up like a leaving
  // one before reads flip back to it and the destination's copy is dropped (verifiedDirs.ts).
  if (src === 'outgoing' && sourceChanged) return {phase: 'rb-joining', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.from ? {node: r.node, role: 'joining' as const} : r)))}
  if (src === 'outgoing' || src === 'joining') return rollbackCutover(move, shard)
  if (src === 'leaving') return {phase: 'rb-joining', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.from ? {node: r.node, role: 'joining' as const} : r)))}
  throw new BugError(`cannot roll back move ${move.id}: ${move.from} is ${src ?? 'no longer a replica'} of shard ${move.shard}`)
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

// ---------------------------------------------------------------------------------------
// The machine: one pure decision per observation.
// ---------------------------------------------------------------------------------------

/**
 * MoveObservation is everything the machine decides on, as the runner read it just now:
 * the move and its shard (with the revision a shard change is fenced on), which nodes are
 * registered and which are alive, the operator's control, the clock, which side effects of
 * the current phase already succeeded in this run (`done`: keys of {@link MoveEffect}s),
 * and the failure the last attempt hit (classified) with the phase's failure counts.
 *
 * A restarted executor observes with `done` empty, no failure and zero counts: every phase
 * is a resume point, and its side effects are run again (they are idempotent).
 */
export interface MoveObservation {
  move: Move
  shard?: {value: Shard; revision: bigint}
  registered: ReadonlySet<string>
  /** states: the registered nodes' states (a move not begun onto a cordoned or draining one is skipped); absent, or a node missing: active. */
  states?: ReadonlyMap<string, NodeState>
  alive: ReadonlySet<string>
  control: {paused: boolean; inWindow: boolean}
  now: number
  done: ReadonlySet<string>
  failure?: Failure
  /** failures: counted failed attempts of the current phase in this run. */
  failures: number
  /** tries: retries of the current phase in this run, counted or not. */
  tries: number
  /** claims: the `claims/<id>` of the move's source and destination as read now (absent: not read; see verifiedDirs.ts). */
  claims?: ReadonlyMap<string, ObservedClaim>
  /**
   * writeQuorums: every write quorum a write of the shard may have been acknowledged with (the registered routers' and the
   * write floor's: writeQuorumsEver), read where the destination's copy is to be dropped with the source down (`aborting`,
   * `rb-cutover`: destinationCopyKeep.ts), and for a destination restarted in `cleanup` (refillAfterDrop). Absent: not
   * read, counted as unknown (w = 1).
   */
  writeQuorums?: readonly (number | null | undefined)[]
  /** repairedRecords: for each `repair-from-copy` effect in {@link done}, the records it repaired (what `moves show` reports). */
  repairedRecords?: ReadonlyMap<string, number>
}

/**
 * MoveEffect is a side effect the runner performs for the machine; `key` names it for
 * {@link MoveObservation.done} (a barrier and a drop are keyed on the shard revision they
 * were run against, so a changed shard runs them again).
 * - `barrier`: every live router at `mapRevision`, every live node of `nodes` at `shard.epoch`;
 * - `copy`: copy the range to the destination (commits its own progress and `promoting`);
 * - `verify`: digest-compare the destination with the source (or the old set) and repair;
 *   `refill`: after cutover, copy only into the destination what the source has and it lacks
 *   (the destination restarted since verification: verifiedDirs.ts); with `from`, from exactly
 *   those nodes (a source abandoned by the operator: sourceAbandon.ts);
 * - `drain`: wait for the source's in-flight requests, then the cleanup grace;
 * - `drop`: `node` drops its copy of `shard`'s range (fenced on the shard's epoch);
 * - `catch-up`: repair the source from the destination (rollback after release);
 * - `repair-from-copy`: repair `voters` from the copy the destination keeps outside the shard's map with the source down
 *   (keptCopyRepair.ts), before that copy is dropped.
 */
export type MoveEffect =
  | {type: 'barrier'; key: string; shard: Shard; mapRevision: bigint; nodes: string[]}
  | {type: 'copy'; key: string}
  | {type: 'verify'; key: string; shard: Shard; refill?: boolean; from?: string[]; withoutSource?: boolean}
  | {type: 'drain'; key: string}
  | {type: 'drop'; key: string; node: string; shard: Shard}
  | {type: 'catch-up'; key: string; epoch: number}
  | {type: 'repair-from-copy'; key: string; shard: Shard; voters: string[]}

/** Retried names a failure the decision answers: the runner reports it, and persists `attempts + 1` when it is `counted`. */
export interface Retried {
  message: string
  counted: boolean
}

/**
 * MoveDecision is the machine's answer to one observation:
 * - `commit`: write `transition` (and `patch`) in one fenced transaction; a shard change is
 *   fenced on `shardRevision` (the value then was `shardBefore`, for the census), and a
 *   transition recording `verifiedDirs` on the `claimFences` (claims/<id> mod revisions) it
 *   records, so no node restarts between its comparison and the commit, and on `aliveAbsent`'s
 *   `alive/<id>` keys being absent (a source abandoned only while it holds no lease). `note` is worth telling the operator;
 * - `effect`: run the side effect, then observe again;
 * - `wait`: sleep `ms`, then observe again (`retried` when a failure caused it);
 * - `reread`: observe again now (the record changed under a write);
 * - `stop`: the executor was fenced out: rethrow;
 * - `terminal`: the move has finished.
 */
export type MoveDecision =
  | {kind: 'commit'; transition: Transition; shardRevision?: bigint; shardBefore?: Shard; patch?: Partial<Move>; note?: string; retried?: Retried; claimFences?: {node: string; modRevision: bigint}[]; aliveAbsent?: string[]}
  | {kind: 'effect'; effect: MoveEffect}
  | {kind: 'wait'; ms: number; reason: string; retried?: Retried}
  | {kind: 'reread'}
  | {kind: 'stop'}
  | {kind: 'terminal'}

type Observed = NonNullable<MoveObservation['shard']>
type PhaseStep = (o: MoveObservation) => MoveDecision

/** CommitExtra is what a commit decision carries besides its transition and the shard's revision: the move's patch, fences, note. */
export type CommitExtra = Omit<Extract<MoveDecision, {kind: 'commit'}>, 'kind' | 'transition' | 'shardRevision' | 'shardBefore'>

const commitOf = (transition: Transition, shard?: Observed, extra: CommitExtra = {}): MoveDecision => ({
  kind: 'commit',
  transition,
  // shardBefore is the value at shardRevision: the census delta of the write is computed from it.
  ...(transition.shard && shard ? {shardRevision: shard.revision, shardBefore: shard.value} : {}),
  ...extra,
})

/** once runs `effect` unless it already succeeded in this phase, then decides `next`. */
function once(o: MoveObservation, effect: MoveEffect, next: () => MoveDecision): MoveDecision {
  return o.done.has(effect.key) ? next() : {kind: 'effect', effect}
}

function barrier(o: MoveObservation, shard: Observed, nodes: string[], next: () => MoveDecision): MoveDecision {
  return once(o, {type: 'barrier', key: `barrier@${shard.revision}`, shard: shard.value, mapRevision: shard.revision, nodes}, next)
}

/** onFailure applies the retry policy to a failure of the current phase. */
function onFailure(o: MoveObservation, failure: Failure): MoveDecision {
  const v = judgeFailure({phase: o.move.phase, failures: o.failures, tries: o.tries, reason: o.move.reason}, failure)
  const retried = {message: failure.message, counted: v.do !== 'stop' && v.do !== 'reread' && v.counted}
  const attempts = retried.counted ? {attempts: o.move.attempts + 1} : {}
  switch (v.do) {
    case 'stop':
    case 'reread':
      return {kind: v.do}
    case 'abort':
      return commitOf({phase: 'aborting', reason: v.reason}, undefined, {patch: attempts, ...(retried.counted ? {retried} : {})})
    case 'fail':
      return commitOf({phase: 'failed', reason: v.reason}, undefined, {patch: attempts, retried})
    case 'retry':
      return {kind: 'wait', ms: v.afterMs, reason: failure.message, retried}
  }
}

/** withShard decides `next` on the shard, or answers its absence: abort before cutover, a broken invariant after. */
function withShard(o: MoveObservation, next: (shard: Observed) => MoveDecision): MoveDecision {
  if (o.shard) return next(o.shard)
  const message = `shard ${o.move.shard} disappeared`
  return onFailure(o, {kind: abortable(o.move.phase) ? 'abort-now' : 'bug', message})
}

/**
 * dropThenCommit (pure) commits `t` with `extra` (the move's patch, the claims it is fenced on, its note), first making
 * `t.dropFirst` drop its copy of the range. A node no longer registered has nothing to drop: `t` commits at once, with
 * `extra` whole and the note saying so. A registered node that is down is waited for (not a failed attempt: nothing is
 * wrong but its absence). Exported for its tests.
 */
export function dropThenCommit(o: MoveObservation, t: Transition, shard: MoveObservation['shard'], extra: CommitExtra = {}): MoveDecision {
  const node = t.dropFirst
  if (!node || !shard) return commitOf(t, shard, extra)
  if (!o.registered.has(node)) {
    // `extra` goes with it: until session 42 it was thrown away here, the patch (a loss warning, the kept-copy record
    // marked dropped) and the claim fences with it.
    const unregistered = `node ${node} is no longer registered; nothing to drop`
    return commitOf(t, shard, {...extra, note: extra.note !== undefined ? `${extra.note}; ${unregistered}` : `move ${o.move.id}: ${unregistered}`})
  }
  if (!o.alive.has(node)) {
    return onFailure(o, {kind: 'waiting-for-node', message: `node ${node} is down: its copy of shard ${shard.value.id}'s range must be dropped before move ${o.move.id} can go on`})
  }
  return once(o, {type: 'drop', key: `drop:${node}@${shard.revision}`, node, shard: shard.value}, () => commitOf(t, shard, extra))
}

function holdForControl(o: MoveObservation): MoveDecision | undefined {
  if (o.control.paused) return {kind: 'wait', ms: RETRY_POLICY.holdMs, reason: 'paused by operator'}
  if (!o.control.inWindow) return {kind: 'wait', ms: RETRY_POLICY.holdMs, reason: 'outside the maintenance window'}
  return undefined
}

/**
 * recheck compares `node`, which serves under another claim than the one the move recorded
 * (verifiedDirs.ts), with the other copy again: the destination after cutover is refilled
 * from the source (one way: a leaving source takes no writes), a rolled-back source is caught
 * up from the destination. Then the claim compared is recorded (phase unchanged, fenced on it).
 */
function recheck(o: MoveObservation, shard: Observed, node: string): MoveDecision {
  const {move} = o
  // Decided with the source down after its drop was recorded: the refill must not read it should it be up when the refill
  // runs (it would read a copy it may have dropped as whole), and is keyed apart from one that may have. Until session
  // 40's hunt the refill picked the source if up then, and a source up for that refill and down again at the next look
  // had it committed: at rf 1 a destination back on an empty dir ended `done` with every value lost, and no warning.
  const withoutSource = node === move.to && sourceDropMaySent(move) && !o.alive.has(move.from)
  const effect: MoveEffect =
    node === move.to
      ? {type: 'verify', key: verifiedKey(withoutSource ? 'refill-without-dropped-source' : 'refill', [node], o.claims), shard: shard.value, refill: true, ...(withoutSource ? {withoutSource} : {})}
      : {type: 'catch-up', key: verifiedKey(`catch-up@${shard.value.epoch}`, [node], o.claims), epoch: shard.value.epoch}
  const verifiedDirs = {...move.verifiedDirs, ...verifiedNow([node], o.claims)}
  return once(o, effect, () =>
    // A voters' mark answered this refill's wait, which is over (the voters up were enough, or are back): consumed, so it is
    // not honoured at a later refill nobody judged.
    commitOf({phase: move.phase}, undefined, {patch: {verifiedDirs, cutoverAt: move.cutoverAt, ...(node === move.to && move.abandonVotersRequested !== undefined ? {abandonVotersRequested: undefined, abandonVotersDirs: undefined} : {})}, claimFences: claimFences([node], o.claims), note: `move ${move.id}: node ${node} restarted under another data dir or process since its copy was verified; compared it with the other copy again`}),
  )
}

/**
 * abandonsSource tells whether a refill may go on without the move's source: the operator
 * marked it gone for good (`moves abandon-source --accept-data-loss`) and it holds no
 * `alive/<id>` lease now. A source that is up is always read: the mark never skips it.
 */
function abandonsSource(o: MoveObservation): boolean {
  return o.move.abandonSourceRequested !== undefined && !o.alive.has(o.move.from)
}

/**
 * RefillRecord is what {@link refillThenRecord} reads and records: `step` names the refill (its effect key, with the
 * claims of `read`), `from` the nodes refilled from, `read` every node whose claim keys and fences the commit (the
 * destination first), `patch` what the commit records besides the destination's claim verified, `aliveAbsent` the
 * leases that must still be absent, `warning` the one the move records (its text the note, unless `note` says more).
 */
interface RefillRecord {
  step: string
  from: string[]
  read: string[]
  /** fenced: the nodes whose claims fence the commit, when not all of `read`. */
  fenced?: string[]
  patch?: Partial<Move>
  aliveAbsent?: string[]
  warning: MoveWarning
  note?: string
}

/**
 * refillThenRecord is the step refillWithoutSource and refillAfterDrop share: refill the destination from exactly `from`
 * (keyed on the claims of `r.read`, so a node restarted since runs it again), then commit, phase unchanged, the
 * destination's claim verified with `r.patch` and the warning, fenced on the claims of `r.read` (a node restarted between
 * the refill and the commit no longer holds what it gave: the commit fails and the refill runs again) and on
 * `r.aliveAbsent`'s leases being absent.
 */
function refillThenRecord(o: MoveObservation, shard: Observed, r: RefillRecord): MoveDecision {
  const {move} = o
  const effect: MoveEffect = {type: 'verify', key: verifiedKey(r.step, r.read, o.claims), shard: shard.value, refill: true, from: r.from}
  return once(o, effect, () =>
    commitOf({phase: move.phase}, undefined, {
      patch: {...r.patch, verifiedDirs: {...move.verifiedDirs, ...verifiedNow([move.to], o.claims)}, cutoverAt: move.cutoverAt, warnings: withWarnings(move.warnings, [r.warning])},
      claimFences: claimFences(r.fenced ?? r.read, o.claims),
      ...(r.aliveAbsent ? {aliveAbsent: r.aliveAbsent} : {}),
      note: `move ${move.id}: ${r.note ?? r.warning.text}`,
    }),
  )
}

/**
 * refillWithoutSource ends the refill of a restarted destination without the abandoned source
 * (sourceAbandon.ts): it is refilled from every staying voter that is up (all of them hold what
 * they hold on; none at rf 1), then its claim is recorded with the fact (`sourceAbandoned`, the
 * reason), fenced on its claim and on the source's `alive/<id>` still being absent, so a source
 * that registers meanwhile fails the commit and is read instead. What only the source's copy
 * held is lost: the operator accepted that.
 */
function refillWithoutSource(o: MoveObservation, shard: Observed): MoveDecision {
  const {move} = o
  const staying = stayingVoters(move, shard.value)
  const down = staying.filter((n) => !o.alive.has(n)).sort()
  // Only the source is abandoned. A write acknowledged by it and a staying voter that is down
  // (w = 2 at rf 3) is on that voter alone now: refilling from the others and recording the
  // destination verified would leave it out of the new read set's copies for good. So with a
  // staying voter down this is the ordinary refill, which goes on from the up voters when the
  // write floor makes them enough and waits for the down ones otherwise (liveCopySources; its wait
  // names `moves abandon-voters`). Once the operator abandoned those voters too (the mark names
  // every one down) and the up ones are not enough, it goes on from what is up, recording the loss.
  // Until session 41 the mark was not honoured here: at w = 1 such a move waited for ever.
  if (down.length > 0 && (stayingVotersEnough(o, shard.value) || !votersMarkCovers(move, down))) return recheck(o, shard, move.to)
  const peers = staying.filter((n) => o.alive.has(n)).sort()
  const at = new Date(o.now).toISOString()
  const from = peers.length > 0 ? `refilled from ${peers.join(', ')}` : 'no other copy to refill it from'
  const destinationDir = o.claims?.get(move.to)?.token ?? null
  const voters = down.length > 0 ? `, with what only ${down.join(', ')} (down, abandoned by the operator: moves abandon-voters --accept-data-loss) held` : ''
  // A voter up on a replaced data dir is read (it gives what it holds now), but its old copy is gone: told, not waited for.
  const replaced = replacedStayingVoters(o, shard.value)
  const lostDirs = replaced.length > 0 ? `, and what only ${replaced.join(', ')} held on the data dir ${replaced.length === 1 ? 'it' : 'they'} served at cutover (replaced since)` : ''
  const reason = `source ${move.from} abandoned (moves abandon-source --accept-data-loss): ${move.to} restarted since it was verified and went on with what it held (${from}); records only ${move.from}'s copy held are lost${voters}${lostDirs}`
  // Keyed and fenced on the staying voters' claims too (the runner reads them while the mark is set).
  return refillThenRecord(o, shard, {
    step: 'refill-without-source',
    from: peers,
    read: [move.to, ...peers],
    // And on the abandoned voters' claims: one that registers again and goes down between this look and the commit (its
    // lease absent again) came back, and its copy is read (votersMark.ts votersMarkOutlived), not gone without.
    fenced: [move.to, ...peers, ...down],
    // The voters' mark answers this refill: consumed by its commit, as refillAfterDrop's is.
    patch: {reason, sourceAbandoned: abandonedAgain(move.sourceAbandoned, {at, destinationDir, refilledFrom: peers, ...(down.length > 0 ? {abandonedVoters: down} : {})}), ...(move.abandonVotersRequested !== undefined ? {abandonVotersRequested: undefined, abandonVotersDirs: undefined} : {})},
    // Fenced on the source's lease still being absent, and the abandoned voters': one that registers meanwhile fails the
    // commit and is read instead.
    aliveAbsent: [move.from, ...down],
    // A warning of possible data loss, as a redis master's restart is: `apply` exits 23 and
    // `cluster status` lists it until `moves ack` (the mark accepted a loss nobody checked yet).
    warning: sourceAbandonedWarning(move, at, peers, destinationDir, down),
    note: reason,
  })
}

/** withdrawVotersMark clears an outlived voters' mark (phase unchanged; votersMark.ts), telling the operator. */
function withdrawVotersMark(o: MoveObservation, outlived: readonly string[]): MoveDecision {
  const {patch, note} = votersMarkWithdrawal(o.move, outlived, o.alive)
  return commitOf({phase: o.move.phase}, undefined, {patch: {...patch, cutoverAt: o.move.cutoverAt}, note})
}

/**
 * sourceDropMaySent tells whether a move in `cleanup` may have had its source drop its copy: the executor recorded, fenced,
 * that it sends the drop (`sourceDropSentAt` a time), or the record is from a build that did not say (absent). Null: the
 * drop was not sent, and the source's copy is whole. Past `cleanup` the drop is done or the source was down.
 */
export function sourceDropMaySent(move: Pick<Move, 'phase' | 'sourceDropSentAt'>): boolean {
  return move.phase === 'cleanup' && move.sourceDropSentAt !== null
}

/**
 * refillAfterDrop answers a destination that serves under another claim than the one verified
 * while the move is in `cleanup` with its source up, after the source's drop was recorded
 * ({@link sourceDropMaySent}): the source may have dropped its copy already. Until session 39
 * this was the ordinary refill from the source, which found nothing left to give and let the
 * move end `done` without a word: at rf 1, a destination back on an empty dir had lost every
 * value of the shard. Now the destination is refilled from what is left of the source's copy
 * and from every staying voter, its claim recorded (fenced on it and on the staying voters'),
 * and the move carries a warning (droppedSourceWarning): of possible data loss (`apply` exits
 * 23) when it came back on another data dir and the staying voters up are not enough to hold
 * every acknowledged write (rf 1, a w = 1 write floor); otherwise it says what happened (the
 * same dir, plain restart or a restored older copy, which no one can tell apart; or refilled
 * from voters that hold everything).
 *
 * A staying voter that is down is waited for when the up ones are not enough (chooseCopySources's rule, as if the source
 * were down) and the destination came back on another data dir: it may hold writes acknowledged by it and the destination
 * alone. On the same dir the destination kept those, so nothing is waited for (until session 40 it waited all the same).
 * The wait's way out, for voters gone for good, is `moves abandon-voters ID --accept-data-loss` (votersAbandon.ts): the
 * refill then goes on from what is up, fenced on the down voters' leases still being absent, recording the loss.
 */
function refillAfterDrop(o: MoveObservation, shard: Observed): MoveDecision {
  const {move} = o
  const staying = stayingVoters(move, shard.value)
  const up = staying.filter((n) => o.alive.has(n)).sort()
  const down = staying.filter((n) => !o.alive.has(n)).sort()
  const enough = stayingVotersEnough(o, shard.value)
  const now = o.claims?.get(move.to)?.token
  const verified = ownValue(move.verifiedDirs, move.to)
  // The same data dir (a new process) kept its copy, unless it is an older copy restored: not told apart, so told, not counted.
  const sameDir = now !== undefined && verified !== undefined && dataDirOf(now) === dataDirOf(verified)
  const abandoning = !enough && !sameDir && down.length > 0
  // The mark is honoured only for the voters it named: one down since was judged gone by nobody (session 41).
  if (abandoning && !votersMarkCovers(move, down)) return onFailure(o, {kind: 'waiting-for-node', message: refillWaitMessage(move, down)})
  const at = new Date(o.now).toISOString()
  const warning = droppedSourceWarning(move, at, now ?? null, up, enough ? 'refilled' : sameDir ? 'same-dir' : 'lost', abandoning ? down : [])
  const peers = [move.from, ...up]
  return refillThenRecord(o, shard, {
    step: 'refill-after-drop',
    from: peers,
    // Keyed and fenced on the destination's claim and the staying voters' (a voter restarted since the refill
    // no longer holds what it gave); not on the source's, whose copy is read only for what remains.
    read: [move.to, ...peers],
    fenced: [move.to, ...up, ...(abandoning ? down : [])],
    // The mark answers this refill: consumed by its commit (a later one, down voters and all, is judged again).
    patch: {abandonVotersRequested: undefined, abandonVotersDirs: undefined},
    // The voters abandoned must still hold no lease: one that registers meanwhile fails the commit and is read.
    ...(abandoning ? {aliveAbsent: down} : {}),
    warning,
  })
}

/**
 * stayingVotersEnough tells whether the staying voters up hold every acknowledged write without the move's source and
 * destination: chooseCopySources's rule, as for a copy with its source down, under every write quorum a router may have
 * used (`o.writeQuorums`; not read: unknown, counted as w = 1). Never at rf 1.
 */
function stayingVotersEnough(o: MoveObservation, shard: Shard): boolean {
  const {move} = o
  const staying = stayingVoters(move, shard)
  // A voter up on another data dir than at cutover lost what it acknowledged: not a holder (session 42; until then it
  // counted, and with the destination down in cleanup the source's copy, the last other one of a write acknowledged by
  // the source, that voter and the destination at w = 2, was dropped).
  const replaced = new Set(replacedStayingVoters(o, shard))
  const withoutSource = new Set([...o.alive].filter((n) => n !== move.from && !replaced.has(n)))
  return chooseCopySources({shard: move.shard, from: move.from, to: move.to, oldSet: [move.from, ...staying], alive: withoutSource, routerW: o.writeQuorums ?? [undefined]}).kind === 'copy'
}

/**
 * promotedDirMoved answers a verification just completed (in `verifying`) with the destination on another data dir than
 * the one recorded at its promotion (`promotedDir`: it restarted on a replaced dir since, and was verified again under
 * this claim, so this dir now holds what the joint quorum gave the old one): the claim is recorded as `promotedDir`
 * (phase unchanged, fenced on it) before the cutover. Until session 42 the old one stayed, and an abort before the cutover
 * (a cancel, a failure) repairing from the destination's kept copy judged it replaced: a false `kept-copy:` loss warning.
 * Undefined: nothing to record (the same data dir, nothing recorded, or no claim read), the cutover goes on.
 */
function promotedDirMoved(o: MoveObservation): MoveDecision | undefined {
  const {move} = o
  const now = o.claims?.get(move.to)?.token
  if (move.promotedDir === undefined || now === undefined || dataDirOf(now) === dataDirOf(move.promotedDir)) return undefined
  return commitOf({phase: move.phase}, undefined, {patch: {promotedDir: now}, claimFences: claimFences([move.to], o.claims), note: `move ${move.id}: ${move.to} was verified again on another data dir than the one it was promoted on (${now}); recorded before the cutover`})
}

/**
 * stayingDirsAtCutover is what the cutover records as `stayingDirs`: the claims read now, except for a voter the promotion
 * recorded (session 42's hunt), whose claim then is kept. One replaced between the promotion and the cutover lost writes it
 * acknowledged with the destination in the joint quorum; recorded under its new dir, it counted as a holder after cutover
 * (stayingVotersEnough), and with the destination down in cleanup the source's copy, the last other one, was dropped.
 */
function stayingDirsAtCutover(move: Move, now: Record<string, string>): Record<string, string> {
  // Own entries, defined (not assigned): a node id like "__proto__" stays a key.
  return Object.fromEntries([...Object.entries(now), ...Object.entries(move.stayingDirs ?? {})])
}

/** stayingVoters are the shard's read voters but the move's source and destination (sorted as the shard lists them). */
function stayingVoters(move: Move, shard: Shard): string[] {
  return readReplicas(shard).filter((n) => n !== move.to && n !== move.from)
}

/** destinationDownFacts gathers what destinationDownMessage names: the staying voters, the write quorum, the replaced and the down ones. */
function destinationDownFacts(o: MoveObservation, shard: Shard): DestinationDownFacts {
  const staying = stayingVoters(o.move, shard)
  const w = effectiveWriteQuorum(staying.length + 1, o.writeQuorums ?? [undefined])
  return {staying, w, wKnown: o.writeQuorums !== undefined, replaced: replacedStayingVoters(o, shard), down: staying.filter((n) => !o.alive.has(n))}
}

/**
 * replacedStayingVoters lists the staying voters that serve another data dir than when the move cut over (`stayingDirs`;
 * verifiedDirs.ts dataDirChanged): they lost what they acknowledged. Not recorded or not read: not judged.
 */
function replacedStayingVoters(o: MoveObservation, shard: Shard): string[] {
  return stayingVoters(o.move, shard).filter((n) => dataDirChanged(o.move.stayingDirs, n, o.claims))
}

/** refillWaitMessage says what a refill after the source's drop waits for (the down staying voters) and the two ways it ends. */
export function refillWaitMessage(move: Pick<Move, 'id' | 'from' | 'to'>, down: readonly string[]): string {
  return `move ${move.id}: ${move.to} restarted on another data dir in cleanup, after ${move.from} may have dropped its copy; ${down.join(', ')} (down) may hold acknowledged writes it lost: waiting for them; start them, or if they are gone for good \`shardctl moves abandon-voters ${move.id} --accept-data-loss\` refills ${move.to} from what is up and records the loss`
}

/**
 * abandonedAgain is the record of a refill without the source: `now`, keeping an earlier one
 * (the destination restarted again while the source stayed down) in `earlier`, so when data
 * was first lost is never overwritten.
 */
function abandonedAgain(prev: SourceAbandoned | undefined, now: Omit<SourceAbandoned, 'earlier'>): SourceAbandoned {
  if (!prev) return now
  const {earlier, ...last} = prev
  return {...now, earlier: [...(earlier ?? []), last]}
}

/** wentOnWithoutSource: the destination was accepted without reading the abandoned source, and the source has not been read since. */
function wentOnWithoutSource(move: Move): boolean {
  return move.sourceAbandoned !== undefined && move.sourceAbandoned.sourceRefillAt === undefined
}

/** sourceCameBack: the move went on without its abandoned source, which is up again before the move finished (its copy not dropped yet). */
function sourceCameBack(o: MoveObservation): boolean {
  return wentOnWithoutSource(o.move) && o.alive.has(o.move.from)
}

/**
 * markOutlived: the source the operator marked gone for good holds its lease again. The mark
 * was a judgement that it would not come back, and it did: its copy may hold what no other
 * does, so the mark must not be honoured at a later refill (a second restart of the
 * destination while the source is down again), which would go on without a copy that is
 * there to be read. The operator may mark it again.
 */
function markOutlived(o: MoveObservation): boolean {
  return o.move.abandonSourceRequested !== undefined && o.alive.has(o.move.from)
}

/** withdrawMark clears an outlived mark (phase unchanged), telling the operator. */
function withdrawMark(o: MoveObservation): MoveDecision {
  const {move} = o
  return commitOf({phase: move.phase}, undefined, {
    patch: {cutoverAt: move.cutoverAt, abandonSourceRequested: undefined},
    note: `move ${move.id}: source ${move.from} marked abandoned is up again; the mark is withdrawn (a later refill reads it or waits for it; \`moves abandon-source\` marks it again)`,
  })
}

/**
 * votersLossStands: the keys of the warnings of refills without the source that went on without abandoned staying voters
 * too (`abandonedVoters`): the source's copy does not hold what only they held, so its return does not withdraw them.
 */
function votersLossStands(move: Move): ReadonlySet<string> {
  const a = move.sourceAbandoned
  const entries = a ? [...(a.earlier ?? []), a] : []
  return new Set(entries.filter((e) => (e.abandonedVoters ?? []).length > 0).map((e) => sourceAbandonedWarningKey(move.from, e.at)))
}

/**
 * refillFromReturnedSource refills the destination from the abandoned source that came back
 * (from it alone: a refill from others would say nothing of it), before the move drops its
 * copy, and records that it did, withdrawing the mark (markOutlived). Should it go down again meanwhile, the refill fails and is
 * retried while it stays up; once it is down the move goes on as abandoned.
 */
function refillFromReturnedSource(o: MoveObservation, shard: Observed): MoveDecision {
  const {move} = o
  const abandoned = move.sourceAbandoned!
  const effect: MoveEffect = {type: 'verify', key: verifiedKey('refill-returned-source', [move.from, move.to], o.claims), shard: shard.value, refill: true, from: [move.from]}
  // Back on another data dir than the one verified (a replaced disk served with
  // --accept-empty-data): its old copy is not there to read, and what only it held stays lost.
  // (The same dir id may still be an older copy restored: as everywhere, not told apart.)
  const token = o.claims?.get(move.from)?.token
  const verified = ownValue(move.verifiedDirs, move.from)
  const replaced = token !== undefined && verified !== undefined && dataDirOf(token) !== dataDirOf(verified)
  // In `cleanup` after the drop was recorded, the source may have dropped its copy before it went down (the drop
  // answered, the executor stopped before `done`): reading it gives back what remains, and the loss stands. Until
  // session 40's hunt the warning was withdrawn here, and at rf 1 a destination back on an empty dir ended `done`
  // with every value lost and `apply` exit 0.
  const dropped = !replaced && sourceDropMaySent(move)
  const said = replaced
    ? `${move.from} came back on another data dir (${token}) before its copy was dropped, without that copy: ${move.to} was read against it all the same, and records only its old copy held are lost`
    : dropped
      ? `${move.from} came back after its drop may have been sent (cleanup): ${move.to} was refilled from what remained of its copy, and records only its dropped copy held are lost`
      : `${move.from} came back before its copy was dropped and ${move.to} was refilled from it`
  return once(o, effect, () =>
    commitOf({phase: move.phase}, undefined, {
      patch: {
        cutoverAt: move.cutoverAt,
        abandonSourceRequested: undefined,
        sourceAbandoned: {...abandoned, sourceRefillAt: new Date(o.now).toISOString(), sourceRefillDir: token ?? null, ...(replaced ? {sourceDirReplaced: true} : {}), ...(dropped ? {sourceDropMaySent: true} : {})},
        reason: `${move.reason ?? ''}; ${said}`,
        // Back on its verified dir with its drop not sent, its copy was read after all: the loss warned of did not happen,
        // except what only the staying voters abandoned with it held (votersLossStands).
        ...(replaced || dropped ? {} : {warnings: sourceReturnedWarnings(move.warnings, said, votersLossStands(move))}),
      },
      note: `move ${move.id}: abandoned source ${move.from} is up again; ${said}`,
    }),
  )
}

/**
 * rollbackSourceDown answers a rollback in flight whose source is down while the destination is
 * still listed. Going on would catch up a node that does not answer (`rb-joining`, retried for
 * ever) or remove the destination and drop its copy (`rb-cutover`): at rf 1 the only copy up,
 * for a rollback onto a node that may never come back. So it waits for the source (not a failed
 * attempt), naming the way out; once the operator abandons the source (`moves abandon-source`,
 * which is judged, and committed, while it holds no lease), the move turns forward again
 * ({@link turnForward}), fenced on the source's lease still being absent, and finishes on the
 * destination, which holds every acknowledged write: the new set was the read set (`rb-joining`),
 * or the destination was written by the joint quorum since reads flipped back (`rb-cutover`).
 */
function rollbackSourceDown(o: MoveObservation, shard: Observed): MoveDecision {
  const {move} = o
  if (move.abandonSourceRequested === undefined) {
    return onFailure(o, {
      kind: 'waiting-for-node',
      message: `move ${move.id} is rolling back (${move.phase}) to its source ${move.from}, which is down (no alive/${move.from} lease): the rollback waits for it, keeping ${move.to}'s copy; start ${move.from}, or if it is gone for good \`shardctl moves abandon-source ${move.id} --accept-data-loss\` turns the move forward again to finish on ${move.to}`,
    })
  }
  const t = turnForward(move, shard.value)
  return commitOf(t, shard, {
    patch: {rollbackRequested: false},
    aliveAbsent: [move.from],
    note: `move ${move.id}: source ${move.from} abandoned while rolling back (${move.phase}); turned forward again (${t.phase}): ${move.to} keeps the shard`,
  })
}

/**
 * dropKeptCopy drops the destination's copy once it has left the shard (an abort, or a rollback's
 * removal of it) and commits `t` (`aborted`, `rolledback`: `t.dropFirst` names the destination).
 * The copy may be the only one up of an acknowledged write: the source is down, or up on another
 * data dir than its copy was compared under (it lacks what it acknowledged: {@link sourceDirReplaced};
 * until session 39 the copy was dropped then, a write acked by the source and the destination alone
 * lost), and the write floor says the voters up may miss one (destinationCopyKeep.ts). Dropping it
 * then leaves that write on a node that may never come back.
 *
 * So the copy is first repaired into the shard's read voters that are up (keptCopyRepair.ts: what
 * it has that they lack or hold older, LWW, tombstones too; the destination's node answers the
 * reads only as this move's kept copy), and only then dropped. Until session 40 the move waited
 * instead, for ever at w = 1 with the source gone for good (`moves abandon-source` refuses a move
 * not cut over, and gives up only what the source alone held): an operator had no way out.
 * Automatic, not an operator's command: it gives up nothing (every record of the copy ends on a
 * voter, LWW keeps the newest, a voter's gc floor drops a value whose delete it purged), so there
 * is nothing to accept, and waiting for a source that may never come back helps no one.
 *
 * Fenced on claims: the repair is keyed on the destination's claim and the voters' (verifiedKey),
 * so a node restarted since it ran (another process or data dir) is repaired again before the
 * drop, and the commit is fenced on the same claims. Waited for, not a failed attempt: the
 * destination down (its copy is read), or no read voter up to repair (rf 1: the source is the one
 * voter, so only its return ends the wait).
 * The move cannot turn forward (writes acknowledged since the removal are on the old set alone).
 *
 * Session 41: in `rb-cutover` at w = 1 the copy is repaired from with the source up too (it may die for good between
 * this look and the drop). The repair is recorded (`keptCopyRepair`, fenced on the claims it read) before the drop is
 * sent, and the move ends with a warning of possible data loss when the destination served another data dir at the
 * repair than its copy's (keptCopyVerdict.ts copyReplaced) or every repaired voter serves another data dir since the
 * record (repairedVotersLost): the drop may have been sent, so no repair can give them back.
 */
function dropKeptCopy(o: MoveObservation, t: Transition, shard: Observed): MoveDecision {
  const {move} = o
  // The shape asked for (the destination out of the map).
  if (t.dropFirst !== move.to || roleOf(shard.value, move.to) !== undefined) return dropThenCommit(o, t, shard)
  // Registered, else it has nothing to drop (dropThenCommit says so). A repair recorded before it was removed (`node remove`
  // takes a node that holds no replica) still owes its verdict: until session 41's hunt the move ended without the loss
  // warning the record called for (a copy read on a replaced dir), its record left `repaired`.
  // In `aborting` no comparison recorded the source's dir (verifiedDirs is written at cutover): up, it may be back on a
  // replaced, empty one, and counts as such (session 40). A source with no claim (a build that writes none) is not judged.
  const unknown = move.phase === 'aborting' && ownValue(move.verifiedDirs, move.from) === undefined && o.claims?.get(move.from)?.token !== undefined
  const replaced = sourceDirReplaced(o)
  // A staying voter on another data dir than at cutover (`stayingDirs`, recorded by a cutover: a rollback's) lost what it
  // acknowledged: not a holder. Until session 42's hunt it counted, and at w = 2 a write acknowledged by the source, it and
  // the destination lived on the source alone once the copy was dropped.
  const replacedVoters = replacedStayingVoters(o, shard.value)
  if (!o.registered.has(move.to)) {
    if (move.keptCopyRepair !== undefined) {
      const end = keptCopyEnd(o, move.keptCopyRepair)
      return dropThenCommit(o, t, shard, {patch: end.patch, ...(end.lost !== '' ? {note: `move ${move.id}: the recorded repair from ${move.to}'s copy ends${end.lost}`} : {})})
    }
    // Removed with its copy kept and no repair recorded (`node remove --accept-data-loss`: refused without it, session 42;
    // until then it went unrefused and the move ended without a word). The copy can be neither read nor dropped now. A
    // source up on its compared dir holds every write the copy was kept for (it may die later, but nothing is lost yet).
    const removedKept = destinationCopyKeep({move, voters: readReplicas(shard.value), alive: o.alive, writeQuorums: o.writeQuorums, sourceDirReplaced: replaced, sourceDirUnknown: unknown, replacedVoters})
    if (removedKept === undefined) return dropThenCommit(o, t, shard)
    const warning = keptCopyLostWarning(move, new Date(o.now).toISOString(), 'removed', copyDirOf(move) ?? null, copyDirOf(move) ?? null, [])
    const said = `node ${move.to} was removed while its copy of shard ${move.shard} was kept, before any repair from it, with a warning of possible data loss (moves show)`
    return dropThenCommit(o, t, shard, {patch: {warnings: withWarnings(move.warnings, [warning])}, note: `move ${move.id}: ${said}`})
  }
  // In `rb-cutover` a source up on its compared dir may die for good between this look and the drop: at w = 1 the copy is
  // repaired from before every drop (session 41; until then it was dropped at once, and a source dying right after took
  // the only other copy of a write acknowledged by it and the destination alone).
  const mayDie = move.phase === 'rb-cutover' && o.alive.has(move.from) && !replaced
  const kept = destinationCopyKeep({move, voters: readReplicas(shard.value), alive: o.alive, writeQuorums: o.writeQuorums, sourceDirReplaced: replaced, sourceDirUnknown: unknown, sourceMayDie: mayDie, replacedVoters})
  // A repair recorded before (at w = 1) whose copy is no longer kept: the write floor rose since (`cluster write-floor adopt`
  // on a cluster whose absent floor counted as w = 1: the operator's word that the voters hold every acknowledged write).
  // Ended like any other drop after it, its record marked dropped: until session 41's hunt it stayed `repaired` on the
  // finished move, and `moves show` said the copy was about to be dropped.
  if (kept === undefined && move.keptCopyRepair !== undefined) return dropThenCommit(o, t, shard, {patch: {keptCopyRepair: {...move.keptCopyRepair, state: 'dropped'}}})
  if (kept === undefined) return dropThenCommit(o, t, shard)
  // Every read voter up, a source back on a replaced dir included (it serves, and lacks what the copy holds).
  const voters = readReplicas(shard.value).filter((n) => o.alive.has(n)).sort()
  if (voters.length === 0) return onFailure(o, {kind: 'waiting-for-node', message: `move ${move.id}: ${kept}, or once a voter of the shard is up to repair from the copy`})
  if (!o.alive.has(move.to)) {
    return onFailure(o, {kind: 'waiting-for-node', message: `move ${move.id}: ${kept}, or once ${move.to} is up again: the voters up (${voters.join(', ')}) are repaired from its copy before it is dropped (start ${move.to}; gone for good, \`shardctl node remove ${move.to} --accept-data-loss\` ends the move without it, warned)`})
  }
  const read = [move.to, ...voters]
  const effect: MoveEffect = {type: 'repair-from-copy', key: verifiedKey(`repair-from-copy@${shard.revision}`, read, o.claims), shard: shard.value, voters}
  const why = !o.alive.has(move.from) ? `${move.from} down` : unknown ? `${move.from} up on a data dir no comparison recorded` : replaced ? `${move.from} up on a replaced data dir` : `${move.from} up, but it may die for good before the drop`
  return once(o, effect, () => {
    const records = o.repairedRecords?.get(effect.key) ?? 0
    // Recorded, fenced on the claims the repair read and wrote, before the drop is sent: from then on the copy may be
    // gone, so a voter restarted on a replaced dir after it is judged against these claims, not repaired from the copy
    // again as if it were whole (session 41; until then the commit failed, the repair ran again from nothing, and the
    // move ended without a word). A record already there (the drop may be sent) is kept as it is.
    if (move.keptCopyRepair === undefined) {
      const copyDir = copyDirOf(move) ?? null
      const record: KeptCopyRepair = {state: 'repaired', at: new Date(o.now).toISOString(), voters, records, dirs: verifiedNow(read, o.claims), copyDir, copyReplaced: copyReplaced(move, o.claims)}
      return commitOf({phase: move.phase}, undefined, {patch: {keptCopyRepair: record}, claimFences: claimFences(read, o.claims)})
    }
    const rec = move.keptCopyRepair
    const {patch, lost} = keptCopyEnd(o, rec)
    const said = `${move.to}'s copy of shard ${move.shard} was kept (${why} at the write floor) and repaired into ${rec.voters.join(', ')} (${rec.records} record(s)) before it was dropped${lost}`
    return dropThenCommit(o, {...t, reason: `${t.reason ?? move.reason ?? ''}; ${said}`}, shard, {claimFences: claimFences(read, o.claims), note: `move ${move.id}: ${said}`, patch})
  })
}

/**
 * keptCopyEnd is what the commit ending a move with a recorded kept-copy repair writes (pure): the record marked dropped,
 * and a warning of possible data loss when the copy read was on another data dir than its copy's (recorded at the repair)
 * or every repaired voter serves another data dir since (keptCopyVerdict.ts); `lost` the words the note adds for them.
 */
function keptCopyEnd(o: MoveObservation, rec: KeptCopyRepair): {patch: Partial<Move>; lost: string} {
  const {move} = o
  const at = new Date(o.now).toISOString()
  const added: MoveWarning[] = []
  if (rec.copyReplaced) added.push(keptCopyLostWarning(move, at, 'copy', rec.copyDir, ownValue(rec.dirs, move.to) ?? null, rec.voters))
  if (repairedVotersLost(rec, o.claims).all) added.push(keptCopyLostWarning(move, at, 'voters', rec.copyDir, ownValue(rec.dirs, move.to) ?? null, rec.voters))
  const lost = added.length > 0 ? ', with a warning of possible data loss (moves show)' : ''
  return {patch: {keptCopyRepair: {...rec, state: 'dropped'}, ...(added.length > 0 ? {warnings: withWarnings(move.warnings, added)} : {})}, lost}
}

/**
 * sourceDirReplaced tells whether the move's source now serves another data dir than the one its copy was last compared
 * under (verifiedDirs: recorded at cutover and at a rollback's catch-up; none before cutover, so `aborting` never judges it).
 * Compared by data dir, not process instance: a plain restart on the same dir still holds what it acknowledged, and
 * counting it as replaced would keep the destination's copy for ever at w = 1 (nothing would end the wait). A restored
 * older backup keeps the dir id and is not told apart here (see docs/moves.md).
 */
function sourceDirReplaced(o: MoveObservation): boolean {
  const verified = ownValue(o.move.verifiedDirs, o.move.from)
  const now = o.claims?.get(o.move.from)
  if (verified === undefined || now === undefined) return false
  return dataDirOf(now.token) !== dataDirOf(verified)
}

/** turnForward undoes a rollback's flip (epoch +1): from `rb-joining` the source leaves the write set again (`release`); from `rb-cutover` reads flip back to the destination (`cutover`). */
export function turnForward(move: Move, shard: Shard): Transition {
  if (move.phase === 'rb-joining') return {phase: 'release', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.from ? {node: r.node, role: 'leaving' as const} : r)))}
  if (move.phase === 'rb-cutover' && roleOf(shard, move.to) === 'joining') {
    return {phase: 'cutover', shard: withReplicas(shard, shard.replicas.map((r) => (r.node === move.to ? {node: r.node, role: 'voter' as const} : r.node === move.from ? {node: r.node, role: 'outgoing' as const} : r)))}
  }
  throw new BugError(`cannot turn move ${move.id} forward from ${move.phase} (roles ${describe(shard)})`)
}

/**
 * PHASE_STEPS is the protocol: for every phase, what to do next. Exhaustive: a phase
 * without a step does not compile. Cancel, rollback and failures are decided before these
 * (see {@link decideMove}).
 */
export const PHASE_STEPS = {
  pending: (o) => holdForControl(o) ?? commitOf(checkMove(o.move, o.shard?.value, (id) => o.registered.has(id), (id) => o.states?.get(id))),
  checked(o) {
    const held = holdForControl(o)
    if (held) return held
    // Re-validate on every (re)start: the shard may have changed while no executor ran.
    const still = checkMove(o.move, o.shard?.value, (id) => o.registered.has(id), (id) => o.states?.get(id))
    if (still.phase !== 'checked' || !o.shard) return commitOf({phase: 'skipped', reason: `no longer valid when resumed: ${still.reason ?? 'shard gone'}`})
    // Nothing has changed yet, so a down destination is retried (it may be restarting); repeated failure aborts.
    if (!o.alive.has(o.move.to)) return onFailure(o, {kind: 'retriable', message: `destination node "${o.move.to}" is not up (no alive/${o.move.to} lease)`})
    return dropThenCommit(o, beginJoining(o.move, o.shard.value), o.shard)
  },
  // The copy's start records the other old voters' claims (`copyDirs`): a copy or verification with the source down counts
  // one only on that data dir (liveCopySources.ts). Not fenced, as stayingDirs: one that restarts before the commit is
  // recorded under its old claim, and so judged on a replaced dir later, the cautious side.
  joining: (o) =>
    withShard(o, (s) =>
      barrier(o, s, writeReplicas(s.value), () => {
        const copyDirs = verifiedNow(stayingVoters(o.move, s.value), o.claims)
        return commitOf({phase: 'copying'}, s, {patch: {copyStartedAt: o.move.copyStartedAt ?? o.now, ...(Object.keys(copyDirs).length > 0 ? {copyDirs} : {})}})
      }),
    ),
  copying: () => ({kind: 'effect', effect: {type: 'copy', key: 'copy'}}),
  // The destination's promotion (E+2), then the barrier on it; only then `verifying`:
  // verification must start only once every write reaches the destination through the joint
  // quorum, or it could leave behind a write acknowledged without it (the learner's answer
  // was not awaited). A destination already joining (a move begun before learners) only
  // needs the barrier.
  promoting: (o) =>
    withShard(o, (s) => {
      const promoted = promoteDestination(o.move, s.value)
      // The promotion records the destination's claim (fenced on it): from here its answer counts, so its copy may hold a
      // write acknowledged by it and the source alone, and an abort compares its dir at the repair with this (dropKeptCopy).
      const dir = o.claims?.get(o.move.to)?.token
      // The staying voters' claims too: from here their acknowledgements count with the destination's, so one replaced
      // before the cutover lost writes the joint quorum put on it (the cutover keeps these: stayingDirsAtCutover).
      const staying = verifiedNow(stayingVoters(o.move, s.value), o.claims)
      const stayingDirs = Object.keys(staying).length > 0 ? {stayingDirs: staying} : {}
      if (promoted.shard && promoted.phase === 'promoting' && dir !== undefined) return commitOf(promoted, s, {patch: {promotedDir: dir, ...stayingDirs}, claimFences: claimFences([o.move.to], o.claims)})
      if (promoted.shard || promoted.phase !== 'promoting') return commitOf(promoted, s)
      return barrier(o, s, writeReplicas(s.value), () => commitOf({phase: 'verifying'}))
    }),
  verifying: (o) =>
    withShard(o, (s) => {
      // Still learning: a record whose copy committed `verifying` before `promoting` existed
      // (session 28's build). Back to `promoting`, nothing else changed, so the promotion and
      // its barrier run before any verification.
      if (roleOf(s.value, o.move.to) === 'learning') return commitOf({phase: 'promoting'})
      // The barrier again on the shard as it is: a record promoted by session 28's build (which
      // promoted within `verifying`) may not have passed it; when it did, every router and
      // replica is there already and it returns at once.
      // Keyed on both nodes' claims: a node restarted since this run verified (on an empty dir
      // accepted with --accept-empty-data, say) is verified again before the cutover, which
      // records the claims verified and is fenced on them (verifiedDirs.ts).
      const pair = [o.move.to, o.move.from]
      // The staying voters' claims too (stayingVotersEnough judges them by it after cutover). Not fenced: one that restarts
      // before the commit is recorded under its old claim, and so judged on a replaced dir later, the cautious side.
      const stayingDirs = stayingDirsAtCutover(o.move, verifiedNow(stayingVoters(o.move, s.value), o.claims))
      return barrier(o, s, writeReplicas(s.value), () =>
        once(o, {type: 'verify', key: verifiedKey('verify', pair, o.claims), shard: s.value}, () =>
          promotedDirMoved(o) ??
          commitOf(beginCutover(o.move, s.value), s, {patch: {verifiedDirs: verifiedNow(pair, o.claims), ...(Object.keys(stayingDirs).length > 0 ? {stayingDirs} : {})}, claimFences: claimFences(pair, o.claims)}),
        ),
      )
    }),
  cutover: (o) => withShard(o, (s) => barrier(o, s, writeReplicas(s.value), () => commitOf(beginRelease(o.move, s.value), s))),
  release: (o) => withShard(o, (s) => barrier(o, s, [...readReplicas(s.value), o.move.from], () => commitOf({phase: 'draining'}))),
  // Entering `cleanup` records that the source's drop is not sent yet (sourceDropSentAt null): see the cleanup step.
  draining: (o) => once(o, {type: 'drain', key: 'drain'}, () => commitOf({phase: 'cleanup'}, undefined, {patch: {sourceDropSentAt: null}})),
  cleanup: (o) =>
    withShard(o, (s) => {
      const t = finishCleanup(o.move, s.value)
      // Fenced on the destination's claim as observed (verified: decideMove refills it first otherwise): one that
      // restarts between this look and the commit, after the source's drop, fails the commit and is refilled and
      // told of (refillAfterDrop). Until session 39 nothing fenced it, and the move ended `done` without a word.
      const destination = claimFences([o.move.to], o.claims)
      // Best effort: a source that is down keeps its copy on disk until dropped (its orphan sweep is the backstop).
      // A move that went on without its abandoned source (its copy never read) fences this on the source's lease still
      // being absent: a source registering meanwhile fails the commit and is read before its copy is dropped (sourceCameBack).
      if (!o.alive.has(o.move.from)) return commitOf(t, s, {note: `node ${o.move.from} is down: its copy of shard ${o.move.shard} stays on disk until dropped`, claimFences: destination, ...(wentOnWithoutSource(o.move) ? {aliveAbsent: [o.move.from]} : {})})
      // The drop is recorded before it is sent, fenced on the destination's claim: a destination that restarts before
      // this commit is refilled from the source's whole copy (nothing lost, nothing to tell), one that restarts after it
      // from what remains of it (refillAfterDrop). Until session 40 the drop was not recorded, and a restart before it was
      // told as a possible loss.
      const drop = `drop:${o.move.from}@${s.revision}`
      // A destination that is down may be so for good (a dead disk): while the staying voters up do not hold every
      // acknowledged write (rf 1, w = 1), the source's copy is the only whole one besides it, so it is kept until the
      // destination is back (on a new dir it is then refilled from it, losing nothing). Until session 40's hunt it was
      // dropped, the move ended `done`, and at rf 1 a destination back on a new disk held nothing, with no move to tell it.
      if (!o.done.has(drop) && !o.alive.has(o.move.to) && !stayingVotersEnough(o, s.value)) {
        return onFailure(o, {kind: 'waiting-for-node', message: destinationDownMessage(o.move, destinationDownFacts(o, s.value))})
      }
      if (o.move.sourceDropSentAt === null) {
        return commitOf({phase: 'cleanup'}, undefined, {patch: {sourceDropSentAt: new Date(o.now).toISOString()}, claimFences: destination})
      }
      return once(o, {type: 'drop', key: drop, node: o.move.from, shard: s.value}, () => commitOf(t, s, {claimFences: destination}))
    }),
  // Two steps: the destination leaves the shard (writes resume on the old set), then its
  // partial copy is dropped; only then is the move terminal.
  // While the copy may be the only one up of an acknowledged write, the voters are repaired from it first (dropKeptCopy).
  aborting: (o) => {
    const t = abortMove(o.move, o.shard?.value, o.move.reason ?? 'aborted')
    return t.dropFirst && o.shard ? dropKeptCopy(o, t, o.shard) : dropThenCommit(o, t, o.shard)
  },
  // The source re-joined the write set; once every router writes to it, catch it up from the
  // destination (only differing digest buckets travel), then flip reads back.
  // Keyed on both nodes' claims like verification: the flip back records them, fenced on them.
  'rb-joining': (o) =>
    withShard(o, (s) => {
      if (!o.alive.has(o.move.from)) return rollbackSourceDown(o, s)
      const pair = [o.move.to, o.move.from]
      return barrier(o, s, writeReplicas(s.value), () =>
        once(o, {type: 'catch-up', key: verifiedKey(`catch-up@${s.value.epoch}`, pair, o.claims), epoch: s.value.epoch}, () =>
          commitOf(rollbackCutover(o.move, s.value), s, {patch: {verifiedDirs: verifiedNow(pair, o.claims)}, claimFences: claimFences(pair, o.claims)}),
        ),
      )
    }),
  'rb-cutover': (o) =>
    withShard(o, (s) => {
      // The source down while the destination is still listed: its copy is the one kept (see rollbackSourceDown).
      if (!o.alive.has(o.move.from) && roleOf(s.value, o.move.to) !== undefined) return rollbackSourceDown(o, s)
      // The source restarted since its catch-up while the destination is still listed: catch it up again first.
      if (changedSince(o.move.verifiedDirs, o.move.from, o.claims) && roleOf(s.value, o.move.to) !== undefined) return recheck(o, s, o.move.from)
      // The destination already removed (the source died after that commit, or while no executor ran): its copy may be the
      // only one up of an acknowledged write (at rf 1 it and the source acked every one; at w = 1 a write acked by the source
      // and it alone is on no other voter), so the voters up are repaired from it before it is dropped (see dropKeptCopy).
      const t = finishRollback(o.move, s.value)
      return t.shard ? barrier(o, s, writeReplicas(s.value), () => commitOf(t, s)) : dropKeptCopy(o, t, s)
    }),
  done: () => ({kind: 'terminal'}),
  aborted: () => ({kind: 'terminal'}),
  skipped: () => ({kind: 'terminal'}),
  failed: () => ({kind: 'terminal'}),
  rolledback: () => ({kind: 'terminal'}),
} satisfies Record<MovePhase, PhaseStep>

/**
 * decideMove is the move machine: from one observation, the next thing to do. Pure and
 * total: it never throws (a broken invariant becomes a `bug` failure, which the retry
 * policy turns into an abort or `failed`). In order: a finished move is terminal; a failure
 * is answered by the retry policy; a cancel is honoured in every phase that accepts one
 * (the phase table's `cancel`); a rollback request in every phase that accepts one; else
 * the phase's step.
 */
export function decideMove(o: MoveObservation): MoveDecision {
  const {move} = o
  try {
    if (PHASE_TABLE[move.phase].terminal) return {kind: 'terminal'}
    if (o.failure) return onFailure(o, o.failure)
    if (move.cancelRequested && PHASE_TABLE[move.phase].cancel === 'accept') return commitOf({phase: 'aborting', reason: 'cancelled by operator'})
    if (move.rollbackRequested && ROLLBACK_PHASES.has(move.phase)) {
      // A rollback reads the source and flips reads back to it: never begun while it is down (it
      // died after the request was accepted). Waited for, not a failed attempt; the way out for a
      // source gone for good is abandoning it, which withdraws the request (sourceAbandon.ts).
      if (!o.alive.has(move.from)) return onFailure(o, {kind: 'waiting-for-node', message: rollbackWaitMessage(move)})
      return withShard(o, (s) => commitOf(beginRollback(move, s.value, changedSince(move.verifiedDirs, move.from, o.claims)), s))
    }
    if (PHASE_TABLE[move.phase].cutOver && PHASE_TABLE[move.phase].track === 'forward') {
      // Cut over: a destination serving under another claim than the one verified lacks what
      // was verified; it is refilled from the source before the move goes on (verifiedDirs.ts),
      // or, the source abandoned by the operator and holding no lease, from what is left.
      // In `cleanup` with the source up, once its drop was recorded (sourceDropMaySent) its copy may be dropped already:
      // refilled from it and the staying voters, and told.
      // Abandoned voters back on their data dirs before a refill honoured the mark count again.
      const outlived = votersMarkOutlived(move, o.alive, o.claims)
      if (outlived) return withdrawVotersMark(o, outlived)
      if (changedSince(move.verifiedDirs, move.to, o.claims)) {
        return withShard(o, (s) => (abandonsSource(o) ? refillWithoutSource(o, s) : sourceDropMaySent(move) && o.alive.has(move.from) ? refillAfterDrop(o, s) : recheck(o, s, move.to)))
      }
      // An abandoned source that came back before its copy was dropped is read after all.
      if (sourceCameBack(o)) return withShard(o, (s) => refillFromReturnedSource(o, s))
      if (markOutlived(o)) return withdrawMark(o)
    }
    // A rollback in flight the mark withdrew, whose source came back before the move turned
    // forward: the rollback goes on onto the source (it is up), so the mark is outlived here too.
    // Until session 39 it stayed set while the move rolled back onto that very source, and
    // `moves show` said the source was abandoned.
    if (PHASE_TABLE[move.phase].track === 'rollback' && markOutlived(o)) return withdrawMark(o)
    return (PHASE_STEPS[move.phase] as PhaseStep)(o)
  } catch (err) {
    if (!(err instanceof BugError)) throw err
    return onFailure(o, {kind: 'bug', message: err.message})
  }
}
