import {listAlive} from '../cluster/clusterRepo.js'
import {isUserError, UserError, errorMessage} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {isTerminal} from '../model/move.js'
import {readReplicas, type Shard, writeReplicas} from '../model/shard.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {type Typed} from '../etcd/etcdStore.js'
import {awaitBarrier} from './barrier.js'
import {type ExecutorEnv} from './executorEnv.js'
import {abortMove, beginCutover, beginJoining, beginRelease, beginRollback, canAbort, checkMove, finishCleanup, finishRollback, ROLLBACK_PHASES, rollbackCutover, type Transition} from './moveMachine.js'
import {commitMoveTransition, type FencedMove, getMove, LockLostError, readShard, transitionPatch} from './moveStore.js'
import {syncReplicas} from './replicaSync.js'
import {copyShard} from './nodeCopy.js'

/** MoveFailure aborts a move that has not cut over (terminal for this attempt), with a reason for the operator. */
class MoveFailure extends Error {}

/**
 * WaitingForNode: a step needs a node that is down (a drop only it can confirm). Retried
 * with backoff for as long as it takes, across executor restarts; not counted as a
 * failed attempt, since nothing is wrong but the node's absence.
 */
class WaitingForNode extends UserError {}

/** MAX_ABORT_ATTEMPTS bounds the failed attempts of an abort before the move is `failed` (needs an operator). */
export const MAX_ABORT_ATTEMPTS = 8

/**
 * isTerminalError tells an error no retry can fix: anything that is not a coded UserError
 * is a broken invariant (e.g. the machine refusing to abort a destination that is already a
 * voter), so the move is marked `failed` with it instead of being retried forever.
 */
function isTerminalError(err: unknown): boolean {
  return !(err instanceof UserError) && !(err instanceof MoveFailure)
}

/**
 * runMove drives one move from its persisted phase to a terminal one. Every phase's side
 * effects are idempotent, and each transition is one fenced etcd transaction, so a killed
 * executor's successor resumes by calling runMove on the same record. Retriable trouble
 * (a node briefly away, a barrier not yet reached, a concurrent cancel) is retried with
 * backoff; a move that cannot finish before cutover is aborted back to its old replica set.
 * Returns when the move is terminal or the executor stops; throws LockLostError when fenced out.
 */
export async function runMove(env: ExecutorEnv, initial: FencedMove): Promise<FencedMove> {
  let m = initial
  let failures = 0
  let tries = 0
  while (!isTerminal(m.value.phase) && !env.stopped()) {
    try {
      const before = m.value.phase
      m = await step(env, m)
      if (m.value.phase !== before) {
        failures = 0
        tries = 0
        emitPhase(env, m.value)
      }
    } catch (err) {
      if (err instanceof LockLostError) throw err
      if (isUserError(err, 'CONFLICT')) {
        m = await getMove(env.ctx, m.value.id) // cancel requested, or our own write raced: decide again
        continue
      }
      const abortable = canAbort(m.value.phase)
      if (err instanceof MoveFailure && abortable && m.value.phase !== 'aborting') {
        m = await commit(env, m, {phase: 'aborting', reason: err.message})
        emitPhase(env, m.value)
        continue
      }
      tries++
      if (!(err instanceof WaitingForNode)) {
        failures++
        m = await recordAttempt(env, m)
      }
      env.emit({type: 'retry', move: m.value.id, what: m.value.phase, error: errorMessage(err), at: new Date(env.now()).toISOString()})
      if (isTerminalError(err) && abortable && m.value.phase !== 'aborting') {
        // Before cutover the safe way out of a broken invariant is back to the old replicas.
        m = await commit(env, m, {phase: 'aborting', reason: `terminal error in ${m.value.phase}: ${errorMessage(err)}`})
        emitPhase(env, m.value)
        continue
      }
      if (isTerminalError(err) || (m.value.phase === 'aborting' && failures >= MAX_ABORT_ATTEMPTS)) {
        const why = isTerminalError(err) ? `terminal error in ${m.value.phase}` : `abort could not finish after ${failures} attempts`
        m = await commit(env, m, {phase: 'failed', reason: `${why}: ${errorMessage(err)}${m.value.reason ? ` (was: ${m.value.reason})` : ''}; needs an operator`})
        emitPhase(env, m.value)
        continue
      }
      await env.sleep(Math.min(5000, 200 * 2 ** Math.min(tries, 5)))
      if (abortable && m.value.phase !== 'aborting' && failures >= 8) {
        m = await commit(env, m, {phase: 'aborting', reason: `gave up after ${failures} attempts in ${m.value.phase}: ${errorMessage(err)}`})
        emitPhase(env, m.value)
      }
    }
  }
  return m
}

