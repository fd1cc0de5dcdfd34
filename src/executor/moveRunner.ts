import {listAlive} from '../cluster/clusterRepo.js'
import {isUserError, UserError, errorMessage} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {isTerminal} from '../model/move.js'
import {readReplicas, type Shard, writeReplicas} from '../model/shard.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {awaitBarrier} from './barrier.js'
import {CopyMeter, stallThreshold, throttleShare} from './copyProgress.js'
import {type ExecutorEnv} from './executorEnv.js'
import {abortMove, beginCutover, beginJoining, beginRelease, beginRollback, canAbort, checkMove, finishCleanup, finishRollback, ROLLBACK_PHASES, rollbackCutover, type Transition} from './moveMachine.js'
import {commitMoveTransition, type FencedMove, getMove, LockLostError, readShard, transitionPatch} from './moveStore.js'
import {syncReplicas} from './replicaSync.js'
import {reserveAll} from './tokenBucket.js'

/** PROGRESS_INTERVAL_MS: progress goes to etcd at most this often per move. */
const PROGRESS_INTERVAL_MS = 250

/** MoveFailure aborts a move that has not cut over (terminal for this attempt), with a reason for the operator. */
class MoveFailure extends Error {}

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
  while (!isTerminal(m.value.phase) && !env.stopped()) {
    try {
      const before = m.value.phase
      m = await step(env, m)
      if (m.value.phase !== before) {
        failures = 0
        emitPhase(env, m.value)
      }
    } catch (err) {
      if (err instanceof LockLostError) throw err
      if (isUserError(err, 'CONFLICT')) {
        m = await getMove(env.ctx, m.value.id) // cancel requested, or our own write raced: decide again
        continue
      }
      const abortable = canAbort(m.value.phase)
      if (err instanceof MoveFailure && abortable) {
        m = await commit(env, m, {phase: 'aborting', reason: err.message})
        emitPhase(env, m.value)
        continue
      }
      failures++
      env.emit({type: 'retry', move: m.value.id, what: m.value.phase, error: errorMessage(err), at: new Date(env.now()).toISOString()})
      await env.sleep(Math.min(5000, 200 * 2 ** Math.min(failures, 5)))
      if (abortable && failures >= 8) {
        m = await commit(env, m, {phase: 'aborting', reason: `gave up after ${failures} attempts in ${m.value.phase}: ${errorMessage(err)}`})
        emitPhase(env, m.value)
      }
    }
  }
  return m
}

function emitPhase(env: ExecutorEnv, m: Move): void {
  env.emit({type: 'phase', move: m.id, shard: m.shard, from: m.from, to: m.to, phase: m.phase, reason: m.reason, at: new Date(env.now()).toISOString()})
}

async function commit(env: ExecutorEnv, m: FencedMove, t: Transition, shardRev?: bigint): Promise<FencedMove> {
  const patch = transitionPatch(t, new Date(env.now()))
  return commitMoveTransition(env.ctx, env.fence, m, patch, t.shard && shardRev !== undefined ? {value: t.shard, expected: shardRev} : undefined)
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
      const shard = await mustReadShard(env, move.shard)
      await ensureDestinationAlive(env, move.to)
      return commit(env, m, beginJoining(move, shard.value), shard.modRevision)
    }
    case 'joining': {
      const shard = await mustReadShard(env, move.shard)
      await awaitBarrier(env, shard.value, shard.modRevision, writeReplicas(shard.value))
      return commitMoveTransition(env.ctx, env.fence, m, {phase: 'copying', copyStartedAt: move.copyStartedAt ?? env.now()})
    }
    case 'copying':
      return copy(env, m)
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
      const shard = await readShard(env.ctx, move.shard)
      const t = abortMove(move, shard?.value, move.reason ?? 'aborted')
      const next = await commit(env, m, t, shard?.modRevision)
      // Best effort: the destination's partial copy is garbage now. If this fails the node
      // keeps unowned data until an operator drops it; nothing reads it.
      if (t.shard) await dropCopy(env, move.to, move.shard, t.shard).catch(() => {})
      return next
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
      await awaitBarrier(env, shard.value, shard.modRevision, writeReplicas(shard.value))
      const t = finishRollback(move, shard.value)
      const next = await commit(env, m, t, shard.modRevision)
      if (t.shard) await dropCopy(env, move.to, move.shard, t.shard).catch(() => {})
      return next
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

