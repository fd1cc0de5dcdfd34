import {type Move, PHASE_TABLE} from '../model/move.js'
import {readNodeView} from './clusterView.js'
import {type ExecutorEnv} from './executorEnv.js'
import {assertLeaseHeld} from './leaseGate.js'
import {type MoveEffects, nodeMoveEffects} from './moveEffects.js'
import {copyShard} from './nodeCopy.js'
import {decideMove, type MoveDecision, type MoveEffect, type MoveObservation, ROLLBACK_PHASES, sourceDropMaySent} from './moveMachine.js'
import {commitMoveTransition, type FencedMove, getMove, readShard, transitionPatch} from './moveStore.js'
import {backoffMs, classifyError, type Failure} from './retryPolicy.js'
import {readReplicas} from '../model/shard.js'
import {changedSince, claimsMatter} from './verifiedDirs.js'
import {readClaims} from './claimReads.js'
import {ownValue} from '../model/ownKey.js'
import {writeQuorumsEver} from './writeQuorumFloor.js'
import {repairFromKeptCopy} from './keptCopyRepair.js'

/**
 * RunState is what the runner remembers between observations of one phase: the effects
 * that succeeded, the last failure (answered by the next decision) and the failure counts.
 * It is reset whenever the move's phase changes, and starts empty after a restart (but for
 * the wait the move recorded: `inherited`).
 */
interface RunState {
  phase: Move['phase']
  done: Set<string>
  failure?: Failure
  error?: unknown
  failures: number
  tries: number
  /** failedEffect: the key of the effect whose failure is `failure` (undefined: the machine's own decision failed or waited). */
  failedEffect?: string
  /**
   * waitEffect: the key of the effect whose failure made the wait recorded in the move (`waitingFor`), undefined when the
   * machine decided the wait (or another executor recorded it). Running any other effect means that wait is over.
   */
  waitEffect?: string
  /** repairedRecords: the records each `repair-from-copy` effect of this phase repaired, by its key (the machine records it). */
  repairedRecords?: Map<string, number>
  /**
   * inherited: the wait the move recorded when this run started (an executor before this one, or this one's earlier run),
   * until the move commits, counts a failure or changes phase. A wait recorded again with its text keeps its `since`: the
   * restarted executor re-runs the step (its done set starts empty), clears the wait before it and records it again when
   * it fails the same way; until session 42 `moves show` and the TUI then said "waiting since" the restart.
   */
  inherited?: NonNullable<Move['waitingFor']>
}

/**
 * runMove drives one move from its persisted phase to a terminal one. It interprets the
 * move machine ({@link decideMove}): observe, decide, then commit the decided transition
 * (one fenced etcd transaction), run the decided side effect through `env.effects` (real
 * nodes by default), or wait. Every side effect is idempotent, so a killed executor's
 * successor resumes by calling runMove on the same record. Returns when the move is
 * terminal or the executor stops; throws LockLostError when fenced out.
 */
export async function runMove(env: ExecutorEnv, initial: FencedMove): Promise<FencedMove> {
  const effects = env.effects ?? nodeMoveEffects(env, copyShard)
  let m = initial
  const run: RunState = {phase: m.value.phase, done: new Set(), failures: 0, tries: 0, ...(m.value.waitingFor ? {inherited: m.value.waitingFor} : {})}
  while (!env.stopped()) {
    let observation: Awaited<ReturnType<typeof observe>>
    try {
      observation = await observe(env, m.value, run)
    } catch (err) {
      await unobservable(env, m, run, err)
      continue
    }
    m = observation.fenced
    if (m.value.phase !== run.phase) resetRun(run, m.value.phase)
    const decision = decideMove(observation)
    run.failure = undefined
    if (decision.kind === 'terminal') break
    // Fenced out: stop at once (outside the try below, which would only classify it again).
    if (decision.kind === 'stop') throw run.error
    try {
      m = await perform(env, effects, m, decision, run)
      // Reset only after the decision answering a failure ran: that is the wait (countRetry) which must know the step it
      // came from. Reset before it, as until session 41's hunt, every wait was taken for the machine's own, and the step
      // retried cleared it first and recorded it again (its `since` restarting at every retry).
      run.failedEffect = undefined
    } catch (err) {
      run.failure = classifyError(err)
      run.error = err
      run.failedEffect = decision.kind === 'effect' ? decision.effect.key : undefined
    }
  }
  return m
}