/** recordAttempt counts one failed attempt on the move record (`attempts`); best effort: a failure to record is retried with the step. */
async function recordAttempt(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  try {
    return await commitMoveTransition(env.ctx, env.fence, m, {attempts: m.value.attempts + 1})
  } catch (err) {
    if (err instanceof LockLostError) throw err
    return m
  }
}

function emitPhase(env: ExecutorEnv, m: Move): void {
  env.emit({type: 'phase', move: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, at: new Date(env.now()).toISOString()})
}

async function commit(env: ExecutorEnv, m: FencedMove, t: Transition, shardRev?: bigint): Promise<FencedMove> {
  const patch = transitionPatch(t, new Date(env.now()))
  return commitMoveTransition(env.ctx, env.fence, m, patch, t.shard && shardRev !== undefined ? {value: t.shard, expected: shardRev} : undefined)
}

/**
 * commitAfterDrop commits `t`, first dropping the copy `t.dropFirst` names (required: a
 * failure or a node that is down throws, and the step is retried). `shard` is the shard as
 * read for the step: the drop is fenced on its epoch.
 */
async function commitAfterDrop(env: ExecutorEnv, m: FencedMove, t: Transition, shard: Typed<Shard> | undefined): Promise<FencedMove> {
  if (t.dropFirst && shard) await dropRequired(env, m.value, t.dropFirst, shard.value)
  return commit(env, m, t, shard?.modRevision)
}

async function mustReadShard(env: ExecutorEnv, id: number) {
  const s = await readShard(env.ctx, id)
  if (!s) throw new MoveFailure(`shard ${id} disappeared`)
  return s
}

async function step(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  const move = m.value
  if (move.cancelRequested && canAbort(move.phase) && move.phase !== 'aborting') {
    return commit(env, m, {phase: 'aborting', reason: 'cancelled by operator'})
  }
  if (move.rollbackRequested && ROLLBACK_PHASES.has(move.phase)) {
    const shard = await mustReadShard(env, move.shard)
    return commit(env, m, beginRollback(move, shard.value), shard.modRevision)
  }
  switch (move.phase) {
    case 'pending': {
      if (await holdForControl(env)) return m
      const shard = await readShard(env.ctx, move.shard)
      const nodes = await env.ctx.store.list(env.ctx.keys.nodesPrefix)
      const ids = new Set(nodes.items.map((n) => n.key.slice(n.key.lastIndexOf('/') + 1)))
      return commit(env, m, checkMove(move, shard?.value, (id) => ids.has(id)))
    }
    case 'checked': {
      if (await holdForControl(env)) return m
      // Re-validate on every (re)start: the shard may have changed while no executor ran.
      const shard = await readShard(env.ctx, move.shard)
      const nodes = await env.ctx.store.list(env.ctx.keys.nodesPrefix)
      const ids = new Set(nodes.items.map((n) => n.key.slice(n.key.lastIndexOf('/') + 1)))
      const still = checkMove(move, shard?.value, (id) => ids.has(id))
      if (still.phase !== 'checked' || !shard) return commit(env, m, {phase: 'skipped', reason: `no longer valid when resumed: ${still.reason ?? 'shard gone'}`})
      await ensureDestinationAlive(env, move.to)
      return commitAfterDrop(env, m, beginJoining(move, shard.value), shard)
    }
    case 'joining': {
      const shard = await mustReadShard(env, move.shard)
      await awaitBarrier(env, shard.value, shard.modRevision, writeReplicas(shard.value))
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'copying', copyStartedAt: move.copyStartedAt ?? env.now()})
    }
    case 'copying':
      return copyShard(env, m)
    case 'verifying': {
      await verify(env, move)
      const shard = await mustReadShard(env, move.shard)
      return commit(env, m, beginCutover(move, shard.value), shard.modRevision)
    }
    case 'cutover': {
      const shard = await mustReadShard(env, move.shard)
      await awaitBarrier(env, shard.value, shard.modRevision, writeReplicas(shard.value))
      return commit(env, m, beginRelease(move, shard.value), shard.modRevision)
    }
    case 'release': {
      const shard = await mustReadShard(env, move.shard)
      await awaitBarrier(env, shard.value, shard.modRevision, [...readReplicas(shard.value), move.from])
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'draining'})
    }
    case 'draining': {
      await drainSource(env, move)
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'cleanup'})
    }
    case 'cleanup': {
      const shard = await mustReadShard(env, move.shard)
      await dropCopy(env, move.from, move.shard, shard.value)
      return commit(env, m, finishCleanup(move, shard.value), shard.modRevision)
    }
    case 'aborting': {
      // Two steps: the destination leaves the shard (writes resume on the old set), then
      // its partial copy is dropped; only then is the move terminal (retried until done).
      const shard = await readShard(env.ctx, move.shard)
      return commitAfterDrop(env, m, abortMove(move, shard?.value, move.reason ?? 'aborted'), shard)
    }
    case 'rb-joining': {
      // The source re-joined the write set; once every router writes to it, catch it up
      // from the destination (only differing digest buckets travel), then flip reads back.
      const shard = await mustReadShard(env, move.shard)
      await awaitBarrier(env, shard.value, shard.modRevision, writeReplicas(shard.value))
      await catchUpSource(env, move, shard.value.epoch)
      const fresh = await mustReadShard(env, move.shard)
      return commit(env, m, rollbackCutover(move, fresh.value), fresh.modRevision)
    }
    case 'rb-cutover': {
      const shard = await mustReadShard(env, move.shard)
      const t = finishRollback(move, shard.value)
      if (t.shard) await awaitBarrier(env, shard.value, shard.modRevision, writeReplicas(shard.value))
      return commitAfterDrop(env, m, t, shard)
    }
    default:
      return m
  }
}

