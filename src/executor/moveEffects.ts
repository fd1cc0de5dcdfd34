import {listAlive} from '../cluster/clusterRepo.js'
import {UserError, errorMessage, isUserError} from '../errors/errors.js'
import {type Move} from '../model/move.js'
import {readReplicas, type Shard} from '../model/shard.js'
import {isNodeRequestError} from '../node/nodeRequestError.js'
import {awaitBarrier} from './barrier.js'
import {type ExecutorEnv} from './executorEnv.js'
import {repairFromKeptCopy} from './keptCopyRepair.js'
import {liveCopySources} from './liveCopySources.js'
import {type FencedMove, getMove} from './moveStore.js'
import {syncReplicas} from './replicaSync.js'
import {MoveFailure, WaitingForNode} from './retryPolicy.js'

/**
 * MoveEffects are the side effects the move machine asks for, injected into the runner so
 * tests can substitute them. Every one is idempotent (a restarted executor runs it again),
 * and throws to report trouble: a retriable UserError, a {@link MoveFailure} to abort the
 * move now, or anything else for a bug (see retryPolicy.ts).
 */
export interface MoveEffects {
  /**
   * barrier returns once every live router applied the map up to `mapRevision` and every live
   * node of `nodes` reports `shard.epoch`; it throws UserError(CONFLICT) once `interrupted`
   * (asked now and then while it waits) names a reason to stop waiting.
   */
  barrier(shard: Shard, mapRevision: bigint, nodes: readonly string[], interrupted?: () => Promise<string | undefined>): Promise<void>
  /** copy copies the move's range to its destination, committing progress and finally `promoting` (or returns early on cancel or stop); returns the move as stored. */
  copy(env: ExecutorEnv, m: FencedMove): Promise<FencedMove>
  /**
   * verify compares digests of the destination and the source (or, when the source is down, the old voters a copy may read from: see liveCopySources) and repairs, bounded rounds.
   * With `refill` (after cutover, the destination restarted since verification: verifiedDirs.ts) it repairs only the destination: from the source, or with the source down from the staying voters liveCopySources allows, else it waits for the source;
   * with `from` too, from exactly those nodes (none: nothing to do), whoever is up (the machine chose them: a source abandoned by the operator, sourceAbandon.ts);
   * with `withoutSource`, never from the source, even if it is up when the refill runs (its copy may be dropped: moveMachine.ts recheck).
   */
  verify(move: Move, shard: Shard, opts?: {refill?: boolean; from?: readonly string[]; withoutSource?: boolean}): Promise<void>
  /** drain waits for the source's in-flight requests (bounded), then the cleanup grace, returning early on a rollback request. */
  drain(move: Move): Promise<void>
  /** drop makes `node` drop its copy of `shard`'s range, fenced on the shard's epoch; returns the records deleted. */
  drop(node: string, shard: Shard): Promise<number>
  /** catchUp repairs the source from the destination until they agree (rollback after release). */
  catchUp(move: Move, epoch: number): Promise<void>
  /**
   * repairFromCopy repairs `voters` from the copy the move's destination keeps outside the shard's map with the source
   * down (keptCopyRepair.ts); returns the records repaired. Absent (a test's effects): the runner uses repairFromKeptCopy through its env.
   */
  repairFromCopy?(move: Move, shard: Shard, voters: readonly string[]): Promise<number>
}

/** nodeMoveEffects performs the effects on real nodes through `env`; `copy` is the copy path (kept apart: it is being replaced). */
export function nodeMoveEffects(env: ExecutorEnv, copy: MoveEffects['copy']): MoveEffects {
  return {
    barrier: (shard, mapRevision, nodes, interrupted) => awaitBarrier(env, shard, mapRevision, nodes, interrupted),
    copy,
    verify: (move, shard, opts) => (opts?.refill ? refill(env, move, shard, opts.from, opts.withoutSource) : verify(env, move, shard)),
    drain: (move) => drainSource(env, move),
    async drop(node, shard) {
      return (await (await env.client(node)).drop(shard.id, shard.epoch, shard.range)).deleted
    },
    catchUp: (move, epoch) => catchUpSource(env, move, epoch),
    repairFromCopy: (move, shard, voters) => repairFromKeptCopy(env, move, shard, voters),
  }
}

/**
 * withNodeRetry runs `fn` against a node, retrying while it is unreachable or not serving
 * for up to `retryMs`; then `onGiveUp` decides (fail the move or fall back).
 */