function resetRun(run: RunState, phase: Move['phase']): void {
  run.phase = phase
  run.done.clear()
  run.repairedRecords = undefined
  run.failures = 0
  run.tries = 0
  run.waitEffect = undefined
  run.inherited = undefined
}

/**
 * observe reads what the machine decides on: the move (fresh, so a cancel or rollback
 * request is seen at once), its shard, registered and alive nodes, and the live control.
 * The move and its shard are read concurrently (one round trip, not two): a move's shard id
 * never changes, and this runner is the only writer of both (its commits write them in one
 * fenced transaction and finish before the next observation), so neither read can miss the
 * other's latest write; a stale pair would only fail the next commit's compare.
 */
async function observe(env: ExecutorEnv, known: Pick<Move, 'id' | 'shard' | 'from' | 'to' | 'phase'>, run: RunState): Promise<MoveObservation & {fenced: FencedMove}> {
  const nodeView = env.nodeView ?? (() => readNodeView(env.ctx))
  // A move's id, shard and nodes never change; the claims are read in the phases that decide on them (by the last phase seen).
  const [fenced, shard, view, pairClaims] = await Promise.all([
    getMove(env.ctx, known.id),
    readShard(env.ctx, known.shard),
    nodeView(),
    // By the move as this run last wrote it too: a copy commits `promoting` itself, whose first step records the claim.
    claimsMatter(run.phase) || claimsMatter(known.phase) ? readClaims(env, [known.from, known.to]) : undefined,
  ])
  // A move whose source is marked abandoned may be refilled from its staying voters: their
  // claims key and fence that refill like the destination's (moveMachine.ts refillWithoutSource).
  // Read only then, after the shard: the ordinary path pays nothing for it.
  // So may a destination restarted in `cleanup`, where the source's copy may be dropped already
  // (moveMachine.ts refillAfterDrop), which also weighs the write quorums routers ever used.
  const afterDrop = pairClaims !== undefined && sourceDropMaySent(fenced.value) && changedSince(fenced.value.verifiedDirs, known.to, pairClaims)
  const staying = shard && readsStayingClaims(fenced.value, pairClaims !== undefined, view.alive.has(known.to), afterDrop) ? readReplicas(shard.value).filter((n) => n !== known.from && n !== known.to) : []
  // Where the destination's copy is to be dropped with the source down, whether the other voters hold every acknowledged
  // write depends on the smallest write quorum any router ran with (moveMachine.ts keepDestinationCopy): read only then.
  // So it does with the source up on another data dir than its copy was compared under (it counts as down there): read
  // whenever its claim changed at all (a superset of a replaced dir; the machine compares the dir).
  // So it does in `aborting` with the source up: no comparison recorded its dir, it may be a replaced one (moveMachine.ts dropKeptCopy).
  const unjudged = fenced.value.phase === 'aborting' && ownValue(fenced.value.verifiedDirs, known.from) === undefined
  // So it does in `rb-cutover` with the source up on its compared dir: at w = 1 the copy is repaired from before every drop,
  // since the source may die for good before the drop (moveMachine.ts dropKeptCopy, session 41).
  const keeps = DROPS_DESTINATION.has(fenced.value.phase) && (fenced.value.phase === 'rb-cutover' || !view.alive.has(known.from) || unjudged || changedSince(fenced.value.verifiedDirs, known.from, pairClaims))
  // So it does in `cleanup` with the destination down (moveMachine.ts keeps the source's copy while the voters up are not enough).
  // So it does for a refill without an abandoned source with a staying voter down (moveMachine.ts refillWithoutSource
  // honours a `moves abandon-voters` mark only where the voters up are not enough).
  const withoutSource = pairClaims !== undefined && fenced.value.abandonSourceRequested !== undefined && !view.alive.has(known.from) && changedSince(fenced.value.verifiedDirs, known.to, pairClaims)
  const quorumsMatter = afterDrop || keeps || withoutSource || (fenced.value.phase === 'cleanup' && !view.alive.has(known.to))
  // A copy kept there is repaired into the shard's voters before it is dropped (moveMachine.ts dropKeptCopy): that repair is
  // keyed, and the drop's commit fenced, on the destination's claim and the voters' (one restarted since no longer holds
  // what the repair gave it, or is no longer the copy read). Read only then; `aborting` reads no claims otherwise.
  const keptNodes = keeps && shard ? [known.to, ...readReplicas(shard.value)].filter((n) => !pairClaims?.has(n) && !staying.includes(n)) : []
  const [stayingClaims, writeQuorums, keptClaims] = await Promise.all([
    staying.length > 0 ? readClaims(env, staying) : undefined,
    quorumsMatter ? writeQuorumsEver(env, fenced.value) : undefined,
    keptNodes.length > 0 ? readClaims(env, keptNodes) : undefined,
  ])
  const read = [pairClaims, stayingClaims, keptClaims].filter((m) => m !== undefined)
  const claims = read.length > 0 ? new Map(read.flatMap((m) => [...m])) : undefined
  return {
    fenced,
    move: fenced.value,
    shard: shard && {value: shard.value, revision: shard.modRevision},
    registered: view.registered,
    states: view.states,
    alive: view.alive,
    control: {paused: env.control.paused, inWindow: env.control.inWindow()},
    now: env.now(),
    done: run.done,
    ...(run.failure ? {failure: run.failure} : {}),
    failures: run.failures,
    tries: run.tries,
    ...(claims ? {claims} : {}),
    ...(writeQuorums ? {writeQuorums} : {}),
    ...(run.repairedRecords ? {repairedRecords: run.repairedRecords} : {}),
  }
}