/** catchUpSource repairs the source from the destination by digest buckets until they agree (bounded rounds). */
async function catchUpSource(env: ExecutorEnv, move: Move, epoch: number): Promise<void> {
  const [src, dst] = await Promise.all([env.client(move.from), env.client(move.to)])
  const since = Date.parse(move.cutoverAt ?? '') || env.now()
  for (let round = 0; round < env.options.verifyRounds; round++) {
    const res = await syncReplicas(dst, src, move.shard, epoch, since)
    if (res.equal || (round === env.options.verifyRounds - 1 && res.olderThan === 0)) return
  }
  throw new UserError('PRECONDITION', `source ${move.from} of shard ${move.shard} still differs from ${move.to} after ${env.options.verifyRounds} repair rounds`, 'the executor retries the rollback')
}

/** holdForControl waits while the executor is paused or outside its window; true when it waited (re-evaluate). */
async function holdForControl(env: ExecutorEnv): Promise<boolean> {
  if (!env.control.paused && env.control.inWindow()) return false
  await env.sleep(250)
  return true
}

/**
 * ensureDestinationAlive refuses to join a destination that is down. Nothing has changed
 * yet, so this is retried (the node may be restarting); repeated failure aborts the move.
 */
async function ensureDestinationAlive(env: ExecutorEnv, node: string): Promise<void> {
  const alive = await listAlive(env.ctx)
  if (!alive.has(node)) throw new UserError('PRECONDITION', `destination node "${node}" is not up (no alive/${node} lease)`, 'the move waits for it, then gives up')
}

/**
 * withNodeRetry runs `fn` against a node, retrying while it is unreachable or not serving
 * for up to nodeRetryMs; then `onGiveUp` decides (fail the move or fall back).
 */
async function withNodeRetry<T>(env: ExecutorEnv, what: string, fn: () => Promise<T>, onGiveUp: (err: unknown) => never | Promise<T>, retryMs = env.options.nodeRetryMs): Promise<T> {
  const deadline = env.now() + retryMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (!isNodeRequestError(err) || !err.retriable) throw err
      if (env.now() > deadline || env.stopped()) return onGiveUp(err)
      await env.sleep(200)
    }
  }
}

/** nodeRetryFor is how long the move tolerates an unreachable node: short at rf 1 (writes wait on both copies), longer otherwise. */
async function nodeRetryFor(env: ExecutorEnv, move: Move): Promise<number> {
  const shard = await mustReadShard(env, move.shard)
  return readReplicas(shard.value).length <= 1 ? env.options.nodeRetryMs : env.options.nodeRetryReplicatedMs
}