export async function withNodeRetry<T>(env: ExecutorEnv, fn: () => Promise<T>, onGiveUp: (err: unknown) => never | Promise<T>, retryMs = env.options.nodeRetryMs): Promise<T> {
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

/**
 * nodeRetryMs is how long a move to `destination` tolerates an unreachable node of `shard`:
 * short at rf 1 once the destination's answer counts (joining or later: every write then
 * waits on both copies, so a dead node blocks writes), the longer replicated window
 * otherwise. While the destination learns (the whole copy) writes are acknowledged by the
 * source alone and never wait for it, so a node restart is ridden out as at rf ≥ 2.
 */
export function nodeRetryMs(options: ExecutorEnv['options'], shard: Shard, destination: string): number {
  const role = shard.replicas.find((r) => r.node === destination)?.role
  const awaited = role !== undefined && role !== 'learning'
  return readReplicas(shard).length <= 1 && awaited ? options.nodeRetryMs : options.nodeRetryReplicatedMs
}

async function verify(env: ExecutorEnv, move: Move, shard: Shard): Promise<void> {
  const dst = await env.client(move.to)
  const retryMs = nodeRetryMs(env.options, shard, move.to)
  // The same replicas a copy may read from: never none, never fewer than a write quorum
  // could have left out (see liveCopySources), since verification carries over what the
  // learning destination missed.
  const peers = await liveCopySources(env, move, 'verifying')
  for (const peer of peers) {
    const src = await env.client(peer)
    let ok = false
    for (let round = 0; round < env.options.verifyRounds && !ok; round++) {
      const res = await withNodeRetry(
        env,
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

/**
 * refill copies into a cut-over destination what the source has and it lacks, until a round
 * finds it lacks nothing (bounded rounds). One way: what only the destination holds (written
 * since) is not the others' to have, and LWW on the destination keeps the newest version.
 * From the source when it is up (the one copy the move is about to drop). When it is down (a
 * heal of a dead node, or a source that died after cutover), from the staying voters under
 * the rule verification compared the destination with (liveCopySources: enough of them that
 * no write quorum fits outside), which hold every write acknowledged before cutover and since;
 * only when that rule allows none (w = 1, rf 1) is the source waited for (WaitingForNode).
 * Waiting for it alone kept a heal whose destination merely restarted after cutover waiting
 * for a dead node for ever, in `cleanup` with no rollback or cancel accepted
 * (test/executor/refillSourceDown.memoryStore.test.ts).
 */
async function refill(env: ExecutorEnv, move: Move, shard: Shard, from?: readonly string[], withoutSource = false): Promise<void> {
  const peers = from ?? (await refillSources(env, move, shard, withoutSource))
  const dst = await env.client(move.to)
  // What is "fresh" on the last round: written since the cutover (as catchUpSource counts), so
  // reaching the destination by the writes themselves (in `cutover` the outgoing source is still
  // written by the joint quorum, the destination with it; from `release` on the staying voters and
  // the destination are the write set). Under sustained writes a round almost always repairs a few
  // writes in flight, so without verification's tolerance for them on the last round (verify above,
  // catchUpSource) no round was ever "equal" and the refill was retried for ever. Counted from the
  // cutover, not from the refill's start: a version's time is the writer's (a router's) clock, the
  // start the executor's, so with the routers' clocks behind by more than the rounds take every
  // write in flight counted as older and the refill was retried for ever all the same. What the
  // last round repaired it applied; a round that repaired anything older than the cutover is still
  // not enough.
  const since = Date.parse(move.cutoverAt ?? '') || env.now()
  for (const peer of peers) {
    const src = await env.client(peer)
    let ok = false
    for (let round = 0; round < env.options.verifyRounds && !ok; round++) {
      const res = await syncReplicas(src, dst, move.shard, shard.epoch, since, undefined, {into: 'b'})
      // The last round repaired every bucket that differed in all its looks: when all it repaired
      // was fresh, the destination lacks nothing older (what it repaired is applied).
      ok = res.equal || (round === env.options.verifyRounds - 1 && res.olderThan === 0)
    }
    if (!ok) throw new UserError('PRECONDITION', `node ${move.to} still lacks records of shard ${move.shard} that ${peer} holds after ${env.options.verifyRounds} repair rounds`, 'the executor retries the refill')
  }
}

/**
 * refillSources: the source when up, else the staying voters liveCopySources allows; a wait it asks for is a wait for a node (not a counted failure).
 * `withoutSource`: never the source, up or not (the machine decided the refill with it down, after its drop was recorded: read alone, a copy it
 * dropped would pass for whole).
 */
async function refillSources(env: ExecutorEnv, move: Move, shard: Shard, withoutSource = false): Promise<string[]> {
  const alive = await listAlive(env.ctx)
  // With the source up, the staying voters up too: from `release` on the source takes no writes, so a write acknowledged since
  // by the destination and staying voters is on them, not on it. Read alone, the source left a destination restarted on an empty
  // dir a voter without that write (a stale read at a quorum of it and a voter the write missed; lost should that voter die).
  if (!withoutSource && alive.has(move.from)) return [move.from, ...readReplicas(shard).filter((n) => n !== move.from && n !== move.to && alive.has(n))]
  try {
    return await liveCopySources(env, move, 'refilling', {withoutSource})
  } catch (err) {
    if (!isUserError(err, 'PRECONDITION')) throw err
    // Abandoned already: what the move waits for is a staying voter that is down (moveMachine.ts refillWithoutSource), not the source.
    // Its way out, for voters gone for good, is `moves abandon-voters` (session 41: before, nothing ended this wait).
    if (move.abandonSourceRequested !== undefined) {
      const down = readReplicas(shard).filter((n) => n !== move.from && n !== move.to && !alive.has(n)).sort()
      throw new WaitingForNode('NODE_UNREACHABLE', abandonedSourceVotersWaitMessage(move, down, errorMessage(err)), `restart the staying voters that are down (\`shardctl node list\`); the move waits for them`)
    }
    throw new WaitingForNode(
      'NODE_UNREACHABLE',
      `node ${move.to} restarted under another data dir or process since move ${move.id} verified it, and no copy it could be refilled from is up: ${errorMessage(err)}; if ${move.from} is gone for good, \`shardctl moves abandon-source ${move.id} --accept-data-loss\` ends the wait (what only its copy holds is lost)`,
      `restart node ${move.from}; the move waits for it`,
    )
  }
}

async function drainSource(env: ExecutorEnv, move: Move): Promise<void> {
  const alive = await listAlive(env.ctx)
  if (alive.has(move.from)) await awaitIdleSource(env, move)
  // The cleanup grace is the rollback window: wake every half second to see a rollback request.
  const graceEnd = env.now() + env.options.cleanupGraceMs
  while (env.now() < graceEnd && !env.stopped()) {
    if ((await getMove(env.ctx, move.id)).value.rollbackRequested) return
    await env.sleep(Math.min(500, graceEnd - env.now()))
  }
}

/** awaitIdleSource waits until the source reports nothing in flight for the shard, or the drain deadline passes. */
async function awaitIdleSource(env: ExecutorEnv, move: Move): Promise<void> {
  const src = await env.client(move.from)
  const deadline = env.now() + env.options.drainTimeoutMs
  for (;;) {
    const inflight = await src.inflight(move.shard).then(
      (r) => r.inflight,
      () => 0, // a source that stopped answering has nothing in flight for us to wait on
    )
    // Stopped: out after one look (a stopped executor's sleep returns at once, so this polled the source in a tight loop
    // until the deadline). The runner commits nothing after a stop; the next executor drains again.
    if (inflight === 0 || env.stopped()) return
    if (env.now() > deadline) {
      env.emit({type: 'info', message: `move ${move.id}: ${inflight} request(s) still in flight on ${move.from} at the drain deadline; continuing`, at: new Date(env.now()).toISOString()})
      return
    }
    await env.sleep(100)
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

/**
 * abandonedSourceVotersWaitMessage says what a refill without an abandoned source waits for (the staying voters `down`,
 * which may hold a write acknowledged with the source alone: `why`) and the two ways it ends, the second
 * `moves abandon-voters` (votersAbandon.ts; moveMachine.ts refillWithoutSource honours it).
 */
export function abandonedSourceVotersWaitMessage(move: Pick<Move, 'id' | 'from' | 'to'>, down: readonly string[], why: string): string {
  const who = down.length > 0 ? down.join(', ') : 'a staying voter'
  return `node ${move.to} restarted under another data dir or process since move ${move.id} verified it, and its source ${move.from} is abandoned, but ${who} (down) too: a write acknowledged by ${move.from} and ${down.length > 1 ? 'them' : 'it'} may be on ${down.length > 1 ? 'them' : 'it'} alone (${why}); waiting for ${down.length > 1 ? 'them' : 'it'}; start ${down.length > 1 ? 'them' : 'it'}, or if gone for good \`shardctl moves abandon-voters ${move.id} --accept-data-loss\` refills ${move.to} from what is up and records the loss`
}