/**
 * readsStayingClaims (pure) tells whether the observation reads the staying voters' claims (the shard's voters but the
 * source and destination): where the machine judges them by the data dir they served. The copy's start records them
 * (moveMachine.ts joining: copyDirs, judged by liveCopySources); the rest only where the pair's claims are read too: a
 * refill without an abandoned source or after the source's drop (`afterDrop`) keys and fences on them, a `moves
 * abandon-voters` mark's named voters' claims say whether they came back (votersMark.ts), the promotion records them
 * first and the cutover keeps those (stayingDirs: a voter replaced in between lost what the joint quorum gave it), and
 * `cleanup` with the destination down keeps the source's copy while the staying voters up, a replaced one not counted,
 * are not enough (moveMachine.ts stayingVotersEnough).
 */
function readsStayingClaims(move: Move, pairRead: boolean, destinationUp: boolean, afterDrop: boolean): boolean {
  if (move.phase === 'joining') return true
  if (!pairRead) return false
  if (move.abandonSourceRequested !== undefined || move.abandonVotersRequested !== undefined || afterDrop) return true
  return move.phase === 'promoting' || move.phase === 'verifying' || (move.phase === 'cleanup' && !destinationUp)
}

/** DROPS_DESTINATION are the phases whose last step drops the destination's copy (an abort, a rollback). */
const DROPS_DESTINATION: ReadonlySet<Move['phase']> = new Set(['aborting', 'rb-cutover'])


/**
 * unobservable handles a failed observation (etcd unreachable, a record unreadable): a
 * fenced-out executor stops; anything else is waited out with backoff. Not a failed
 * attempt of the move: nothing can be decided, or written, until the store answers.
 */
async function unobservable(env: ExecutorEnv, m: FencedMove, run: RunState, err: unknown): Promise<void> {
  const failure = classifyError(err)
  if (failure.kind === 'lock-lost') throw err
  run.tries++
  env.emit({type: 'retry', move: m.value.id, what: m.value.phase, error: failure.message, at: new Date(env.now()).toISOString()})
  await env.sleep(backoffMs(run.tries))
}