async function copy(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  const move = m.value
  const dst = await env.client(move.to)
  const sources = await copySources(env, move)
  const retryMs = await nodeRetryFor(env, move)
  const meter = new CopyMeter(env.now())
  let {bytes, keys, cursor} = move.progress
  let lastSave = env.now()
  let current = m
  let sourceIndex = 0
  for (;;) {
    if (env.stopped()) return current
    if (current.value.cancelRequested) return commit(env, current, {phase: 'aborting', reason: 'cancelled by operator'})
    while (env.control.paused || !env.control.inWindow()) {
      if (env.stopped()) return current
      await env.sleep(250)
    }
    const source = sources[sourceIndex]!
    const src = await env.client(source)
    const chunk = await withNodeRetry(
      env,
      `snapshot from ${source}`,
      () => src.snapshotChunk(move.shard, move.epoch, {cursor: cursor ?? undefined, maxBytes: env.options.chunkBytes}),
      (err) => {
        throw new MoveFailure(`source ${source} unreachable while copying: ${errorMessage(err)}`)
      },
      retryMs,
    )
    const wait = reserveAll([env.throttles.global, env.throttles.node(source), env.throttles.node(move.to)], chunk.bytes)
    if (wait > 0) await env.sleep(wait)
    if (chunk.records.length > 0) {
      await withNodeRetry(
        env,
        `apply to ${move.to}`,
        () => dst.apply(move.shard, move.epoch, chunk.records, 'copy'),
        (err) => {
          throw new MoveFailure(`destination ${move.to} unreachable while copying: ${errorMessage(err)}`)
        },
        retryMs,
      )
    }
    bytes += chunk.bytes
    keys += chunk.records.length
    cursor = chunk.cursor ?? null
    meter.record(env.now(), chunk.bytes)
    const finished = chunk.cursor === undefined
    if (finished && sourceIndex + 1 < sources.length) {
      // Copying from the other replicas of the old set (source down): take each one whole.
      sourceIndex++
      cursor = null
      continue
    }
    const progress = {...current.value.progress, bytes, keys, cursor, rateBytesPerSec: Math.round(meter.rate(env.now())), stalled: meter.stalled(env.now(), stallThreshold(shareOf(env, source, move.to)))}
    if (finished) {
      env.emit({type: 'progress', move: move.id, bytes, keys, totalBytes: progress.totalBytes, rateBytesPerSec: progress.rateBytesPerSec, stalled: false, at: new Date(env.now()).toISOString()})
      return commitMoveTransition(env.ctx, env.fence, current, {phase: 'verifying', progress: {...progress, stalled: false}})
    }
    if (env.now() - lastSave >= PROGRESS_INTERVAL_MS) {
      current = await commitMoveTransition(env.ctx, env.fence, current, {progress})
      lastSave = env.now()
      env.emit({type: 'progress', move: move.id, bytes, keys, totalBytes: progress.totalBytes, rateBytesPerSec: progress.rateBytesPerSec, stalled: progress.stalled, at: new Date(env.now()).toISOString()})
    }
  }
}

/** shareOf is the copy rate one move from `source` to `destination` can expect under the live throttles. */
function shareOf(env: ExecutorEnv, source: string, destination: string): number | null {
  const t = env.throttles
  return throttleShare({global: t.global.currentRate(), running: env.runningMoves?.() ?? 1, source: t.node(source).currentRate(), destination: t.node(destination).currentRate()})
}

/** nodeRetryFor is how long the move tolerates an unreachable node: short at rf 1 (writes wait on both copies), longer otherwise. */
async function nodeRetryFor(env: ExecutorEnv, move: Move): Promise<number> {
  const shard = await mustReadShard(env, move.shard)
  return readReplicas(shard.value).length <= 1 ? env.options.nodeRetryMs : env.options.nodeRetryReplicatedMs
}

/**
 * copySources picks where the copy reads from: the move's source when it is up (any write
 * acknowledged before the barrier is on it or on every other old replica); otherwise every
 * other voter of the old set, merged by LWW on the destination.
 */
async function copySources(env: ExecutorEnv, move: Move): Promise<string[]> {
  const alive = await listAlive(env.ctx)
  if (alive.has(move.from)) return [move.from]
  const shard = await mustReadShard(env, move.shard)
  const others = readReplicas(shard.value).filter((n) => n !== move.from && n !== move.to)
  if (others.length === 0) throw new MoveFailure(`source ${move.from} is down and shard ${move.shard} has no other replica to copy from`)
  env.emit({type: 'info', message: `move ${move.id}: source ${move.from} is down; copying from ${others.join(', ')}`, at: new Date(env.now()).toISOString()})
  return others
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