async function verify(env: ExecutorEnv, move: Move): Promise<void> {
  const dst = await env.client(move.to)
  const alive = await listAlive(env.ctx)
  const shard = await mustReadShard(env, move.shard)
  const retryMs = await nodeRetryFor(env, move)
  const peers = alive.has(move.from) ? [move.from] : readReplicas(shard.value).filter((n) => n !== move.from && n !== move.to && alive.has(n))
  for (const peer of peers) {
    const src = await env.client(peer)
    let ok = false
    for (let round = 0; round < env.options.verifyRounds && !ok; round++) {
      const res = await withNodeRetry(
        env,
        `verify against ${peer}`,
        () => syncReplicas(src, dst, move.shard, move.epoch, move.copyStartedAt ?? 0),
        (err) => {
          throw new MoveFailure(`verification against ${peer} failed: ${errorMessage(err)}`)
        },
        retryMs,
      )
      ok = res.equal || (round === env.options.verifyRounds - 1 && res.olderThan === 0)
    }
    if (!ok) throw new UserError('PRECONDITION', `replicas of shard ${move.shard} on ${peer} and ${move.to} still differ after ${env.options.verifyRounds} repair rounds`, 'the executor retries verification')
  }
}

async function drainSource(env: ExecutorEnv, move: Move): Promise<void> {
  const alive = await listAlive(env.ctx)
  if (alive.has(move.from)) {
    const src = await env.client(move.from)
    const deadline = env.now() + env.options.drainTimeoutMs
    for (;;) {
      const inflight = await src.inflight(move.shard).then(
        (r) => r.inflight,
        () => 0, // a source that stopped answering has nothing in flight for us to wait on
      )
      if (inflight === 0) break
      if (env.now() > deadline) {
        env.emit({type: 'info', message: `move ${move.id}: ${inflight} request(s) still in flight on ${move.from} at the drain deadline; continuing`, at: new Date(env.now()).toISOString()})
        break
      }
      await env.sleep(100)
    }
  }
  // The cleanup grace is the rollback window: wake every half second to see a rollback request.
  const graceEnd = env.now() + env.options.cleanupGraceMs
  while (env.now() < graceEnd && !env.stopped()) {
    if ((await getMove(env.ctx, move.id)).value.rollbackRequested) return
    await env.sleep(Math.min(500, graceEnd - env.now()))
  }
}

async function dropCopy(env: ExecutorEnv, node: string, shardId: number, shard: Shard): Promise<void> {
  const alive = await listAlive(env.ctx)
  if (!alive.has(node)) {
    env.emit({type: 'info', message: `node ${node} is down: its copy of shard ${shardId} stays on disk until dropped`, at: new Date(env.now()).toISOString()})
    return
  }
  const client = await env.client(node)
  await client.drop(shardId, shard.epoch, shard.range)
}

/**
 * dropRequired makes `node` drop its copy of `shard`'s range, fenced on the shard's epoch
 * (the node refuses while it holds a role overlapping the range). A node that is no longer
 * registered has nothing to drop. A node that is down cannot confirm the drop: this throws
 * (the caller retries, across executor restarts, until the node is back).
 */
async function dropRequired(env: ExecutorEnv, move: Move, node: string, shard: Shard): Promise<void> {
  if (!(await env.ctx.store.get(env.ctx.keys.node(node)))) {
    env.emit({type: 'info', message: `move ${move.id}: node ${node} is no longer registered; nothing to drop`, at: new Date(env.now()).toISOString()})
    return
  }
  const alive = await listAlive(env.ctx)
  if (!alive.has(node)) {
    throw new WaitingForNode('PRECONDITION', `node ${node} is down: its copy of shard ${shard.id}'s range must be dropped before move ${move.id} can go on`, `restart ${node} (the executor waits for it), or \`shardctl node remove ${node}\` if it is gone for good`)
  }
  const res = await (await env.client(node)).drop(shard.id, shard.epoch, shard.range)
  if (res.deleted > 0) env.emit({type: 'info', message: `move ${move.id}: dropped ${res.deleted} record(s) of shard ${shard.id}'s range on ${node}`, at: new Date(env.now()).toISOString()})
}