/** perform carries out one decision; returns the move as stored afterwards. Throws what the effect or commit threw. */
async function perform(env: ExecutorEnv, effects: MoveEffects, m: FencedMove, d: Exclude<MoveDecision, {kind: 'terminal' | 'stop'}>, run: RunState): Promise<FencedMove> {
  switch (d.kind) {
    case 'reread':
      return m
    case 'wait':
      if (d.retried) await countRetry(env, m, d.retried, run).then((next) => (m = next))
      await env.sleep(d.ms)
      return m
    case 'effect':
      return runEffect(env, effects, m, d.effect, run)
    case 'commit':
      return commitDecision(env, m, d, run)
  }
}

/** countRetry reports a failure that is waited out; a counted one is persisted as `attempts + 1` (best effort: a failed write is retried with the step). */
async function countRetry(env: ExecutorEnv, m: FencedMove, retried: {message: string; counted: boolean}, run: RunState): Promise<FencedMove> {
  run.tries++
  env.emit({type: 'retry', move: m.value.id, what: m.value.phase, error: retried.message, at: new Date(env.now()).toISOString()})
  if (!retried.counted) {
    run.waitEffect = run.failedEffect
    return recordWaiting(env, m, retried.message, run)
  }
  run.failures++
  run.inherited = undefined
  try {
    // A failure that is not a wait for a node: any wait recorded before is over (the node it named answered), cleared with the count.
    return await commitMoveTransition(env.ctx, env.fence, m, {attempts: m.value.attempts + 1, ...(m.value.waitingFor ? {waitingFor: undefined} : {})})
  } catch (err) {
    if (classifyError(err).kind === 'lock-lost') throw err
    return m
  }
}

/**
 * recordWaiting records in the move what it waits for (a node that is down, with the way out the message names), so
 * `moves show` and `cluster status` can say it: until session 40 only `apply`'s log did, and a move waiting in `cleanup`
 * for a voter that never came back said nothing anywhere else. Written once per distinct wait (the same text is not
 * written again), best effort: a failed write is tried again at the next retry. Cleared by the move's next commit, by a
 * counted failure, and before any step the wait did not come from ({@link clearWaiting}): until session 41 it was cleared
 * only once a step finished, so a long step run after the wait ended (a refill, a barrier) left `moves show` and
 * `cluster status` naming a wait that was over for as long as it ran.
 */
async function recordWaiting(env: ExecutorEnv, m: FencedMove, text: string, run: RunState): Promise<FencedMove> {
  if (m.value.waitingFor?.text === text) return m
  const since = run.inherited?.text === text ? run.inherited.since : new Date(env.now()).toISOString()
  try {
    return await commitMoveTransition(env.ctx, env.fence, m, {waitingFor: {since, text}})
  } catch (err) {
    if (classifyError(err).kind === 'lock-lost') throw err
    return m
  }
}

/** clearWaiting removes a recorded wait once a step after it succeeded (best effort, as {@link recordWaiting}). */
async function clearWaiting(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  if (m.value.waitingFor === undefined) return m
  try {
    return await commitMoveTransition(env.ctx, env.fence, m, {waitingFor: undefined})
  } catch (err) {
    if (classifyError(err).kind === 'lock-lost') throw err
    return m
  }
}

async function commitDecision(env: ExecutorEnv, m: FencedMove, d: Extract<MoveDecision, {kind: 'commit'}>, run: RunState): Promise<FencedMove> {
  if (d.retried) {
    run.tries++
    env.emit({type: 'retry', move: m.value.id, what: m.value.phase, error: d.retried.message, at: new Date(env.now()).toISOString()})
  }
  if (d.note) env.emit({type: 'info', message: d.note, at: new Date(env.now()).toISOString()})
  // A commit ends any wait recorded (recordWaiting), an inherited one too.
  run.inherited = undefined
  const patch = {...transitionPatch(d.transition, new Date(env.now())), waitingFor: undefined, ...d.patch}
  const shard = d.transition.shard && d.shardRevision !== undefined && d.shardBefore ? {value: d.transition.shard, expected: d.shardRevision, before: d.shardBefore} : undefined
  const claims = (d.claimFences ?? []).map((c) => ({key: env.ctx.keys.claim(c.node), modRevision: c.modRevision}))
  // modRevision 0: the key is absent (no lease holds it), as etcd compares an absent key.
  const absent = (d.aliveAbsent ?? []).map((node) => ({key: env.ctx.keys.alive(node), modRevision: 0n}))
  const next = await commitMoveTransition(env.ctx, env.fence, m, patch, shard, [...claims, ...absent])
  if (next.value.phase !== m.value.phase) emitPhase(env, next.value)
  return next
}

async function runEffect(env: ExecutorEnv, effects: MoveEffects, m: FencedMove, e: MoveEffect, run: RunState): Promise<FencedMove> {
  const move = m.value
  // A woken executor whose lease deadline passed runs no effect (leaseGate.ts): its commits are fenced, node requests are not.
  assertLeaseHeld(env, `move ${move.id}'s ${e.type} step`)
  // The machine decided this step: a wait it decided before (or another step's) is over, so it is cleared before the step
  // runs, not after (a copy or refill may run for long). A wait this very step failed into stays until it succeeds: cleared
  // and recorded again on every retry, its `since` would never tell how long it has lasted.
  if (m.value.waitingFor !== undefined && run.waitEffect !== e.key) m = await clearWaiting(env, m)
  switch (e.type) {
    case 'copy': {
      const next = await effects.copy(env, m)
      if (next.value.phase !== move.phase) emitPhase(env, next.value)
      return next
    }
    case 'barrier':
      await effects.barrier(e.shard, e.mapRevision, e.nodes, () => operatorRequest(env, move.id))
      break
    case 'verify':
      await effects.verify(move, e.shard, e.refill ? {refill: true, ...(e.from ? {from: e.from} : {}), ...(e.withoutSource ? {withoutSource: true} : {})} : undefined)
      break
    case 'drain':
      await effects.drain(move)
      break
    case 'catch-up':
      await effects.catchUp(move, e.epoch)
      break
    case 'repair-from-copy': {
      const repaired = await (effects.repairFromCopy ? effects.repairFromCopy(move, e.shard, e.voters) : repairFromKeptCopy(env, move, e.shard, e.voters))
      run.repairedRecords ??= new Map()
      run.repairedRecords.set(e.key, repaired)
      env.emit({type: 'info', message: `move ${move.id}: repaired ${e.voters.join(', ')} from ${move.to}'s kept copy of shard ${e.shard.id} (${repaired} record(s) they lacked or held older)`, at: new Date(env.now()).toISOString()})
      break
    }
    case 'drop': {
      const deleted = await effects.drop(e.node, e.shard)
      if (deleted > 0) env.emit({type: 'info', message: `move ${move.id}: dropped ${deleted} record(s) of shard ${e.shard.id}'s range on ${e.node}`, at: new Date(env.now()).toISOString()})
      break
    }
  }
  run.done.add(e.key)
  return clearWaiting(env, m)
}

/**
 * operatorRequest names a cancel or rollback request that the move's phase honours, read
 * fresh (undefined: none): a barrier held by a laggard gives way to it, and the machine
 * then decides the move again with the request in view. Only a request the phase honours:
 * the rollback request stays set through `rb-joining` and `rb-cutover`, whose barriers must
 * never give way (the catch-up needs every router off the new-set-only epoch; see
 * test/executor/barrierInterrupt.memoryStore.test.ts and realTimeFuzz's leftBarriers).
 */
async function operatorRequest(env: ExecutorEnv, id: string): Promise<string | undefined> {
  const m = (await getMove(env.ctx, id)).value
  if (m.cancelRequested && PHASE_TABLE[m.phase].cancel === 'accept') return `move ${id} was cancelled`
  if (m.rollbackRequested && ROLLBACK_PHASES.has(m.phase)) return `move ${id} is to be rolled back`
  return undefined
}

function emitPhase(env: ExecutorEnv, m: Move): void {
  env.emit({type: 'phase', move: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, at: new Date(env.now()).toISOString()})
}
